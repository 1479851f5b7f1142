"""``run --resume`` and ``pretrain --resume`` on an unusable checkpoint (issue 13 item 6): a note
naming the checkpoint and what is wrong with it, the checkpoint set aside (kept for inspection), and
a fresh start that completes, instead of a KeyError traceback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.engine.loop import Interrupted
from echobench.engine.run_state import STATUS, latest
from echobench.runner import RunConfig, run_experiment

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py


def test_run_resume_on_a_checkpoint_missing_keys_starts_afresh(synth_tiny, tmp_path):
    cfg = RunConfig(backbone="echo-videomae", head="maxpool", task="ef", data=synth_tiny, epochs=1, batch_size=4,
                    gpus=0, n_boot=0, results=tmp_path / "lb", runs=tmp_path / "runs")
    with pytest.raises(Interrupted):
        run_experiment(cfg, stop=lambda: True)  # saves a checkpoint after the first step
    (run_dir,) = (tmp_path / "runs").iterdir()
    folder = latest(run_dir)
    state = json.loads((folder / "state.json").read_text())
    del state["meta"]["epoch"], state["meta"]["train_loss"]
    (folder / "state.json").write_text(json.dumps(state))
    result = CliRunner().invoke(app, ["run", "--backbone", "echo-videomae", "--head", "maxpool", "--data",
                                      str(synth_tiny), "--epochs", "1", "--batch-size", "4", "--gpus", "0",
                                      "--n-boot", "0", "--results", str(tmp_path / "lb"), "--runs",
                                      str(tmp_path / "runs"), "--resume"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "KeyError" not in result.output
    note = " ".join(result.stderr.split())  # the console may wrap the note
    aside = run_dir / f"unusable-{folder.name}"
    assert f"unusable checkpoint: {folder / 'state.json'}: 'epoch' is missing; moved to {aside}" in note
    assert "starting this run afresh from epoch 1" in note
    assert aside.is_dir() and (run_dir / STATUS).is_file() and len(list((tmp_path / "lb" / "records").iterdir())) == 1


def test_pretrain_resume_on_a_broken_optimizer_state_uses_the_checkpoint_before(small_clips, tmp_path):
    import torch

    from echobench.engine.checkpoint import list_checkpoints

    out = tmp_path / "out"
    args = ["pretrain", "echo-videomae", str(small_clips), "--out", str(out), "--preset", "tiny", "--size", "32",
            "--batch-size", "4", "--gpus", "0", "--steps", "3", "--save-every", "1", "--keep", "2"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert [s for s, _ in list_checkpoints(out)] == [2, 3]
    broken = out / "checkpoint-00000003"
    training = torch.load(broken / "training_state.pt", weights_only=True)
    training["optimizer"]["param_groups"] = training["optimizer"]["param_groups"][:1]  # one group lost
    torch.save(training, broken / "training_state.pt")
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    note = " ".join(resumed.stderr.split())
    assert f"unusable checkpoint: {broken / 'training_state.pt'}: optimizer state does not fit" in note
    assert f"moved to {out / 'unusable-checkpoint-00000003'}" in note
    assert f"resuming from {out / 'checkpoint-00000002'} (step 2 of 3)" in note
    assert [s for s, _ in list_checkpoints(out)] == [2, 3] and (out / "unusable-checkpoint-00000003").is_dir()
