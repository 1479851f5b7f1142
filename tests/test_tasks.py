"""The reduced-EF task (`ef50`) trains a classifier, and the `echonet` protocol reports one-clip and
all-clips scores, each recorded with its task/protocol versions."""

from __future__ import annotations

import polars as pl
import pytest

from echobench.results.records import read_records
from echobench.runner import RunConfig, run_experiment

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py


@pytest.mark.slow
def test_ef50_classifier_run(synth_small, tmp_path):
    cfg = RunConfig(backbone="echo-videomae", head="maxpool", task="ef50", data=synth_small, epochs=1, batch_size=4,
                    gpus=0, n_boot=50, results=tmp_path / "lb", runs=tmp_path / "runs")
    result = run_experiment(cfg)
    assert result.kind == "binary" and result.task_tag == "ef50@1"
    assert set(result.metrics["TEST"]) == {"ACC", "F1", "AUROC", "F1[normal+]", "AUROC[normal+]"}
    preds = pl.read_parquet(result.run_dir / "predictions.parquet")
    assert preds["prediction"].is_between(0, 1).all()  # probabilities of reduced EF
    records = read_records(tmp_path / "lb")
    assert set(records["task"]) == {"ef50"} and set(records["trained_on"]) == {"ef50"}
    assert set(records["units"]) == {""}
    acc = records.filter((pl.col("split") == "TEST") & (pl.col("metric") == "ACC") & (pl.col("clips") == "one")
                         & (pl.col("model") == "echo-videomae+maxpool"))["value"][0]
    test = preds.filter((pl.col("split") == "TEST") & (pl.col("clips") == "one"))
    manual = ((test["prediction"] >= 0.5) == (test["EF"] < 50)).mean()
    assert acc == pytest.approx(manual)
    calibration = records.filter((pl.col("track") == "calibration@1") & (pl.col("split") == "TEST")
                                 & (pl.col("clips") == "one") & (pl.col("model") == "echo-videomae+maxpool"))
    brier = {r["metric"]: r["value"] for r in calibration.iter_rows(named=True)}
    assert set(brier) == {"ECE", "Brier"}
    assert brier["Brier"] == pytest.approx(((test["prediction"] - (test["EF"] < 50).cast(pl.Float64)) ** 2).mean())


@pytest.mark.slow
def test_echonet_protocol_reports_one_and_all_clips(synth_small, tmp_path):
    cfg = RunConfig(backbone="echo-videomae", head="maxpool", task="ef", data=synth_small, protocol="echonet",
                    epochs=1, batch_size=4, gpus=0, n_boot=0, results=tmp_path / "lb", runs=tmp_path / "runs")
    result = run_experiment(cfg)
    assert result.protocol_tag == "echonet@2" and set(result.all_clips) == {"VAL", "TEST"}
    records = read_records(tmp_path / "lb")
    assert set(records["clips"]) == {"one", "all", "beats"}  # beats: evaluation track (evaluation.beats)
    preds = pl.read_parquet(result.run_dir / "predictions.parquet")
    one = preds.filter((pl.col("clips") == "one") & (pl.col("split") == "TEST")).sort("FileName")
    every = preds.filter((pl.col("clips") == "all") & (pl.col("split") == "TEST")).sort("FileName")
    assert one["FileName"].to_list() == every["FileName"].to_list()
    mae_all = records.filter((pl.col("clips") == "all") & (pl.col("split") == "TEST") & (pl.col("metric") == "MAE")
                             & (pl.col("task") == "ef") & (pl.col("model") == "echo-videomae+maxpool"))["value"][0]
    assert mae_all == pytest.approx((every["prediction"] - every["truth"]).abs().mean())
