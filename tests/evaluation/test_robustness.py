"""Robustness track: paired degradation rows against hand values, and one run writing a record row
for every perturbation x severity."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from echobench.evaluation.perturbations import PERTURBATIONS, SEVERITIES
from echobench.evaluation.robustness import degradation_scores
from echobench.registry import get_registry

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py


def test_degradation_hand_values():
    task = get_registry().get("task", "ef")
    labels = np.array([50.0, 60.0, 40.0, 70.0])
    clean = labels + np.array([1.0, -1.0, 2.0, -2.0])  # MAE 1.5
    worse = labels + np.array([3.0, -3.0, 3.0, -3.0])  # MAE 3
    rows = {s.metric: s for s in degradation_scores(task, clean, {("gain", 2): worse}, labels, n_boot=200)}
    assert rows["MAE[gain:2]"].estimate.value == pytest.approx(3.0)
    assert rows["ΔMAE[gain:2]"].estimate.value == pytest.approx(1.5)
    assert rows["relΔMAE[gain:2]"].estimate.value == pytest.approx(1.0)
    assert rows["relΔMAE[gain:2]"].units == "" and rows["ΔMAE[gain:2]"].units == "%"
    d = rows["ΔMAE[gain:2]"].estimate
    assert d.low <= 1.5 <= d.high and d.low > 0  # every resample is worse: paired interval excludes 0
    assert {s.track for s in rows.values()} == {"robustness@1"}


def test_binary_degradation_is_in_accuracy():
    task = get_registry().get("task", "ef50")
    ef = np.array([30.0, 60.0, 45.0, 70.0])
    rows = {s.metric: s.estimate.value for s in
            degradation_scores(task, np.array([0.9, 0.1, 0.8, 0.2]), {("jpeg", 3): np.array([0.9, 0.9, 0.1, 0.2])}, ef,
                               n_boot=0)}
    assert rows["ACC[jpeg:3]"] == 0.5 and rows["ΔACC[jpeg:3]"] == -0.5 and rows["relΔACC[jpeg:3]"] == -0.5


@pytest.mark.slow
def test_run_with_robustness_writes_every_perturbation_and_severity(synth_tiny, tmp_path):
    from echobench.results.leaderboard import build_leaderboard
    from echobench.results.records import read_records
    from echobench.runner import RunConfig, run_experiment

    cfg = RunConfig(backbone="echo-videomae", head="maxpool", task="ef", data=synth_tiny, epochs=1, gpus=0, n_boot=20,
                    robustness=True, results=tmp_path / "lb", runs=tmp_path / "runs")
    result = run_experiment(cfg)
    rows = read_records(tmp_path / "lb").filter(pl.col("track") == "robustness@1")
    expected = {f"{k}MAE[{p}:{s}]" for p in PERTURBATIONS for s in SEVERITIES for k in ("", "Δ", "relΔ")}
    assert set(rows["metric"]) == expected and set(rows["split"]) == {"TEST"}
    assert all(math.isfinite(v) for v in rows["value"])
    clean = result.metrics["TEST"]["MAE"]
    by = {r["metric"]: r["value"] for r in rows.iter_rows(named=True)}
    assert by["ΔMAE[zoom:3]"] == pytest.approx(by["MAE[zoom:3]"] - clean)
    text = build_leaderboard(tmp_path / "lb", html=False).text
    assert "## Track robustness@1" in text and "| zoom |" in text
