"""The example third-party package's dataset layout (``example-clips``: labels.csv + clips/ of MP4
and AVI files, vendor/sex subgroups) runs `data check`, `run` and `score` end to end through the
registry, detected by its markers, with its bad rows counted (issue 14 item 3)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echobench.cli.main import app


def _to_mp4(src: Path, dst: Path) -> None:
    import av

    from echobench.data.video import read_video

    frames = read_video(src)
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("mpeg4", rate=50)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def clips_root(synth_tiny, tmp_path_factory) -> Path:
    """synth_tiny's 12 videos in the example layout (two as MP4), plus three bad rows."""
    root = tmp_path_factory.mktemp("example") / "clips-data"
    (root / "clips").mkdir(parents=True)
    shutil.copy(synth_tiny / "SYNTHETIC.json", root / "SYNTHETIC.json")
    filelist = pl.read_csv(synth_tiny / "FileList.csv")
    rows = [("clip", "split", "EF", "vendor", "sex")]
    for i, r in enumerate(filelist.iter_rows(named=True)):
        src = synth_tiny / "Videos" / f"{r['FileName']}.avi"
        name = f"{r['FileName']}.mp4" if i < 2 else f"{r['FileName']}.avi"
        (_to_mp4(src, root / "clips" / name) if i < 2 else shutil.copy(src, root / "clips" / name))
        rows.append((name if i % 3 else r["FileName"], r["Split"].lower(), r["EF"], ("GE", "Philips")[i % 2],
                     ("F", "M")[i // 2 % 2]))
    rows += [(rows[3][0], "train", 50, "GE", "F"), ("ghost.avi", "test", 40, "GE", "M"),
             ("extra-clip", "DEV", 60, "", "")]
    with (root / "labels.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return root


def test_reader_counts_every_bad_row(example_plugin, clips_root, synth_tiny):
    from echobench.data.resolve import resolve_dataset

    spec, data = resolve_dataset(None, clips_root)  # detected by labels.csv + clips/
    assert spec.name == "example-clips" and len(data.records) == 12
    assert dict(data.report.skipped) == {"duplicate clip": 1, "clip missing": 1, "unknown split": 1}
    assert {r.path.suffix for r in data.records} == {".mp4", ".avi"}
    assert {r.subgroups["vendor"] for r in data.records} == {"GE", "Philips"}
    filelist = pl.read_csv(synth_tiny / "FileList.csv")
    truth = {n: (fps, frames) for n, fps, frames in filelist.select("FileName", "FPS", "NumberOfFrames").iter_rows()}
    for r in data.records:  # read from each container without decoding it
        fps, frames = (50.0, truth[r.file_name][1]) if r.path.suffix == ".mp4" else truth[r.file_name]
        assert (r.fps, r.num_frames) == (pytest.approx(fps, rel=1e-3), frames)


def test_data_check_run_and_score(example_plugin, clips_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    check = runner.invoke(app, ["data", "check", str(clips_root)])
    assert check.exit_code == 0, check.output
    assert "example-clips@1" in check.output and "labels.csv" in check.output
    assert "duplicate clip" in check.output and "clip missing" in check.output

    result = runner.invoke(app, ["run", "--backbone", "example-c3d", "--head", "maxpool", "--task", "ef",
                                 "--data", str(clips_root), "--epochs", "1", "--batch-size", "4", "--gpus", "0",
                                 "--n-boot", "0"])
    assert result.exit_code == 0, result.output
    from echobench.results.records import read_records

    records = read_records(tmp_path / "leaderboard")
    assert set(records["evaluated_on_dataset"]) == {"example-clips"} == set(records["trained_on_dataset"])
    assert json.loads(records["skipped"][0]) == {"clip missing": 1, "duplicate clip": 1, "unknown split": 1}
    run_dir = Path(records["run_dir"][0])
    assert json.loads((run_dir / "config.json").read_text())["dataset_name"] == "example-clips"

    # subgroup strata (issue 16 item 4): one stratum per value of each subgroup column the dataset declares
    from echobench.data.resolve import resolve_dataset
    from echobench.evaluation.tracks import MIN_N, STRATA

    test = resolve_dataset("example-clips", clips_root, probe=False)[1].split("TEST")
    strata = records.filter((pl.col("track") == STRATA.tag) & (pl.col("model") == "example-c3d+maxpool"))
    for column in ("vendor", "sex"):
        for value in {r.subgroups[column] for r in test}:
            rows = strata.filter(pl.col("metric") == f"MAE[{column}:{value}]")
            assert rows["n"].to_list() == [sum(r.subgroups[column] == value for r in test)]
    board = runner.invoke(app, ["leaderboard", "--no-html", "--no-reported"])
    assert board.exit_code == 0, board.output
    assert "vendor:" in board.output and f"no (n < {MIN_N})" in board.output  # 2 TEST videos: shown, not ranked

    scored = runner.invoke(app, ["score", str(run_dir / "predictions.parquet"), "--n-boot", "0"])
    assert scored.exit_code == 0, scored.output
    mae = records.filter((pl.col("metric") == "MAE") & (pl.col("split") == "TEST") & (pl.col("clips") == "one")
                         & pl.col("track").is_null() & (pl.col("model") == "example-c3d+maxpool"))["value"][0]
    assert "EF (EF points)" in scored.output and f"{mae:.2f}" in scored.output
