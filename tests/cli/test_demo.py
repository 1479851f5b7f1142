"""`echobench demo`, exactly as README runs it: synthesizes a few hundred videos, fine-tunes
echo-videomae (tiny) + maxpool on EF, and the model's TEST MAE beats the constant predictor
(TRAIN-mean EF) on the same split, printed side by side. The slowest test (several minutes)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_beats_constant_predictor(tmp_path):
    # no timeout: on a loaded machine the demo is slow, not wrong (a 1,500 s guard failed at load ~7)
    result = subprocess.run([sys.executable, "-m", "echobench", "demo"], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = " ".join(result.stdout.replace("│", " ").split())
    assert "TEST echo-videomae+maxpool" in out and "TEST constant (TRAIN mean)" in out
    assert "protocol echovisionfm@1" in out and "units: EF points" in out
    (run_dir,) = list((tmp_path / "runs").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    model, constant = metrics["model"]["TEST"]["MAE"], metrics["constant_train_mean"]["TEST"]["MAE"]
    assert model < constant, f"TEST MAE {model:.2f} does not beat the constant predictor {constant:.2f}"
    board = subprocess.run([sys.executable, "-m", "echobench", "leaderboard"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert board.returncode == 0 and "echo-videomae+maxpool" in board.stdout and "split TEST" in board.stdout
