"""`echobench run` end to end on small synthetic data: run directory, run record, provenance,
user errors as one line, and the leaderboard built from the records."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.results.records import RECORD_SCHEMA, read_records
from echobench.runner import RunConfig, run_experiment

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py


@pytest.fixture(scope="module")
def one_run(synth_small, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = RunConfig(backbone="echo-videomae", head="maxpool", task="ef", data=synth_small, epochs=1,
                    gpus=0, results=out / "leaderboard", runs=out / "runs")
    return run_experiment(cfg), out


def test_run_writes_run_directory(one_run, synth_small):
    result, _ = one_run
    files = {p.name for p in result.run_dir.iterdir()}
    assert {"config.json", "environment.json", "metrics.json", "predictions.parquet", "best.safetensors"} <= files
    preds = pl.read_parquet(result.run_dir / "predictions.parquet")
    filelist = pl.read_csv(synth_small / "FileList.csv")
    test_names = set(filelist.filter(pl.col("Split") == "TEST")["FileName"])
    assert set(preds.filter(pl.col("split") == "TEST")["FileName"]) == test_names
    assert preds["prediction"].is_finite().all()
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["units"] == "EF points" and metrics["protocol"] == "echovisionfm@1"


def test_test_metrics_are_computed_on_test_predictions(one_run):
    result, _ = one_run
    preds = pl.read_parquet(result.run_dir / "predictions.parquet").filter((pl.col("split") == "TEST")
                                                                          & (pl.col("clips") == "one"))
    mae = (preds["prediction"] - preds["truth"]).abs().mean()
    assert result.metrics["TEST"]["MAE"] == pytest.approx(mae, rel=1e-9)
    assert result.n["TEST"] == preds.height


def test_run_record_has_provenance(one_run):
    result, out = one_run
    records = read_records(out / "leaderboard")
    assert records.schema == pl.Schema(RECORD_SCHEMA)
    assert set(records["split"]) == {"VAL", "TEST"}
    assert set(records["model"]) == {"echo-videomae+maxpool", "constant (TRAIN mean)"}
    tracks = records.filter(pl.col("track").is_not_null())
    records = records.filter(pl.col("track").is_null())  # the main table's rows
    assert tracks.height > 0
    ef = records.filter(pl.col("task") == "ef")
    assert set(ef["metric"]) == {"MAE", "RMSE", "R2", "r", "MAE[EF<40]", "MAE[EF40-54]", "MAE[EF>=55]"}
    ef50 = records.filter(pl.col("task") == "ef50")  # an EF model also yields the reduced-EF numbers
    assert set(ef50["trained_on"]) == {"ef"} and set(ef50["units"]) == {""}
    assert {"ACC", "F1", "AUROC", "F1[normal+]", "AUROC[normal+]"} == set(ef50["metric"])
    assert set(records["clips"]) == {"one"} and set(records["source"]) == {"run"}
    finite = records.filter(pl.col("ci_low").is_not_nan() & pl.col("ci_high").is_not_nan())
    assert finite.height > 0 and (finite["ci_low"] <= finite["value"] + 1e-12).all()
    assert (finite["value"] <= finite["ci_high"] + 1e-12).all()
    row = records.row(0, named=True)
    for column in ("task_version", "protocol_version", "dataset_hash", "config_hash", "git_sha", "device",
                   "precision", "echobench_version", "plugin_versions"):
        assert row[column], column
    assert row["synthetic"] is True and row["protocol"] == "echovisionfm" and row["units"] == "%"
    const = records.filter((pl.col("model") == "constant (TRAIN mean)") & (pl.col("split") == "TEST")
                           & (pl.col("metric") == "MAE") & (pl.col("task") == "ef"))["value"][0]
    assert const == pytest.approx(result.constant["TEST"]["MAE"])


def test_run_record_has_agreement_track_rows(one_run):
    result, out = one_run
    rows = read_records(out / "leaderboard").filter(pl.col("track") == "agreement@1")
    model = rows.filter(pl.col("model") == result.model)
    test = {r["metric"]: r for r in model.filter(pl.col("split") == "TEST").iter_rows(named=True)}
    assert set(test) == {"BA bias", "BA LoA low", "BA LoA high", "EF cat agreement", "EF cat kappa",
                         "PI90 coverage", "PI90 half-width"}
    assert {"PI90 coverage", "PI90 half-width"}.isdisjoint(model.filter(pl.col("split") == "VAL")["metric"])
    assert test["BA bias"]["units"] == "%" and test["EF cat kappa"]["units"] == "" and test["PI90 coverage"]["units"] == ""
    preds = pl.read_parquet(result.run_dir / "predictions.parquet").filter((pl.col("split") == "TEST")
                                                                          & (pl.col("clips") == "one"))
    assert test["BA bias"]["value"] == pytest.approx((preds["prediction"] - preds["truth"]).mean(), rel=1e-9)
    assert set(rows["model"]) == {result.model, "constant (TRAIN mean)"}


def test_run_record_has_beat_rows(one_run):
    result, out = one_run
    rows = read_records(out / "leaderboard").filter(pl.col("clips") == "beats")
    assert set(rows["track"]) == {"beats@1"} and set(rows["split"]) == {"TEST"}
    ef = {r["metric"]: r for r in rows.filter(pl.col("task") == "ef").iter_rows(named=True)}
    assert {"MAE", "RMSE", "R2", "r", "beat sd", "beats per video", "fallback videos"} <= set(ef)
    preds = pl.read_parquet(result.run_dir / "predictions.parquet").filter(pl.col("clips") == "beats")
    assert preds.height == result.n["TEST"]
    assert ef["MAE"]["value"] == pytest.approx((preds["prediction"] - preds["truth"]).abs().mean(), rel=1e-9)
    fallback = json.loads((result.run_dir / "metrics.json").read_text())["beats_fallback"]
    assert ef["fallback videos"]["value"] == sum(fallback.values()) < result.n["TEST"]
    assert ef["beats per video"]["value"] >= 1


def test_run_record_has_strata_rows(one_run):
    result, out = one_run
    rows = read_records(out / "leaderboard").filter(pl.col("track") == "strata@1")
    by = {r["metric"]: r for r in rows.filter(pl.col("model") == result.model).iter_rows(named=True)}
    preds = pl.read_parquet(result.run_dir / "predictions.parquet").filter((pl.col("split") == "TEST")
                                                                          & (pl.col("clips") == "one"))
    preserved = preds.filter(pl.col("EF") >= 50)
    row = by["MAE[EF category:EF>=50]"]
    assert row["n"] == preserved.height
    assert row["value"] == pytest.approx((preserved["prediction"] - preserved["truth"]).abs().mean())
    stratifiers = {m.split("[")[1].split(":")[0] for m in by}
    assert stratifiers == {"EF category", "FPS", "frames", "brightness", "contrast"}
    assert sum(r["n"] for m, r in by.items() if m.startswith("MAE[frames:")) == result.n["TEST"]


def test_leaderboard_lists_model_and_constant(one_run):
    _, out = one_run
    result = CliRunner().invoke(app, ["leaderboard", "--results", str(out / "leaderboard")])
    assert result.exit_code == 0, result.output
    assert "echo-videomae+maxpool" in result.output and "constant (TRAIN mean)" in result.output
    assert "split TEST" in result.output and "protocol echovisionfm@1" in result.output and "MAE (EF points)" in result.output
    # (the leaderboard names units per column; `run` names them in the table title)
    assert (out / "leaderboard" / "leaderboard.md").read_text().strip()
    text = (out / "leaderboard" / "leaderboard.md").read_text()
    assert "## Track agreement@1" in text and "BA bias (EF points)" in text and "PI90 coverage" in text
    assert "## Track beats@1" in text and "beat sd (EF points)" in text
    assert "## Track strata@1" in text and "no (n < 30)" in text
    main = text.split("## Track")[0]
    assert "BA bias" not in main  # tracks never join the main tables
    assert "Track agreement@1" in (out / "leaderboard" / "leaderboard.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["--backbone", "echo-videomea", "--head", "maxpool"], "did you mean 'echo-videomae'"),
    (["--backbone", "echo-videomae", "--head", "maxpool", "--task", "eff"], "unknown task 'eff'"),
    (["--backbone", "echo-videomae", "--head", "maxpool", "--gpus", "2"], "--gpus 2 requested but this machine has"),
    (["--backbone", "echo-videomae", "--head", "maxpool", "--preset", "huge"], "no preset 'huge'"),
    (["--backbone", "echo-videomae", "--head", "maxpool", "--precision", "bogus"], "--precision 'bogus'"),
    (["--backbone", "echo-videomae", "--head", "maxpool", "--results", "FileList.csv"], "FileList.csv"),
])
def test_run_user_errors_are_one_line(args, message, synth_small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FileList.csv").write_text("a file where an output folder is expected\n")
    result = CliRunner().invoke(app, ["run", *args, "--data", str(synth_small), "--epochs", "1"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output
    assert "Traceback" not in result.output


def test_run_on_missing_directory_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "--backbone", "echo-videomae", "--head", "maxpool",
                                      "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "nowhere: data directory not found" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["videomae", "vivit"])  # echo-videomae and video-resnet: tests/test_sweep.py
@pytest.mark.parametrize("head", ["stff", "maxpool"])
def test_every_paper_backbone_runs_with_stff_and_maxpool(backbone, head, synth_small, tmp_path):
    cfg = RunConfig(backbone=backbone, head=head, task="ef", data=synth_small, epochs=1, batch_size=4, gpus=0,
                    results=tmp_path / "lb", runs=tmp_path / "runs")
    result = run_experiment(cfg)
    assert result.model == f"{backbone}+{head}"
    assert all(np.isfinite(v) for v in result.metrics["TEST"].values() if v == v)
    assert result.metrics["TEST"]["MAE"] >= 0 and result.n["TEST"] > 0


@pytest.fixture(scope="module")
def mixed_sizes(synth_tiny, tmp_path_factory):
    """synth_tiny with one TRAIN and one TEST video replaced by 768x1024 and 768x1040 copies, as the six
    such rows of EchoNet-Dynamic's release (FileList says so too)."""
    import shutil

    from echobench.data.clips import fit_frame_size
    from echobench.data.video import read_video, write_avi

    root = tmp_path_factory.mktemp("mixed") / "data"
    shutil.copytree(synth_tiny, root)
    filelist = pl.read_csv(root / "FileList.csv")
    big = {filelist.filter(pl.col("Split") == split)["FileName"][0]: size
           for split, size in (("TRAIN", (768, 1024)), ("TEST", (768, 1040)))}
    for name, size in big.items():
        path = root / "Videos" / f"{name}.avi"
        write_avi(path, fit_frame_size(read_video(path)[:70], size), 50.0)
    filelist = filelist.with_columns(
        FrameHeight=pl.when(pl.col("FileName").is_in(list(big))).then(768).otherwise(pl.col("FrameHeight")),
        FrameWidth=pl.col("FileName").replace_strict(
            {n: s[1] for n, s in big.items()}, default=pl.col("FrameWidth"), return_dtype=pl.Int64),
        NumberOfFrames=pl.when(pl.col("FileName").is_in(list(big))).then(70).otherwise(pl.col("NumberOfFrames")))
    filelist.write_csv(root / "FileList.csv")
    return root, sorted(big)


