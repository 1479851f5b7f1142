"""External validation (issue 17 item 3): `run --data A --eval-data B --eval-data DATASET=C` trains and
selects on A, scores B's TEST split and all of C (C has no TEST split) with no retraining, records
both dataset names, shows the external table, and refuses a pairing whose label or units differ."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from echobench import DatasetSpec, hookimpl
from echobench.cli.main import app
from echobench.registry import get_registry


@pytest.fixture(scope="module")
def other_sites(tmp_path_factory) -> tuple[Path, Path]:
    """B: a synthetic EchoNet folder of another seed; C: B with its TEST rows moved to VAL."""
    from echobench.data.synth import synthesize

    b = tmp_path_factory.mktemp("external") / "site-b"
    synthesize(b, videos=8, seed=5)
    c = b.parent / "site-c"
    shutil.copytree(b, c)
    filelist = pl.read_csv(c / "FileList.csv")
    filelist.with_columns(pl.col("Split").replace("TEST", "VAL")).write_csv(c / "FileList.csv")
    return b, c


@pytest.fixture(scope="module")
def other_layouts(tmp_path_factory) -> tuple[Path, Path]:
    """Synthetic CAMUS (NIfTI half sequences) and EchoNet-Pediatric (A4C/ + PSAX/) folders."""
    from echobench_datasets.camus import synthesize_camus
    from echobench_datasets.pediatric import synthesize_pediatric

    root = tmp_path_factory.mktemp("layouts")
    return (synthesize_camus(root / "CAMUS_public", videos=3, seed=4),
            synthesize_pediatric(root / "pediatric", videos=6, seed=6))


class _Fractions:
    """A dataset layout that declares EF as a fraction (units differ from the ef task's %)."""

    @hookimpl
    def register_datasets(self, register):
        register(DatasetSpec(name="echonet-fraction", summary="EF declared in fractions (test)",
                             factory="echobench.data.echonet:read_echonet", labels={"EF": "fraction"}))


def _run(args: list[str], backbone: str = "example-c3d"):
    return CliRunner().invoke(app, ["run", "--backbone", backbone, "--head", "maxpool", "--task", "ef",
                                    "--epochs", "1", "--batch-size", "4", "--gpus", "0", "--n-boot", "0", *args])


def test_external_rows_table_and_rule(synth_tiny, other_sites, other_layouts, example_plugin, tmp_path, monkeypatch):
    """Issue 17's check: trained on EchoNet, scored on another EchoNet site (TEST), one without TEST (ALL),
    CAMUS (named) and EchoNet-Pediatric (detected by its layout): one set of rows per evaluated dataset."""
    b, c = other_sites
    camus, pediatric = other_layouts
    monkeypatch.chdir(tmp_path)
    result = _run(["--data", str(synth_tiny), "--eval-data", str(b), "--eval-data", f"echonet-dynamic={c}",
                   "--eval-data", f"camus={camus}", "--eval-data", str(pediatric)])
    assert result.exit_code == 0, result.output
    assert "external validation · echonet-dynamic (site-b) · split TEST" in result.output
    from echobench.results.records import read_records

    records = read_records(tmp_path / "leaderboard").filter(pl.col("track").is_null() & (pl.col("task") == "ef")
                                                            & (pl.col("metric") == "MAE"))
    assert set(records["trained_on_dataset"]) == {"echonet-dynamic"}
    assert set(records["evaluated_on_dataset"]) == {"echonet-dynamic", "camus", "echonet-pediatric"}
    for name in ("camus", "echonet-pediatric"):
        rows = records.filter(pl.col("evaluated_on_dataset") == name)
        assert set(rows["split"]) == {"TEST"} and rows.height == 2  # the model and A's constant
        assert (rows["dataset_hash"] != rows["trained_on_dataset_hash"]).all()
    records = records.filter(pl.col("evaluated_on_dataset") == "echonet-dynamic")
    home = records.filter(pl.col("dataset") == synth_tiny.name)
    assert len(set(records["trained_on_dataset_hash"])) == 1 and set(home["dataset_hash"]) == set(records["trained_on_dataset_hash"])
    train_ef = pl.read_csv(synth_tiny / "FileList.csv").filter(pl.col("Split") == "TRAIN")["EF"].mean()
    for site, split in ((b, "TEST"), (c, "ALL")):
        rows = records.filter(pl.col("dataset") == site.name)
        filelist = pl.read_csv(site / "FileList.csv")
        truth = filelist if split == "ALL" else filelist.filter(pl.col("Split") == "TEST")
        assert set(rows["split"]) == {split} and set(rows["n"]) == {truth.height}
        assert rows["dataset_hash"][0] != home["dataset_hash"][0]
        constant = rows.filter(pl.col("model").str.starts_with("constant"))["value"][0]
        assert constant == pytest.approx(np.abs(truth["EF"].to_numpy() - train_ef).mean())  # A's TRAIN mean, B's labels

    splits = {b.name: "TEST", c.name: "ALL", camus.name: "TEST", pediatric.name: "TEST"}
    _check_external_predictions(read_records(tmp_path / "leaderboard"), splits)

    board = CliRunner().invoke(app, ["leaderboard", "--no-html", "--no-reported", "--split", "all"])
    assert board.exit_code == 0, board.output
    text = board.output
    assert "External validation" in text and "in-distribution (TEST)" in text
    assert "site-b" in text and "· ALL" in text and "camus" in text and "echonet-pediatric" in text


def _check_external_predictions(records: pl.DataFrame, splits: dict[str, str]) -> None:
    """Each external dataset's per-video predictions lie next to the run's predictions.parquet, in its
    schema, one row per scored video, and give the recorded model MAE (n_boot 0: the point value)."""
    from echobench.evaluation.external import external_predictions_path

    rows = records.filter(pl.col("track").is_null() & (pl.col("metric") == "MAE") & (pl.col("task") == "ef")
                          & ~pl.col("model").str.starts_with("constant")
                          & (pl.col("dataset_hash") != pl.col("trained_on_dataset_hash")))
    assert sorted(rows["dataset"]) == sorted(splits)
    run_dir = Path(rows["run_dir"][0])
    own = pl.read_parquet(run_dir / "predictions.parquet")
    assert len(list(run_dir.glob("predictions.*.parquet"))) == len(splits)  # one file per external dataset
    for row in rows.iter_rows(named=True):
        path = external_predictions_path(run_dir, row["dataset"], row["dataset_hash"])
        assert path.parent == run_dir and path.name.startswith(f"predictions.{row['dataset']}.")
        preds = pl.read_parquet(path)
        assert preds.schema == own.schema and preds.height == row["n"] == preds["FileName"].n_unique()
        assert set(preds["split"]) == {splits[row["dataset"]]} and set(preds["clips"]) == {"one"}
        assert (preds["prediction"] - preds["truth"]).abs().mean() == pytest.approx(row["value"])
        if splits[row["dataset"]] == "TEST":  # `echobench score FILE` scores it on its own dataset's labels
            scored = CliRunner().invoke(app, ["score", str(path), "--n-boot", "0"])
            assert scored.exit_code == 0, scored.output
            data_line = next(line for line in scored.output.splitlines() if line.startswith("data: "))
            assert Path(data_line[6:]).name == row["dataset"], scored.output  # not the training data
            mae = next(line for line in scored.output.splitlines() if line.startswith("│ MAE"))
            assert f"{row['value']:.2f}" in mae, scored.output
    assert set(own["split"]) == {"VAL", "TEST"}  # the run's own file holds the training dataset only


def test_pairing_with_other_units_or_no_label_is_refused_before_training(synth_tiny, other_sites, tmp_path,
                                                                         monkeypatch):
    b, _ = other_sites
    monkeypatch.chdir(tmp_path)
    registry = get_registry()
    registry.register_plugin(_Fractions(), "fractions-test")
    try:
        result = _run(["--data", str(synth_tiny), "--eval-data", f"echonet-fraction={b}"], backbone="echo-videomae")
    finally:
        registry.unregister_plugin("fractions-test")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "external validation refused: model trained on echonet-dynamic for task ef" in lines[0]
    assert "site-b (echonet-fraction): task ef reads EF in %, but dataset echonet-fraction gives EF in fraction" in lines[0]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())  # nothing trained

    from echobench import TaskSpec
    from echobench.data.resolve import resolve_dataset
    from echobench.errors import ConfigError
    from echobench.evaluation.external import check_pairing

    spec, data = resolve_dataset(None, b, probe=False)
    gls = TaskSpec(name="gls", summary="", factory="", label="GLS", units="%")
    with pytest.raises(ConfigError, match="external validation refused: model trained on echonet-dynamic for task "
                                          "gls; .*site-b .*needs label column 'GLS'"):
        check_pairing(gls, spec, spec, data)
