"""Every run leaves ``runs/<id>/log.txt`` (settings, one line per epoch, phase timings, skips), a
redirected stderr gets the same lines, and the result table shows intervals and whether the model's
interval overlaps the constant predictor's."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.results.leaderboard import versus_constant

EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+): train loss \S+, VAL MAE \S+")


@pytest.fixture(scope="module")
def cli_run(synth_tiny, tmp_path_factory):
    from echobench.cli.common import out as stdout

    out = tmp_path_factory.mktemp("runlog")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stdout, "width", 140)  # a wide terminal: cells do not wrap
        result = CliRunner().invoke(app, ["run", "--backbone", "echo-videomae", "--head", "maxpool", "--data",
                                          str(synth_tiny), "--epochs", "2", "--n-boot", "50", "--gpus", "0",
                                          "--results", str(out / "lb"), "--runs", str(out / "runs")])
    assert result.exit_code == 0, result.output
    (run_dir,) = list((out / "runs").iterdir())
    return result, run_dir


def test_run_writes_a_log_with_one_line_per_epoch(cli_run):
    _, run_dir = cli_run
    text = (run_dir / "log.txt").read_text()
    epochs = [m.groups() for m in map(EPOCH_LINE.search, text.splitlines()) if m]
    assert epochs == [("1", "2"), ("2", "2")], text
    for needle in ("settings: {", '"lr": 0.0003', "skipped videos: none", "phase train:",
                   "phase evaluate VAL and TEST:", "checkpoint: epoch", "TEST: MAE", "finished: record"):
        assert needle in text, needle
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line) for line in text.splitlines())


def test_redirected_stderr_gets_the_epoch_lines(cli_run):
    result, run_dir = cli_run
    assert "epoch 1/2: train loss" in result.stderr and "epoch 2/2: train loss" in result.stderr
    assert "epoch 1/2" not in result.stdout  # data (the table) on stdout, progress on stderr
    assert f"run log:       {run_dir / 'log.txt'}" in " ".join(result.stdout.split("\n"))


def test_result_table_shows_intervals_and_the_comparison_with_the_constant(cli_run):
    result, _ = cli_run
    rows = result.stdout.splitlines()
    test = next(i for i, line in enumerate(rows) if "│ TEST" in line and "echo-videomae+maxpool" in line)
    assert re.search(r"\[\d+\.\d\d, \d+\.\d\d\]", rows[test + 1]), result.stdout  # MAE interval under its value
    verdict = rows[test].split("│")[-2] + rows[test + 1].split("│")[-2]  # the last column, two lines
    assert any(v in verdict for v in ("beats", "overlaps", "worse")), result.stdout
    assert "value [95 % bootstrap interval]" in result.stdout


@pytest.mark.parametrize("model, constant, expected", [
    ((4.0, 3.0, 5.0), (7.0, 6.0, 8.0), "beats constant"),
    ((4.0, 3.0, 6.5), (7.0, 6.0, 8.0), "overlaps constant"),
    ((13.46, 12.9, 14.0), (12.13, 11.6, 12.7), "worse than constant"),  # the ~30 mL-for-every-video model
    ((4.0, float("nan"), float("nan")), (7.0, float("nan"), float("nan")), "beats constant (no interval)"),
])
def test_versus_constant_is_interval_aware(model, constant, expected):
    assert versus_constant("MAE", model, constant) == expected


def test_versus_constant_higher_is_better_for_auroc():
    assert versus_constant("AUROC", (0.9, 0.85, 0.95), (0.5, 0.5, 0.5)) == "beats constant"
    assert versus_constant("AUROC", (0.45, 0.3, 0.6), (0.5, 0.5, 0.5)) == "overlaps constant"
