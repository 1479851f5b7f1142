"""Tests for the synthetic EchoNet-format generator and the method of discs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echobench.data.discs import disc_volume_ml, volumes_from_tracings
from echobench.data.synth import CM_PER_PIXEL, synthesize, synthetic_filelist
from echobench.data.video import read_video
from echobench.errors import ConfigError, DataError

VIDEOS, SEED = 12, 7
FILELIST_COLUMNS = ["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split"]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, object, list[int]]:
    out = tmp_path_factory.mktemp("synth") / "echonet"
    calls: list[int] = []
    summary = synthesize(out, videos=VIDEOS, seed=SEED, progress=calls.append)
    return out, summary, calls


@pytest.fixture(scope="module")
def filelist(dataset) -> pl.DataFrame:
    return pl.read_csv(dataset[0] / "FileList.csv")


@pytest.fixture(scope="module")
def tracings(dataset) -> pl.DataFrame:
    return pl.read_csv(dataset[0] / "VolumeTracings.csv")


def test_layout_and_metadata(dataset, filelist, tracings):
    out, summary, calls = dataset
    assert calls == [1] * VIDEOS
    assert filelist.columns == FILELIST_COLUMNS
    assert tracings.columns == ["FileName", "X1", "Y1", "X2", "Y2", "Frame"]
    names = filelist["FileName"].to_list()
    assert names == [f"SYN{i:07d}" for i in range(1, VIDEOS + 1)]
    assert sorted(p.name for p in (out / "Videos").iterdir()) == [f"{n}.avi" for n in names]
    assert set(tracings["FileName"].to_list()) == {f"{n}.avi" for n in names}
    assert set(filelist["Split"].to_list()) <= {"TRAIN", "VAL", "TEST"}
    assert (filelist["FrameHeight"] == 112).all() and (filelist["FrameWidth"] == 112).all()
    counts = dict(filelist["Split"].value_counts().iter_rows())
    assert (summary.train, summary.val, summary.test) == (counts.get("TRAIN", 0), counts["VAL"], counts["TEST"])
    assert summary.videos == VIDEOS and summary.ef_mean == pytest.approx(filelist["EF"].mean())
    meta = json.loads((out / "SYNTHETIC.json").read_text())
    assert meta["seed"] == SEED and meta["videos"] == VIDEOS and meta["cm_per_pixel"] == CM_PER_PIXEL
    assert meta["synthetic"] is True and "not patient data" in meta["note"]
    # Every video: two traced frames inside the video, 1 long axis + 20 chords each, inside the frame.
    per_video = tracings.group_by("FileName").agg(pl.len(), pl.col("Frame").n_unique().alias("frames"))
    assert (per_video["len"] == 42).all() and (per_video["frames"] == 2).all()
    coords = tracings.select("X1", "Y1", "X2", "Y2").to_numpy()
    assert coords.min() >= 0 and coords.max() <= 111
    joined = tracings.with_columns(pl.col("FileName").str.replace(r"\.avi$", "")).join(filelist, on="FileName")
    assert ((joined["Frame"] >= 0) & (joined["Frame"] < joined["NumberOfFrames"])).all()


def test_chords_are_perpendicular_to_the_long_axis(tracings):
    rows = tracings.select("X1", "Y1", "X2", "Y2").to_numpy().reshape(-1, 21, 4)
    axis = rows[:, 0, 2:] - rows[:, 0, :2]
    chords = rows[:, 1:, 2:] - rows[:, 1:, :2]
    cos = np.einsum("fk,fnk->fn", axis, chords) / np.linalg.norm(axis, axis=1)[:, None] / np.linalg.norm(chords, axis=2)
    assert np.abs(cos).max() < 1e-4


def test_labels_recomputed_from_written_chords(filelist, tracings):
    volumes = volumes_from_tracings(tracings, CM_PER_PIXEL)
    per_video = volumes.group_by("FileName", maintain_order=True).agg(
        pl.col("Volume").max().alias("ED"), pl.col("Volume").min().alias("ES"), pl.len())
    table = filelist.join(per_video, on="FileName", how="left")
    assert (table["len"] == 2).all()
    for row in table.iter_rows(named=True):
        assert row["ED"] == pytest.approx(row["EDV"], rel=0.01), row["FileName"]
        assert row["ES"] == pytest.approx(row["ESV"], rel=0.01), row["FileName"]
        assert row["EF"] == pytest.approx((row["EDV"] - row["ESV"]) / row["EDV"] * 100, abs=1e-4)
        assert row["EF"] == pytest.approx((row["ED"] - row["ES"]) / row["ED"] * 100, abs=0.5)
    # The label-only path gives what synthesize() wrote.
    labels = synthetic_filelist(videos=VIDEOS, seed=SEED)
    assert labels["FileName"].to_list() == filelist["FileName"].to_list()
    assert labels["Split"].to_list() == filelist["Split"].to_list()
    for column in ("EF", "ESV", "EDV"):
        np.testing.assert_allclose(labels[column].to_numpy(), filelist[column].to_numpy(), atol=1e-6)


def test_same_seed_same_bytes_other_seed_differs(dataset, tmp_path):
    again = synthesize(tmp_path / "again", videos=VIDEOS, seed=SEED, workers=1)  # fixture: default threads
    assert _files(dataset[0]) == _files(again.out)
    other = _files(synthesize(tmp_path / "other", videos=3, seed=SEED + 1).out)
    first = _files(dataset[0])
    assert other["FileList.csv"] != first["FileList.csv"]
    assert other["Videos/SYN0000001.avi"] != first["Videos/SYN0000001.avi"]


def test_ef_distribution_like_echonet():
    labels = synthetic_filelist(videos=200, seed=0)
    ef = labels["EF"].to_numpy()
    assert 52 <= ef.mean() <= 60 and 9 <= ef.std(ddof=1) <= 15
    assert (ef < 40).sum() >= 5 and ef.min() >= 6.9 and ef.max() <= 85.1
    edv = labels["EDV"].to_numpy()
    assert 70 <= edv.mean() <= 115 and (labels["ESV"] < labels["EDV"]).all()
    splits = labels["Split"].value_counts()
    assert dict(splits.iter_rows()) == {"TRAIN": 150, "VAL": 25, "TEST": 25}


def test_videos_decode_and_show_the_contracting_ventricle(dataset, filelist, tracings):
    out = dataset[0]
    larger = 0
    for name, frames in filelist.select("FileName", "NumberOfFrames").iter_rows():
        video = read_video(out / "Videos" / f"{name}.avi")
        assert video.shape == (frames, 112, 112, 3)
        rows = tracings.filter(pl.col("FileName") == f"{name}.avi")
        traced = volumes_from_tracings(rows, CM_PER_PIXEL)
        ed = int(traced.sort("Volume")["Frame"][-1])
        es = int(traced.sort("Volume")["Frame"][0])
        box = rows.filter(pl.col("Frame") == ed).select("X1", "Y1", "X2", "Y2").to_numpy()
        x0, x1 = int(box[:, [0, 2]].min()), int(math.ceil(box[:, [0, 2]].max())) + 1
        y0, y1 = int(box[:, [1, 3]].min()), int(math.ceil(box[:, [1, 3]].max())) + 1
        dark_ed = (video[ed, y0:y1, x0:x1, 0] < 40).sum()
        dark_es = (video[es, y0:y1, x0:x1, 0] < 40).sum()
        larger += dark_ed > dark_es
        # The cavity at the traced ED frame is dark where the chords run.
        mid = box[1:].reshape(-1, 2, 2).mean(axis=1)
        assert np.median(video[ed, np.rint(mid[:, 1]).astype(int), np.rint(mid[:, 0]).astype(int), 0]) < 40
    assert larger >= 0.8 * len(filelist)


def test_refuses_to_overwrite_real_data(tmp_path):
    (tmp_path / "FileList.csv").write_text("FileName,EF\n0X1,50\n")
    with pytest.raises(DataError, match="SYNTHETIC.json"):
        synthesize(tmp_path, videos=1, seed=0)
    with pytest.raises(ConfigError):
        synthesize(tmp_path / "new", videos=0, seed=0)


def test_disc_volume_of_a_cylinder():
    length, diameter, spacing = 10.0, 4.0, 0.1
    axis = np.array([5.0, 1.0, 5.0, 1.0 + length])
    ys = 1.0 + (np.arange(20) + 0.5) * length / 20
    chords = np.column_stack([np.full(20, 3.0), ys, np.full(20, 3.0 + diameter), ys])
    expected = math.pi / 4 * diameter**2 * length * spacing**3
    assert disc_volume_ml(axis, chords, spacing) == pytest.approx(expected, rel=1e-12)
    # A cone by discs (d_i grows linearly): sum of discs, not the exact cone volume.
    cone = chords.copy()
    cone[:, 2] = cone[:, 0] + (np.arange(20) + 0.5) / 20 * diameter
    discs = sum(math.pi / 4 * ((i + 0.5) / 20 * diameter) ** 2 * length / 20 for i in range(20)) * spacing**3
    assert disc_volume_ml(axis, cone, spacing) == pytest.approx(discs, rel=1e-12)
    with pytest.raises(ValueError):
        disc_volume_ml(axis, chords[:, :3], spacing)
    with pytest.raises(ValueError):
        disc_volume_ml(axis, chords, 0.0)


def test_volumes_from_tracings_groups_in_file_order():
    def frame(name, index, d, length=10.0):
        rows = [(name, 0.0, 0.0, 0.0, length, index)] + [(name, 0.0, 1.0, d, 1.0, index)] * 20
        return rows

    rows = frame("B.avi", 7, 2.0) + frame("A", 3, 4.0) + frame("B", 9, 1.0) + [("C.avi", 0.0, 0.0, 0.0, 5.0, 1)]
    table = pl.DataFrame(rows, schema=["FileName", "X1", "Y1", "X2", "Y2", "Frame"], orient="row")
    volumes = volumes_from_tracings(table, 1.0)
    assert volumes["FileName"].to_list() == ["B", "A", "B", "C"]
    assert volumes["Frame"].to_list() == [7, 3, 9, 1]
    got = volumes["Volume"].to_list()
    assert got[:3] == pytest.approx([math.pi / 4 * d * d * 10.0 for d in (2.0, 4.0, 1.0)])
    assert got[3] is None
    with pytest.raises(DataError, match="Frame"):
        volumes_from_tracings(table.drop("Frame"), 1.0)
