"""A model whose outputs are not finite stops every evaluation path the same way (evaluate.py's VAL/TEST
check): ``stopped: <what> predictions are not finite`` in the run's log.txt, then one clear error, and
nothing recorded: the beats pass and robustness in a run, and ``echobench robustness RUN_DIR`` afterwards."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from echobench.engine import loop
from echobench.errors import TrainingError
from echobench.runner import RunConfig, run_experiment

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py


def _not_finite_from(monkeypatch, module: str) -> None:
    """The model's clip outputs become NaN when ``predict_clips`` is called from ``module`` (a model
    that diverges on the beat clips or on perturbed input only); every other caller gets the real ones."""
    real = loop.predict_clips

    def patched(*args, **kwargs):
        raw = real(*args, **kwargs)
        return np.full_like(raw, np.nan) if sys._getframe(1).f_globals.get("__name__") == module else raw

    monkeypatch.setattr(loop, "predict_clips", patched)
    from echobench.evaluation import robustness

    monkeypatch.setattr(robustness, "PERTURBATIONS", {"depth": robustness.PERTURBATIONS["depth"]})  # one pass: fast
    monkeypatch.setattr(robustness, "SEVERITIES", (1,))


def _config(data: Path, out: Path, *, robustness: bool) -> RunConfig:
    return RunConfig(backbone="echo-videomae", head="maxpool", task="ef", data=data, epochs=1, batch_size=4, n_boot=0,
                     gpus=0, robustness=robustness, results=out / "leaderboard", runs=out / "runs")


def _log(out: Path) -> str:
    (run_dir,) = (out / "runs").iterdir()
    return (run_dir / "log.txt").read_text()


@pytest.mark.parametrize(("module", "what"), [("echobench.evaluation.beats", "TEST beat"),
                                              ("echobench.evaluation.robustness", "TEST (depth, severity 1)")])
def test_run_stops_on_not_finite_beat_or_perturbed_predictions(synth_tiny, tmp_path, monkeypatch, module, what):
    _not_finite_from(monkeypatch, module)
    with pytest.raises(TrainingError, match=rf"^2 {re.escape(what)} prediction\(s\) are not finite \(diverged"):
        run_experiment(_config(synth_tiny, tmp_path, robustness=True))
    assert f"stopped: {what} predictions are not finite" in _log(tmp_path)
    assert not list((tmp_path / "leaderboard").glob("records/*.parquet"))


def test_robustness_command_stops_on_not_finite_predictions(synth_tiny, tmp_path, monkeypatch):
    from echobench.cli.main import app

    result = run_experiment(_config(synth_tiny, tmp_path, robustness=False))
    _not_finite_from(monkeypatch, "echobench.evaluation.robustness")
    done = CliRunner().invoke(app, ["robustness", str(result.run_dir), "--results", str(tmp_path / "leaderboard"),
                                    "--gpus", "0"])
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert done.exit_code != 0 and lines[-1].startswith("error: 2 TEST (depth, severity 1) prediction(s) are not "
                                                        "finite"), done.output
    assert "stopped: TEST (depth, severity 1) predictions are not finite" in _log(tmp_path)
    assert not (result.run_dir / "robustness.json").exists()
    assert [p.name for p in (tmp_path / "leaderboard" / "records").iterdir()] == [result.record.name]