@pytest.mark.parametrize("protocol", ["echovisionfm", "echonet"])
def test_videos_of_other_sizes_are_resized_and_noted(protocol, mixed_sizes, tmp_path, monkeypatch):
    root, big = mixed_sizes
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "--backbone", "echo-videomae", "--head", "maxpool", "--data", str(root),
                                      "--protocol", protocol, "--epochs", "1", "--batch-size", "4", "--n-boot", "0",
                                      "--gpus", "0"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    note = "frame size differs from the dataset's 112x112 (resized to it): 2"
    (summary,) = [line for line in result.output.splitlines() if line.startswith("notes (videos kept):")]
    assert note in summary
    records = read_records(tmp_path / "leaderboard")
    assert records["protocol"].unique().to_list() == [protocol]
    assert json.loads(records["notes"][0])["frame size differs from the dataset's 112x112 (resized to it)"] == 2
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["notes"]["frame size differs from the dataset's 112x112 (resized to it)"] == 2
    preds = pl.read_parquet(run_dir / "predictions.parquet")
    assert big[0] in preds["FileName"].to_list() or big[1] in preds["FileName"].to_list()  # the TEST one is scored
    assert preds["prediction"].is_finite().all()


@pytest.mark.parametrize("workers", ["0", "2"])
def test_ctrl_c_while_decoding_stops_within_a_second(synth_tiny, tmp_path, monkeypatch, workers):
    """SIGINT during decoding ends `run` before the next video, within a second (it used to decode every
    video first, then stop after the first training step); also when worker processes decode (the
    default on a machine with cores to spare), which ignore the signal themselves (a terminal's Ctrl-C
    reaches them too) and are stopped: at most the videos in flight (2 workers x 2 prefetched) go on."""
    import os
    import signal
    import threading
    import time

    from echobench.data import clips

    monkeypatch.chdir(tmp_path)
    real, main, sent = clips.read_video, os.getpid(), []

    def slow_read(path):  # a dataset whose decoding takes a while
        k = 1  # this decode's number, claimed atomically whichever process it is in
        while True:
            try:
                os.close(os.open(tmp_path / f"decode-{k}", os.O_CREAT | os.O_EXCL))
                break
            except FileExistsError:
                k += 1
        if k == 2:  # the second decode sends the signal
            def interrupt():
                sent.append(time.monotonic())
                os.kill(main, signal.SIGINT)
                if os.getpid() != main:
                    os.kill(os.getpid(), signal.SIGINT)  # the worker gets it too, as from a terminal
            threading.Timer(0.1, interrupt).start()
        time.sleep(0.3)
        return real(path)

    monkeypatch.setattr(clips, "read_video", slow_read)
    result = CliRunner().invoke(app, ["run", "--backbone", "echo-videomae", "--head", "maxpool", "--data",
                                      str(synth_tiny), "--epochs", "1", "--gpus", "0",
                                      "--num-workers", workers])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "while decoding" in result.output and "Traceback" not in result.output
    assert result.output.count("stopping after the current step") == 1  # the run's voice only
    # it stops before the next video (the one being decoded when the signal came finishes: 0.3 s here);
    # workers may have started the few videos they prefetch; the count, not the wall clock, is
    # asserted, so a loaded machine cannot fail it
    decoded = list(tmp_path.glob("decode-*"))
    assert len(decoded) <= (3 if workers == "0" else 2 + 2 * 2 + 2) < 12, f"{len(decoded)} videos decoded"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
