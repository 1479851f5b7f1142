"""Datasets through the registry (echobench.data.resolve): detection by markers, `--dataset` with
did-you-mean, and a third-party task whose label column core has never heard of (issue 14's first
Check: `GLS`, a made-up regression column added to a synthetic FileList)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from echobench import TaskSpec, hookimpl
from echobench.cli.main import app
from echobench.data.resolve import detect_dataset, label_units, resolve_dataset
from echobench.errors import ConfigError, DataError
from echobench.registry import get_registry


class _GlsPlugin:
    """A throwaway third-party task plugin: global longitudinal strain in % (a made-up column)."""

    @hookimpl
    def register_tasks(self, register):
        register(TaskSpec(name="gls", summary="global longitudinal strain (test plugin)", factory="",
                          label="GLS", kind="regression", units="%", version="1"))


@pytest.fixture
def gls_task():
    registry = get_registry()
    registry.register_plugin(_GlsPlugin(), "gls-test-plugin")
    yield registry.get("task", "gls")
    registry.unregister_plugin("gls-test-plugin")


@pytest.fixture(scope="module")
def gls_data(synth_tiny, tmp_path_factory) -> Path:
    """synth_tiny (12 videos) with an extra FileList column GLS = -20 - 0.1 * (EF - 55) (%)."""
    root = tmp_path_factory.mktemp("gls") / "data"
    shutil.copytree(synth_tiny, root)
    filelist = pl.read_csv(root / "FileList.csv")
    filelist.with_columns(GLS=(-20.0 - 0.1 * (pl.col("EF") - 55.0)).round(2)).write_csv(root / "FileList.csv")
    return root


def _one_error_line(result, *words: str) -> None:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), result.output
    for word in words:
        assert word in lines[0], result.output


def test_detects_echonet_by_its_markers_and_stamps_records(synth_tiny):
    spec = detect_dataset(synth_tiny)
    assert spec.name == "echonet-dynamic"
    spec, data = resolve_dataset(None, synth_tiny, probe=False)
    assert {r.dataset for r in data.records} == {"echonet-dynamic"} and len(data.records) == 12


def test_unknown_dataset_name_gets_did_you_mean(synth_tiny, tmp_path):
    result = CliRunner().invoke(app, ["data", "check", str(synth_tiny), "--dataset", "echonet-dynamc"])
    _one_error_line(result, "unknown dataset 'echonet-dynamc'", "did you mean 'echonet-dynamic'")


def test_folder_matching_two_layouts_is_one_error_line(synth_tiny, tmp_path):
    from echobench import DatasetSpec

    class Twin:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetSpec(name="twin", summary="same marker", factory="echobench.data.echonet:read_echonet",
                                 markers=("FileList.csv",)))

    registry = get_registry()
    registry.register_plugin(Twin(), "twin-plugin")
    try:
        with pytest.raises(DataError, match="matches the layouts of several datasets .*echonet-dynamic.*twin"):
            detect_dataset(synth_tiny)
        assert resolve_dataset("twin", synth_tiny, probe=False)[0].name == "twin"  # naming it resolves it
    finally:
        registry.unregister_plugin("twin-plugin")


def test_extra_numeric_filelist_column_is_a_label(gls_data, gls_task):
    spec, data = resolve_dataset(None, gls_data, probe=False)
    filelist = pl.read_csv(gls_data / "FileList.csv")
    expected = dict(zip(filelist["FileName"], filelist["GLS"]))
    assert all(r.label("GLS") == pytest.approx(expected[r.file_name]) for r in data.records)
    assert "GLS" in data.report.label_ranges
    assert label_units(gls_task, spec, data) == "%"  # not declared by echonet-dynamic: the task's units


def test_task_label_missing_from_the_data_is_one_error_line(synth_tiny, gls_task, tmp_path, monkeypatch):
    spec, data = resolve_dataset(None, synth_tiny, probe=False)
    with pytest.raises(ConfigError, match="task gls needs label column 'GLS', which dataset echonet-dynamic"):
        label_units(gls_task, spec, data)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "--backbone", "echo-videomae", "--head", "maxpool", "--task", "gls",
                                      "--data", str(synth_tiny), "--epochs", "1", "--gpus", "0"])
    _one_error_line(result, "task gls needs label column 'GLS'", "echonet-dynamic", "EDV, EF, ESV")
    (tmp_path / "p.csv").write_text("FileName,prediction\n" + "".join(f"{r.file_name},1\n" for r in data.split("TEST")))
    result = CliRunner().invoke(app, ["score", str(tmp_path / "p.csv"), "--task", "gls", "--data", str(synth_tiny)])
    _one_error_line(result, "task gls needs label column 'GLS'")


def test_units_mismatch_is_refused(synth_tiny):
    spec, data = resolve_dataset(None, synth_tiny, probe=False)
    esv_in_litres = TaskSpec(name="esv-l", summary="", factory="", label="ESV", units="L")
    with pytest.raises(ConfigError, match="task esv-l reads ESV in L, but dataset echonet-dynamic gives ESV in mL"):
        label_units(esv_in_litres, spec, data)


def test_third_party_label_runs_scores_and_shows_in_the_leaderboard(gls_data, gls_task, example_plugin, tmp_path,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--backbone", "example-c3d", "--head", "maxpool", "--task", "gls",
                                 "--data", str(gls_data), "--epochs", "1", "--batch-size", "4", "--gpus", "0",
                                 "--n-boot", "20"])
    assert result.exit_code == 0, result.output
    assert "gls@1" in result.output
    from echobench.results.records import read_records

    records = read_records(tmp_path / "leaderboard")
    main = records.filter(pl.col("track").is_null())
    assert set(main["task"]) == {"gls"}  # no EF-derived rows: gls declares no derived task
    assert set(main["metric"]) == {"MAE", "RMSE", "R2", "r"}  # no EF bands: the label is not EF
    assert set(main["units"]) == {"%"}
    assert set(records["evaluated_on_dataset"]) == {"echonet-dynamic"} and set(records["dataset_version"]) == {"1"}
    run_dir = Path(main["run_dir"][0])
    preds = pl.read_parquet(run_dir / "predictions.parquet").filter((pl.col("split") == "TEST") & (pl.col("clips") == "one"))
    filelist = pl.read_csv(gls_data / "FileList.csv")
    truth = dict(zip(filelist["FileName"], filelist["GLS"]))
    assert np.allclose(preds["truth"].to_numpy(), [truth[n] for n in preds["FileName"]])
    mae = main.filter((pl.col("split") == "TEST") & (pl.col("clips") == "one") & (pl.col("metric") == "MAE")
                      & (pl.col("model") == "example-c3d+maxpool"))["value"][0]
    assert mae == pytest.approx((preds["prediction"] - preds["truth"]).abs().mean())

    scored = runner.invoke(app, ["score", str(run_dir / "predictions.parquet"), "--n-boot", "0"])
    assert scored.exit_code == 0, scored.output
    assert "GLS (percentage points)" in scored.output and f"{mae:.2f}" in scored.output

    board = runner.invoke(app, ["leaderboard", "--no-html", "--no-reported"])
    assert board.exit_code == 0, board.output
    assert "gls@1" in board.output and "MAE" in board.output
