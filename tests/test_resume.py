"""Crash-safe runs: a run killed with SIGKILL mid-epoch, or stopped by a signal request, and then
resumed, ends with the same TEST metrics as an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import torch

import echobench.engine.devices
from echobench.engine.loop import Interrupted
from echobench.engine.run_state import CHECKPOINTS, STATUS, latest
from echobench.runner import RunConfig, run_experiment

EPOCHS = 2


def _cfg(data, where, **kw) -> RunConfig:
    return RunConfig(backbone="echo-videomae", head="maxpool", task="ef", data=data, epochs=EPOCHS, batch_size=4,
                     gpus=0, n_boot=0, results=where / "lb", runs=where / "runs", **kw)


@pytest.fixture(scope="module")
def uninterrupted(synth_small, tmp_path_factory):
    return run_experiment(_cfg(synth_small, tmp_path_factory.mktemp("plain")))


def _same(a, b) -> None:
    for split in ("VAL", "TEST"):
        assert b.metrics[split] == pytest.approx(a.metrics[split], rel=1e-5, abs=1e-6, nan_ok=True)
    assert b.best_epoch == a.best_epoch


def test_sigkill_mid_run_then_resume_matches(uninterrupted, synth_small, tmp_path):
    cmd = [sys.executable, "-m", "echobench", "run", "--backbone", "echo-videomae", "--head", "maxpool",
           "--task", "ef", "--data", str(synth_small), "--epochs", str(EPOCHS), "--batch-size", "4", "--gpus", "0",
           "--n-boot", "0", "--results", str(tmp_path / "lb"), "--runs", str(tmp_path / "runs")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    deadline = time.monotonic() + 240
    run_dir = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = [d for d in (tmp_path / "runs").glob("*") if latest(d) is not None]
        if found:
            run_dir = found[0]
            break
        time.sleep(0.05)
    assert run_dir is not None, proc.stderr.read().decode() if proc.poll() is not None else "no checkpoint in time"
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    assert not (run_dir / STATUS).exists() and not list((tmp_path / "lb").glob("records/*.parquet"))
    resumed = run_experiment(_cfg(synth_small, tmp_path, resume=True))
    assert resumed.resumed and resumed.run_dir == run_dir
    _same(uninterrupted, resumed)
    assert (run_dir / STATUS).is_file() and not (run_dir / CHECKPOINTS).exists()
    assert len(list((tmp_path / "lb" / "records").glob("*.parquet"))) == 1


def test_stop_request_saves_mid_epoch_and_resume_matches(uninterrupted, synth_small, tmp_path):
    polls = []

    def stop() -> bool:  # what SIGINT/SIGTERM set: ask to stop at the 10th poll (mid epoch 2)
        polls.append(1)
        return len(polls) == 10

    with pytest.raises(Interrupted, match="step"):
        run_experiment(_cfg(synth_small, tmp_path), stop=stop)
    (run_dir,) = (tmp_path / "runs").iterdir()
    state = json.loads((latest(run_dir) / "state.json").read_text())["meta"]
    assert state["step"] > 0  # saved mid-epoch, not at an epoch boundary
    resumed = run_experiment(_cfg(synth_small, tmp_path, resume=True))
    assert resumed.run_dir == run_dir
    _same(uninterrupted, resumed)


def _fp16_fabric(**_):
    """fp16 autocast with a loss scaler on the CPU (what ``--precision 16-mixed`` is on a GPU)."""
    from lightning.fabric import Fabric
    from lightning.fabric.plugins.precision import MixedPrecision

    return Fabric(accelerator="cpu", devices=1, plugins=[MixedPrecision(precision="16-mixed", device="cpu",
                                                                        scaler=torch.amp.GradScaler("cpu"))])


def test_fp16_loss_scale_is_checkpointed_and_resume_matches(synth_small, tmp_path, monkeypatch):
    monkeypatch.setattr(echobench.engine.devices, "make_fabric", _fp16_fabric)
    whole = run_experiment(_cfg(synth_small, tmp_path / "whole"))
    polls = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) == 10

    with pytest.raises(Interrupted, match="step"):
        run_experiment(_cfg(synth_small, tmp_path / "cut"), stop=stop)
    (run_dir,) = (tmp_path / "cut" / "runs").iterdir()
    scaler = json.loads((latest(run_dir) / "state.json").read_text())["meta"]["grad_scaler"]
    assert scaler["scale"] != torch.amp.GradScaler("cpu").get_scale()  # it moved from its initial value
    resumed = run_experiment(_cfg(synth_small, tmp_path / "cut", resume=True))
    assert resumed.run_dir == run_dir
    _same(whole, resumed)


def test_resume_without_unfinished_run_starts_new(synth_small, tmp_path):
    messages = []
    cfg = _cfg(synth_small, tmp_path, resume=True)
    cfg = RunConfig(**{**cfg.__dict__, "epochs": 1})
    result = run_experiment(cfg, log=messages.append)
    assert not result.resumed and any("no unfinished run" in m for m in messages)
    assert run_experiment(cfg, log=messages.append) is None  # already complete: not rerun
    assert "already completed this configuration" in messages[-1]
    other = tmp_path / "other"  # other data (another dataset hash) is another configuration
    shutil.copytree(synth_small, other)
    (other / "FileList.csv").write_text((other / "FileList.csv").read_text().replace("TEST", "VAL", 1))
    assert run_experiment(RunConfig(**{**cfg.__dict__, "data": other}), log=messages.append) is not None
