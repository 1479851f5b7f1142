"""Dense task kinds end to end (echobench.dense_run): `run --task lv-seg` and `--task ed-es-frames` on
synthetic EchoNet data write their records (Dice/IoU per phase, EF from masks scored like any EF row,
frame errors) next to the baseline rows, predictions and TEST masks; mismatched heads are refused.

ECHOBENCH_FULL_DENSE=1 adds the quality checks (more videos and epochs, minutes on a CPU): Dice clearly
above the fixed TRAIN mean mask, frame error below the random guess, on TEST."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.results.records import read_records
from echobench.runner import RunConfig, run_experiment

FULL = os.environ.get("ECHOBENCH_FULL_DENSE") == "1"


def _run(data, out, task, head, **kw):
    kw = {"epochs": 1, "n_boot": 50, "lr": 2e-3, **kw}
    cfg = RunConfig(backbone="echo-videomae", head=head, task=task, data=data, protocol="echonet",
                    gpus=0, results=out / "leaderboard", runs=out / "runs", **kw)
    return run_experiment(cfg)


@pytest.fixture(scope="module")
def seg_run(synth_tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg")
    return _run(synth_tiny, out, "lv-seg", "seg-upsample"), out


def test_segmentation_run_records_dice_iou_and_mask_ef(seg_run):
    result, out = seg_run
    records = read_records(out / "leaderboard")
    seg = records.filter(pl.col("task") == "lv-seg")
    assert set(seg["model"]) == {"echo-videomae+seg-upsample", "fixed mask (TRAIN mean)"}
    assert set(seg["metric"]) == {"Dice[ED]", "Dice[ES]", "IoU[ED]", "IoU[ES]", "Dice"}
    assert set(seg["split"]) == {"VAL", "TEST"} and (seg["ci_low"] <= seg["value"]).all()
    assert set(seg["protocol_version"]) == {"2+dense-clip@1"}
    ef = records.filter(pl.col("task") == "ef")  # EF from the predicted masks, scored like any EF model
    assert set(ef["trained_on"]) == {"lv-seg"} and set(ef["units"]) == {"%"}
    assert {"MAE", "RMSE", "R2", "r"} <= set(ef["metric"])
    assert set(ef["model"]) == set(seg["model"]) | {"constant (TRAIN mean)"}  # the EF table's own constant
    ef50 = records.filter(pl.col("task") == "ef50")  # and the reduced-EF rows an EF model gets
    assert ef50.height > 0 and set(ef50["units"]) == {""}  # unit-free as every run's (one record writer)
    assert 0.0 <= result.metrics["TEST"]["Dice"] <= 1.0 and result.n["TEST"] == 2


def test_segmentation_run_writes_predictions_and_test_masks(seg_run, synth_tiny):
    result, _ = seg_run
    preds = pl.read_parquet(result.run_dir / "predictions.parquet")
    test = preds.filter(pl.col("split") == "TEST")
    filelist = pl.read_csv(synth_tiny / "FileList.csv")
    assert set(test["FileName"]) == set(filelist.filter(pl.col("Split") == "TEST")["FileName"])
    assert test["Dice[ED]"].is_between(0, 1).all()
    assert np.allclose(test["truth"], filelist.filter(pl.col("Split") == "TEST").sort("FileName")["EF"], atol=0.01)
    masks = np.load(result.run_dir / "masks_TEST.npz")
    assert masks["pred"].shape == masks["true"].shape == (2, 2, 112, 112) and masks["true"].any()
    assert list(masks["file_names"]) == list(test["FileName"])
    assert (result.run_dir / "log.txt").read_text().count("epoch 1/1") == 1


@pytest.fixture(scope="module")
def frames_run(synth_tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("frames")
    return _run(synth_tiny, out, "ed-es-frames", "frames-upsample"), out


def test_frames_run_records_frame_errors_and_random_guess(frames_run):
    result, out = frames_run
    records = read_records(out / "leaderboard")
    assert set(records["task"]) == {"ed-es-frames"}
    assert set(records["model"]) == {"echo-videomae+frames-upsample", "random guess (uniform in the clip)"}
    assert set(records["metric"]) == {"frame MAE", "frame MAE[ED]", "frame MAE[ES]", "within ±2[ED]", "within ±2[ES]"}
    assert set(records.filter(pl.col("metric").str.starts_with("frame MAE"))["units"]) == {"frames"}
    preds = pl.read_parquet(result.run_dir / "predictions.parquet")
    assert {"pred_ED", "pred_ES", "true_ED", "true_ES"} <= set(preds.columns)
    test = preds.filter(pl.col("split") == "TEST")
    assert result.metrics["TEST"]["frame MAE[ED]"] == pytest.approx((test["pred_ED"] - test["true_ED"]).abs().mean())


def test_leaderboard_shows_dense_tables_contours_and_distributions(seg_run, frames_run):
    from echobench.results.leaderboard import build_leaderboard

    boards = {}
    for (result, out), kind, pictures in ((seg_run, "segmentation", ("contours", "dice")),
                                          (frames_run, "ED/ES frames", ("frame-error",))):
        board = boards[kind] = build_leaderboard(out / "leaderboard")
        heading = next(line for line in board.text.splitlines() if line.startswith(f"### {kind}:") and "TEST" in line)
        table = board.text.split(heading, 1)[1].split("###", 1)[0]
        assert "vs baseline" in table and ("fixed mask (TRAIN mean)" in table or "random guess" in table)
        assert result.model in table
        pngs = [p.name for p in (out / "leaderboard" / "figures").glob("*.png")]
        for picture in pictures:
            assert any(p.endswith(f"-{picture}.png") for p in pngs), (picture, pngs)
        html = (out / "leaderboard" / "leaderboard.html").read_text()
        assert f"{kind}: " in html and "data:image/png;base64," in html
    board = boards["segmentation"]  # EF from masks: an EF table with its constant row
    ef_heading = next(line for line in board.text.splitlines() if line.startswith("### ef@1") and "TEST" in line)
    ef_table = board.text.split(ef_heading, 1)[1].split("###", 1)[0]
    assert "[trained on lv-seg]" in ef_table and "constant (TRAIN mean)" in ef_table


def test_cli_refuses_a_head_that_does_not_fit_the_task(synth_tiny, tmp_path):
    res = CliRunner().invoke(app, ["run", "--data", str(synth_tiny), "--task", "lv-seg", "--backbone", "echo-videomae",
                                   "--head", "maxpool",
                                   "--results", str(tmp_path / "lb"), "--runs", str(tmp_path / "runs")])
    assert res.exit_code != 0
    assert "head 'maxpool' gives embedding but task 'lv-seg'" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.skipif(not FULL, reason="set ECHOBENCH_FULL_DENSE=1 (minutes on a CPU)")
@pytest.mark.parametrize("task,head", [("lv-seg", "seg-upsample"), ("ed-es-frames", "frames-upsample")])
def test_full_dense_quality(synth_small, tmp_path, task, head):
    epochs = int(os.environ.get("ECHOBENCH_DENSE_EPOCHS", 24 if task == "lv-seg" else 12))
    result = _run(synth_small, tmp_path, task, head, epochs=epochs, batch_size=8)
    model, base = result.metrics["TEST"], result.constant["TEST"]
    print(task, "TEST model", model, "baseline", base)
    if task == "lv-seg":
        assert model["Dice"] > base["Dice"] + 0.05
    else:
        assert model["frame MAE[ED]"] + model["frame MAE[ES]"] < base["frame MAE[ED]"] + base["frame MAE[ES]"]


def test_dense_runs_refuse_resume_and_robustness_in_one_line(synth_tiny, tmp_path):
    from echobench.errors import ConfigError

    for flag in ("resume", "robustness"):
        with pytest.raises(ConfigError, match=f"--{flag} is not supported for task lv-seg"):
            _run(synth_tiny, tmp_path, "lv-seg", "seg-upsample", **{flag: True})
