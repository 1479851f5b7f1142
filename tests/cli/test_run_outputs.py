"""Every run leaves ``runs/<id>/log.txt`` (settings, one line per epoch, phase timings, skips), a
redirected stderr gets the same lines, and the result table shows intervals and whether the model's
interval overlaps the constant predictor's."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.results.leaderboard import versus_constant

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py

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
    for needle in ("settings: {", '"lr": 0.0003', "skipped (videos, by reason): none", "phase train:",
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


def test_score_reproduces_the_runs_test_numbers_from_its_predictions_parquet(cli_run):
    import json

    from echobench.scoring import score_predictions

    _, run_dir = cli_run
    config = json.loads((run_dir / "config.json").read_text())
    recorded = {(s["task"], s["metric"]): (s["value"], s["ci_low"], s["ci_high"])
                for s in json.loads((run_dir / "metrics.json").read_text())["scores"]
                if s["model"] != "constant (TRAIN mean)" and s["split"] == "TEST" and s["clips"] == "one"}
    result = score_predictions(run_dir / "predictions.parquet", config["data"], task="ef", split="TEST",
                               n_boot=config["n_boot"], seed=0)
    scored = {(sc_task, metric): (e.value, e.low, e.high)
              for section, sc_task in zip(result.sections, ("ef", "ef50")) for metric, e in section.model.items()}
    assert scored and result.n == 2
    for key, value in scored.items():
        assert value == pytest.approx(recorded[key], rel=0, abs=0, nan_ok=True), key  # exactly the run's numbers

    cli = CliRunner().invoke(app, ["score", str(run_dir / "predictions.parquet"), "--split", "TEST"])
    assert cli.exit_code == 0, cli.output
    mae = recorded["ef", "MAE"]
    assert f"{mae[0]:.2f} [{mae[1]:.2f}, {mae[2]:.2f}]" in cli.stdout and "MAE (EF points)" in cli.stdout
    val = CliRunner().invoke(app, ["score", str(run_dir / "predictions.parquet"), "--split", "val"])
    assert val.exit_code == 0 and "split VAL" in val.stdout  # the VAL rows of the same file


def test_score_reads_a_csv_of_both_splits_with_a_split_column(cli_run, tmp_path):
    import polars as pl

    _, run_dir = cli_run
    preds = pl.read_parquet(run_dir / "predictions.parquet").filter(pl.col("clips") == "one")
    both = tmp_path / "both.csv"
    preds.select("FileName", "split", "prediction").write_csv(both)
    import json

    data = json.loads((run_dir / "config.json").read_text())["data"]
    result = CliRunner().invoke(app, ["score", str(both), "--task", "ef", "--data", data, "--split", "TEST"])
    assert result.exit_code == 0, result.output
    missing = CliRunner().invoke(app, ["score", str(both), "--task", "ef", "--data", data, "--split", "TRAIN"])
    assert missing.exit_code == 2 and "no rows with split TRAIN (the file has split TEST, VAL)" in missing.stderr


def test_demo_logs_and_prints_its_exact_run_command(tmp_path, monkeypatch):
    import shlex

    from echobench.cli.common import out as stdout

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stdout, "width", 400)  # the command on one line
    from echobench.cli import run as run_cli

    # this module runs the protocol at 112 px (clips_112): 16-pixel patches give the demo's 8x7x7 grid there
    monkeypatch.setattr(run_cli, "DEMO_BACKBONE_OPTIONS", {"patch_size": 16})
    demo = CliRunner().invoke(app, ["demo", "--videos", "12", "--epochs", "1"])
    assert demo.exit_code == 0, demo.output
    (run_dir,) = list((tmp_path / "runs").iterdir())
    epochs = [m for m in map(EPOCH_LINE.search, (run_dir / "log.txt").read_text().splitlines()) if m]
    assert len(epochs) == 1
    line = next(ln.strip() for ln in demo.stdout.splitlines() if ln.strip().startswith("echobench run "))
    words = shlex.split(line)
    from echobench.cli.run import DEMO_BACKBONE_OPTIONS, DEMO_HEAD, DEMO_LR

    assert "--lr" in words and float(words[words.index("--lr") + 1]) == DEMO_LR
    assert words[words.index("--head") + 1] == DEMO_HEAD
    options = [words[i + 1] for i, w in enumerate(words) if w == "--backbone-option"]
    assert options == [f"{k}={v}" for k, v in sorted(DEMO_BACKBONE_OPTIONS.items())]
    rerun = CliRunner().invoke(app, [*words[1:], "--resume"])  # the same configuration hash: nothing to rerun
    assert rerun.exit_code == 0, rerun.output
    assert "already completed this configuration; not rerun" in rerun.stderr, rerun.output


def test_run_command_spells_out_backbone_and_head_options(tmp_path):
    """The printed ``echobench run`` line carries every declared option the configuration sets, so
    it repeats a run with a non-default token grid or head width (same config hash)."""
    import shlex

    from echobench.cli.run import run_command
    from echobench.runner import RunConfig

    cfg = RunConfig(backbone="echo-videomae", head="stff", task="ef", data=tmp_path,
                    backbone_options={"tubelet_size": 4, "patch_size": 32}, head_options={"attn_dim": 64})
    words = shlex.split(run_command(cfg))
    pairs = [(w, words[i + 1]) for i, w in enumerate(words) if w in ("--backbone-option", "--head-option")]
    assert pairs == [("--backbone-option", "patch_size=32"), ("--backbone-option", "tubelet_size=4"),
                     ("--head-option", "attn_dim=64")]
