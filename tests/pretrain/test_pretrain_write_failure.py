"""``echobench pretrain`` on a full disk (issue 13 item 3): torch's real error from ``torch.save``
("PytorchStreamWriter failed writing file") at a checkpoint is one ``error:`` line naming the file
and the last good checkpoint, which is kept and resumable."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.engine.checkpoint import list_checkpoints

ARGS = ["--preset", "tiny", "--size", "32", "--batch-size", "4", "--gpus", "0", "--steps", "4", "--save-every", "2"]


def test_disk_full_at_a_checkpoint_is_one_line_and_keeps_the_last_good_one(small_clips, tmp_path, monkeypatch):
    real, calls = torch.save, []

    def fills_up(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) > 1:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
                               "data/3: file write failed")
        return real(obj, f, *args, **kwargs)

    out = tmp_path / "out"
    monkeypatch.setattr(torch, "save", fills_up)
    failed = CliRunner().invoke(app, ["pretrain", "echo-videomae", str(small_clips), "--out", str(out), *ARGS])
    monkeypatch.undo()
    assert failed.exit_code == 2, failed.output
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in failed.output, failed.output
    assert errors[0].startswith(f"error: {out / 'checkpoint-00000004' / 'training_state.pt'}: cannot write checkpoint "
                                "(RuntimeError: ")
    assert f"the last good checkpoint is kept: {out / 'checkpoint-00000002'}" in errors[0]
    assert [step for step, _ in list_checkpoints(out)] == [2] and not list(out.glob(".*tmp*"))
    resumed = CliRunner().invoke(app, ["pretrain", "echo-videomae", str(small_clips), "--out", str(out), "--resume",
                                       *ARGS])
    assert resumed.exit_code == 0, resumed.output
    assert [step for step, _ in list_checkpoints(out)] == [2, 4]
