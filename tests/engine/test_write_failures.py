"""``echobench run`` on a full disk (issue 13 item 3): a checkpoint write that fails (safetensors'
real ``SafetensorError``) is one ``error:`` line naming the file and the last good checkpoint, which
is kept, and ``--resume`` finishes the run from it; so does a failed write of the run's outputs
(polars' real ``ComputeError``) after training."""

from __future__ import annotations

import polars as pl
import pytest
import safetensors.torch
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.engine.run_state import STATUS

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py


def test_disk_full_at_a_checkpoint_is_one_line_and_resume_finishes(synth_tiny, tmp_path, monkeypatch):
    from safetensors import SafetensorError

    real, calls = safetensors.torch.save_file, []

    def fills_up(*args, **kwargs):  # the first checkpoint fits, the second one fills the disk
        calls.append(args[1])
        if len(calls) > 1:
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return real(*args, **kwargs)

    args = ["run", "--backbone", "echo-videomae", "--head", "maxpool", "--data", str(synth_tiny), "--epochs", "2",
            "--batch-size", "4", "--gpus", "0", "--n-boot", "0", "--results", str(tmp_path / "lb"),
            "--runs", str(tmp_path / "runs")]
    monkeypatch.setattr(safetensors.torch, "save_file", fills_up)
    failed = CliRunner().invoke(app, args)
    monkeypatch.undo()
    assert failed.exit_code == 2, failed.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in failed.output, failed.output
    kept = run_dir / "checkpoints" / "checkpoint-00000002"  # 8 TRAIN videos, batch 4: 2 steps per epoch
    assert errors[0].startswith(f"error: {run_dir / 'checkpoints' / 'checkpoint-00000004' / 'model.safetensors'}: "
                                "cannot write checkpoint (SafetensorError: ") and "No space left on device" in errors[0]
    assert f"the last good checkpoint is kept: {kept}" in errors[0]
    assert kept.is_dir() and not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]
    # resumed, it trains the last epoch and then cannot write its predictions (polars' real error)
    monkeypatch.setattr(pl.DataFrame, "write_parquet", _polars_disk_full)
    failed = CliRunner().invoke(app, [*args, "--resume"])
    monkeypatch.undo()
    assert failed.exit_code == 2, failed.output
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {run_dir / 'predictions.parquet'}: cannot write (ComputeError: parquet: File out of "
                      "specification: underlying IO error: No space left on device (os error 28)); the run's last "
                      "good checkpoint is kept: rerun the same command with --resume to finish it"], failed.stderr
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")] and not (run_dir / STATUS).exists()
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert f"resuming {run_dir}" in resumed.stderr and (run_dir / STATUS).is_file()
    assert len(list((tmp_path / "lb" / "records").glob("*.parquet"))) == 1


def _polars_disk_full(self, *args, **kwargs):
    raise pl.exceptions.ComputeError("parquet: File out of specification: underlying IO error: No space left on "
                                     "device (os error 28)")
