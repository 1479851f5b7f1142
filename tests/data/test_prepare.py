"""Tests for echobench.data.prepare: real echo loops from pydicom-data and deid-data plus bad files in
a MIMIC-IV-ECHO-like tree, reruns, worker crashes, and the settings/lock guards."""

from __future__ import annotations

import functools
import json
import math
import operator
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import MPEG4HP41, ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

from echobench.data import prepare
from echobench.data.prepare import MANIFEST_SCHEMA, PrepareSettings, clip_name, find_inputs, prepare_dicom
from echobench.data.video import read_video
from echobench.errors import ConfigError, DataError

FPS, SIZE = 30.0, 112
STUDY = "files/p10/p10000032/s90000001"  # MIMIC-IV-ECHO layout


def _data_roots() -> list[Path]:
    """Folders of the test-data packages: pydicom's own, pydicom-data's and deid-data's."""
    try:
        import deid_data
    except ImportError:
        pytest.fail("deid-data is not installed (a test dependency)")
    colour = get_testdata_file("color3d_jpeg_baseline.dcm", download=False)  # never touch the network
    if colour is None:
        pytest.fail("pydicom-data is not installed (a test dependency)")
    return [Path(pydicom.data.__file__).parent / "test_files", Path(colour).parent,
            Path(deid_data.__file__).parent / "data"]


def real_loops(limit: int = 5) -> list[Path]:
    """The ``limit`` ultrasound (Modality US) multi-frame DICOMs shipped by the packages that are
    smallest once decoded (frames x rows x columns). (The largest, color3d_jpeg_baseline.dcm, 120 JPEG
    frames, is converted end to end by tests/data/test_dicom.py and tests/data/test_real_dicom_input.py.)"""
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for root in _data_roots():
            for path in root.rglob("*"):
                try:
                    ds = pydicom.dcmread(path, stop_before_pixels=True,
                                         specific_tags=["Modality", "NumberOfFrames", "Rows", "Columns"])
                    frames = int(ds.get("NumberOfFrames") or 1)
                    pixels = frames * int(ds.Rows) * int(ds.Columns)
                except Exception:
                    continue
                if ds.get("Modality") == "US" and frames > 1:
                    found.append((pixels, path.name, path))
    assert len(found) >= 4, f"too few echo loops in the test-data packages: {found}"
    return [path for _, _, path in sorted(found)[:limit]]


def header_timing(path: Path) -> tuple[int, float | None]:
    """(NumberOfFrames, frames/s) straight from the header: FrameTime, FrameTimeVector, CineRate."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    n = int(ds.NumberOfFrames)
    if ds.get("FrameTime"):
        return n, 1000.0 / float(ds.FrameTime)
    if ds.get("FrameTimeVector"):
        return n, 1000.0 / float(np.mean([float(v) for v in ds.FrameTimeVector][1:]))
    return n, float(ds.CineRate) if ds.get("CineRate") else None


def write_us(path: Path, **attrs) -> Path:
    """A small ultrasound Part 10 file (no pixel data unless given in ``attrs``)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Modality = "US"
    for key, value in attrs.items():
        setattr(ds, key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def small_loop() -> Path:
    return Path(pydicom.data.__file__).parent / "test_files" / "examples_ybr_color.dcm"  # 30 frames JPEG


def bad_files(src: Path) -> dict[str, tuple[str, str]]:
    """Write the bad inputs under ``src``; returns relative path -> (status, reason start)."""
    (src / "notes").mkdir(parents=True)
    (src / "notes" / "LICENSE.txt").write_text("not a DICOM file\n")
    write_us(src / STUDY / "90000001_0100.dcm")  # no PixelData
    still = _data_roots()[2] / "ultrasounds" / "GREYSCALE_IMAGE.dcm"  # a real one-frame US still
    shutil.copyfile(still, src / STUDY / "90000001_0101.dcm")
    ds = pydicom.dcmread(small_loop())
    ds.file_meta.TransferSyntaxUID = MPEG4HP41  # no decoder installed for MPEG-4 (none exists in pydicom)
    ds.save_as(src / STUDY / "90000001_0102.dcm")
    data = small_loop().read_bytes()
    (src / STUDY / "90000001_0103.dcm").write_bytes(data[: int(len(data) * 0.6)])  # cut inside the frames
    return {
        "notes/LICENSE.txt": ("skipped", "not a DICOM file"),
        f"{STUDY}/90000001_0100.dcm": ("skipped", "DICOM file has no pixel data"),
        f"{STUDY}/90000001_0101.dcm": ("skipped", "single-frame image"),
        f"{STUDY}/90000001_0102.dcm": ("failed", "no pixel data decoder exists for transfer syntax MPEG-4"),
        f"{STUDY}/90000001_0103.dcm": ("failed", "DICOM file is truncated"),  # it ends inside PixelData
    }


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """One run (in this process; the CLI tests use worker processes) over 5 real loops and the bad
    files: (src, out, summary, loops, bad)."""
    base = tmp_path_factory.mktemp("prepare")
    src, out = base / "src", base / "out"
    loops = {}
    for i, path in enumerate(real_loops()):
        rel = f"{STUDY}/90000001_{i:04d}.dcm"
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, src / rel)
        loops[rel] = path
    bad = bad_files(src)
    summary = prepare_dicom(src, out, PrepareSettings(fps=FPS, size=SIZE), workers=0)
    return src, out, summary, loops, bad


def manifest(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "manifest.parquet")


def test_real_loops_and_bad_files(prepared):
    src, out, summary, loops, bad = prepared
    frame = manifest(out)
    assert {name: str(dtype) for name, dtype in frame.schema.items()} == MANIFEST_SCHEMA
    assert sorted(frame["source"]) == sorted([*loops, *bad]) and frame["source"].is_unique().all()
    rows = {row["source"]: row for row in frame.iter_rows(named=True)}
    for rel, (status, reason) in bad.items():
        row = rows[rel]
        assert row["status"] == status and row["reason"].startswith(reason), row
        assert row["clip"] is None and row["frames"] == 0 and row["fps"] is None
    for rel, original in loops.items():
        row = rows[rel]
        assert row["status"] == "ok" and row["reason"] is None, row
        assert row["clip"] == "clips/" + rel[: -len(".dcm")] + ".avi"
        n, fps = header_timing(original)
        expected = n if fps is None else max(1, math.floor(n * FPS / fps + 0.5))
        assert (row["source_frames"], row["frames"], row["fps"]) == (n, expected, FPS), (rel, original.name, row)
        assert row["source_fps"] == (pytest.approx(fps) if fps else None)
        video = read_video(out / row["clip"])
        assert video.shape == (expected, SIZE, SIZE, 3) and (row["height"], row["width"]) == (SIZE, SIZE)
        assert 5 < video.mean() < 250, original.name
    counts = {"ok": len(loops), "skipped": 3, "failed": 2}
    assert summary.counts == counts and summary.processed == len(loops) + len(bad) and summary.reused == 0
    record = json.loads((out / "prepare.json").read_text())
    assert record["counts"] == counts and record["settings"]["fps"] == FPS and record["settings"]["size"] == SIZE
    assert sum(record["reasons"]["failed"].values()) == 2
    assert not list((out / ".prepare" / "parts").rglob("*.json"))  # merged into the manifest
    assert not list(out.rglob("*.tmp")) and not list((out / ".prepare" / "tmp").iterdir())


def test_resampling_changed_some_frame_counts(prepared):
    """The real loops include one not at 30 frames/s (deid-data's, 18.4 frames/s): it gains frames."""
    frame = manifest(prepared[1]).filter(pl.col("status") == "ok")
    resampled = frame.filter(pl.col("source_fps").is_not_null() & (pl.col("source_fps") - FPS).abs().gt(1))
    assert len(resampled) >= 1 and (resampled["frames"] > resampled["source_frames"]).all()
    assert frame.filter(pl.col("source_fps").is_null())["frames"].to_list() == \
        frame.filter(pl.col("source_fps").is_null())["source_frames"].to_list()


def _copy_out(prepared, tmp_path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(prepared[1], out)
    return out


def test_rerun_skips_done_files(prepared, tmp_path):
    src, _, first, loops, bad = prepared
    out = _copy_out(prepared, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in (out / "clips").rglob("*.avi")}
    again = prepare_dicom(src, out, PrepareSettings(fps=FPS, size=SIZE), workers=0)
    assert (again.processed, again.reused) == (0, len(loops) + len(bad))
    assert again.counts == first.counts
    assert {p: p.stat().st_mtime_ns for p in (out / "clips").rglob("*.avi")} == before
    assert manifest(out).equals(manifest(prepared[1]))

    # a deleted clip is made again; failed files are read again only when asked
    victim = out / manifest(out).filter(pl.col("status") == "ok").sort("frames")["clip"][0]  # the quickest
    victim.unlink()
    redo = prepare_dicom(src, out, PrepareSettings(fps=FPS, size=SIZE), workers=0)
    assert redo.processed == 1 and victim.is_file()
    retry = prepare_dicom(src, out, PrepareSettings(fps=FPS, size=SIZE), workers=0, retry_failed=True)
    assert retry.processed == first.counts["failed"] and retry.counts == first.counts
    assert manifest(out)["source"].is_unique().all() and len(manifest(out)) == len(loops) + len(bad)


def test_rerun_drops_rows_of_removed_sources_and_adds_new_ones(prepared, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(prepared[0], src)
    out = _copy_out(prepared, tmp_path)
    (src / "notes" / "LICENSE.txt").unlink()
    (src / "notes" / "README").write_text("new file\n")
    summary = prepare_dicom(src, out, PrepareSettings(fps=FPS, size=SIZE), workers=0)
    assert summary.processed == 1 and summary.dropped == 1
    sources = manifest(out)["source"].to_list()
    assert "notes/README" in sources and "notes/LICENSE.txt" not in sources


def test_other_settings_are_refused(prepared, tmp_path):
    out = _copy_out(prepared, tmp_path)
    with pytest.raises(ConfigError, match="size 112, this run asks for size 64"):
        prepare_dicom(prepared[0], out, PrepareSettings(fps=FPS, size=64), workers=0)


def test_bad_settings_and_folders(tmp_path):
    with pytest.raises(ConfigError, match="--fps"):
        PrepareSettings(fps=0)
    with pytest.raises(ConfigError, match="--crop"):
        PrepareSettings(crop="sector")
    with pytest.raises(DataError, match="source folder not found"):
        prepare_dicom(tmp_path / "absent", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").write_text("x")
    with pytest.raises(DataError, match="no files found"):
        prepare_dicom(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        prepare_dicom(tmp_path / "empty", tmp_path / "file")
    assert not (tmp_path / "out").exists()


def test_second_run_on_the_same_out_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("x")
    out = tmp_path / "out"
    (out / ".prepare").mkdir(parents=True)
    held = prepare._lock(out)
    try:
        with pytest.raises(DataError, match="another echobench prepare"):
            prepare_dicom(tmp_path / "src", out, workers=0)
    finally:
        held.close()
    assert prepare_dicom(tmp_path / "src", out, workers=0).counts["skipped"] == 1


def test_inputs_clip_names_and_clashes(tmp_path):
    src = tmp_path / "src"
    for rel in ("a/x.dcm", "a/x", "a/.hidden.dcm", ".git/config", "b/1.2.840.5", "b/UP.DCM", "out/clips/z.avi"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("not dicom")
    (src / "link").symlink_to(src / "b", target_is_directory=True)
    assert find_inputs(src, src / "out") == ["a/x", "a/x.dcm", "b/1.2.840.5", "b/UP.DCM"]
    assert [clip_name(r) for r in ("a/x.dcm", "b/1.2.840.5", "b/UP.DCM")] == \
        ["clips/a/x.avi", "clips/b/1.2.840.5.avi", "clips/b/UP.avi"]
    summary = prepare_dicom(src, src / "out", workers=0)  # OUT inside SRC is left out of the inputs
    rows = {r["source"]: r for r in manifest(src / "out").iter_rows(named=True)}
    assert rows["a/x.dcm"]["reason"] == "not a DICOM file"
    assert rows["a/x"]["reason"].startswith("clip name taken by another input")
    assert summary.inputs == 4


def test_unwritable_out_stops_the_batch_and_keeps_the_work(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for name in ("a.txt", "b.txt"):
        (src / name).write_text("not dicom")
    shutil.copyfile(real_loops(1)[0], src / "z.dcm")
    out.mkdir()
    (out / "clips").write_text("a file where the clips folder should be")
    with pytest.raises(OSError):
        prepare_dicom(src, out, workers=0)
    assert len(list((out / ".prepare" / "parts").rglob("*.json"))) == 2  # a.txt and b.txt are recorded
    assert not (out / "manifest.parquet").exists()
    (out / "clips").unlink()
    summary = prepare_dicom(src, out, workers=0)
    assert (summary.processed, summary.reused) == (1, 2) and summary.counts["ok"] == 1


# --- a worker that dies -----------------------------------------------------------------------------


def test_worker_crash_costs_only_its_file():
    # Jobs are callables and the task calls them, so the spawned workers import nothing heavy.
    poison = functools.partial(os._exit, 3)  # like a segfault in a decoder
    jobs = [poison, functools.partial(dict, source="fine", status="ok"),
            functools.partial(dict, source="also fine", status="ok")]
    rows = []
    prepare._run_pool(jobs, 1, rows.append, task=operator.methodcaller("__call__"),
                      crashed=lambda job: {"source": "poison" if job is poison else "?", "status": "failed"})
    assert sorted((row["source"], row["status"]) for row in rows) == \
        [("also fine", "ok"), ("fine", "ok"), ("poison", "failed")]


def test_pretrainer_reads_the_prepared_folder(prepared):
    """The contract with the MAE pre-trainer: it finds exactly the ok clips, with their frame counts."""
    from echobench.data.pretrain_clips import list_pretrain_videos

    out = prepared[1]
    ok = manifest(out).filter(pl.col("status") == "ok")
    videos = list_pretrain_videos(out)
    assert videos.source == "manifest"
    assert videos.paths == [out / clip for clip in ok["clip"]] and videos.frames == ok["frames"].to_list()


def test_pretraining_on_the_prepared_real_loops_lowers_the_loss(prepared, tmp_path):
    """Issue check: prepare the real echo DICOMs, then pre-train a few CPU steps on the result."""
    from echobench.engine.pretrain_loop import PretrainConfig, pretrain

    cfg = PretrainConfig(method="echo-videomae", data=prepared[1], out=tmp_path, options={"preset": "tiny", "size": 32},
                         steps=12, batch_size=2, lr=2e-3, seed=0, gpus=0, save_every=12, keep=1, num_workers=0)
    losses = pretrain(cfg).losses
    assert len(losses) == 12 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4, losses


# --- burnt-in text, sharding (issue 12 item 4, issue 13 item 11, issue 15 item 3) -------------------


def test_manifest_reports_the_region_and_the_mask(prepared):
    src, out, _, loops, _ = prepared
    rows = {row["source"]: row for row in manifest(out).iter_rows(named=True)}
    ok = [rows[rel] for rel in loops]
    assert {row["mask"] for row in ok} <= {"fan", "fan not found"} and any(row["mask"] == "fan" for row in ok)
    assert all(0 < row["mask_kept"] <= 1 and row["region"] in ("header", "estimate") for row in ok)
    assert all(row["mask_kept"] < 1 for row in ok if row["mask"] == "fan")
    reduced = [rel for rel, path in loops.items() if path.name == "examples_ybr_color.dcm"]  # 240x320 copy
    assert reduced and rows[reduced[0]]["region"] == "estimate"  # of a 480x640 loop: its region exceeds it
    assert "region exceeds the 320x240 image" in rows[reduced[0]]["notes"]
    assert json.loads((out / "prepare.json").read_text())["settings"]["burned_in"] == "mask"


def _flagged_and_plain(src: Path) -> tuple[str, str]:
    flagged = _data_roots()[2] / "ultrasounds" / "ultrasound-multiframe.dcm"  # BurnedInAnnotation YES
    assert pydicom.dcmread(flagged, stop_before_pixels=True).BurnedInAnnotation == "YES"
    (src / STUDY).mkdir(parents=True)
    shutil.copyfile(flagged, src / STUDY / "flagged.dcm")
    shutil.copyfile(small_loop(), src / STUDY / "plain.dcm")
    return f"{STUDY}/flagged.dcm", f"{STUDY}/plain.dcm"


def test_burned_in_skip_refuses_flagged_files_and_keep_keeps_every_pixel(tmp_path):
    src = tmp_path / "src"
    flagged, plain = _flagged_and_plain(src)
    summary = prepare_dicom(src, tmp_path / "skip", PrepareSettings(size=32, burned_in="skip"), workers=0)
    rows = {row["source"]: row for row in manifest(tmp_path / "skip").iter_rows(named=True)}
    assert rows[flagged]["status"] == "skipped"
    assert rows[flagged]["reason"] == "burnt-in annotation (BurnedInAnnotation YES)"
    assert summary.reasons["skipped"] == {"burnt-in annotation (BurnedInAnnotation YES)": 1}
    assert rows[plain]["status"] == "ok" and rows[plain]["mask"] == "fan"  # the rest is masked
    assert json.loads((tmp_path / "skip" / "prepare.json").read_text())["settings"]["burned_in"] == "skip"

    prepare_dicom(src, tmp_path / "keep", PrepareSettings(size=32, burned_in="keep"), workers=0)
    rows = {row["source"]: row for row in manifest(tmp_path / "keep").iter_rows(named=True)}
    assert all(row["status"] == "ok" and row["mask"] == "none" and row["mask_kept"] == 1.0 for row in rows.values())
    with pytest.raises(ConfigError, match="burned_in skip, this run asks for burned_in keep"):
        prepare_dicom(src, tmp_path / "skip", PrepareSettings(size=32, burned_in="keep"), workers=0)
    with pytest.raises(ConfigError, match="--burned-in"):
        PrepareSettings(burned_in="blur")


def _clip_bytes(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "clips").rglob("*.avi"))}


def test_shards_then_merge_equal_one_unsharded_prepare(prepared, tmp_path):
    from echobench.data.prepare import Shard
    from echobench.data.prepare_merge import merge_prepared

    src, whole, _, loops, bad = prepared
    pieces = [tmp_path / f"shard{k}" for k in range(3)]
    sizes = []
    for k, piece in enumerate(pieces):
        summary = prepare_dicom(src, piece, PrepareSettings(fps=FPS, size=SIZE), workers=0, shard=Shard(k, 3))
        sizes.append(summary.inputs)
        assert json.loads((piece / "prepare.json").read_text())["settings"]["shard"] == f"{k}/3"
    assert sum(sizes) == len(loops) + len(bad) and max(sizes) < sum(sizes)  # a real partition
    with pytest.raises(ConfigError, match="shard 2/3, this run asks for shard 1/3"):
        prepare_dicom(src, pieces[2], PrepareSettings(fps=FPS, size=SIZE), workers=0, shard=Shard(1, 3))

    merged = merge_prepared(list(reversed(pieces)), tmp_path / "merged")
    assert manifest(tmp_path / "merged").equals(manifest(whole))  # same rows, exactly once per file
    assert _clip_bytes(tmp_path / "merged") == _clip_bytes(whole)  # same clip bytes
    assert merged.counts == prepared[2].counts and merged.inputs == len(loops) + len(bad)
    record = json.loads((tmp_path / "merged" / "prepare.json").read_text())
    assert record["settings"] == json.loads((whole / "prepare.json").read_text())["settings"]
    again = prepare_dicom(src, tmp_path / "merged", PrepareSettings(fps=FPS, size=SIZE), workers=0)
    assert (again.processed, again.reused) == (0, len(loops) + len(bad))  # resumes like its own

    with pytest.raises(ConfigError, match="shard.s. 1/3 missing"):
        merge_prepared([pieces[0], pieces[2]], tmp_path / "partial")
    with pytest.raises(ConfigError, match="given twice"):
        merge_prepared([pieces[0], pieces[0], pieces[1], pieces[2]], tmp_path / "twice")
    with pytest.raises(ConfigError, match="not a shard"):
        merge_prepared([whole], tmp_path / "unsharded")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine\n")
    with pytest.raises(DataError, match="not empty and not an earlier merge"):
        merge_prepared(pieces, tmp_path / "busy")
    assert merge_prepared(pieces, tmp_path / "merged").inputs == merged.inputs  # an earlier merge is redone
    for text in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(ConfigError, match="--shard"):
            Shard.parse(text)


def test_flagged_still_without_a_fan_to_mask_is_skipped(tmp_path):
    still = _data_roots()[2] / "ultrasounds" / "GREYSCALE_IMAGE.dcm"  # a real one-frame US, BurnedInAnnotation YES
    (tmp_path / "src").mkdir()
    shutil.copyfile(still, tmp_path / "src" / "still.dcm")
    prepare_dicom(tmp_path / "src", tmp_path / "out", PrepareSettings(size=32, min_frames=1), workers=0)
    row = manifest(tmp_path / "out").row(0, named=True)
    assert (row["status"], row["reason"]) == ("skipped", "burnt-in annotation and no scan sector found to mask")
    prepare_dicom(tmp_path / "src", tmp_path / "keep", PrepareSettings(size=32, min_frames=1, burned_in="keep"),
                  workers=0)
    assert manifest(tmp_path / "keep")["status"].to_list() == ["ok"]  # kept when asked


def test_default_workers_follow_the_cpus_and_the_memory(monkeypatch):
    """Issue 15 item 5: one worker per available CPU (was min(4, CPUs)), fewer when memory is short."""
    from echobench.data import prepare

    monkeypatch.setattr(prepare, "_cpus", lambda: 64)
    monkeypatch.setattr(prepare, "_memory", lambda: 256 << 30)
    assert prepare.default_workers() == 64
    monkeypatch.setattr(prepare, "_memory", lambda: 6 << 30)
    assert prepare.default_workers() == 6
    monkeypatch.setattr(prepare, "_memory", lambda: None)
    assert prepare.default_workers() == 64
    monkeypatch.setattr(prepare, "_cpus", lambda: 1)
    monkeypatch.setattr(prepare, "_memory", lambda: 1 << 20)
    assert prepare.default_workers() == 1


def test_worker_memory_is_the_smallest_of_available_memory_and_the_cgroup_limit(tmp_path, monkeypatch):
    """A 64-CPU node whose job may use 16 GiB (SLURM/container cgroup) runs 16 workers, not one per CPU."""
    from echobench.data import prepare

    (tmp_path / "meminfo").write_text("MemTotal:       263000000 kB\nMemAvailable:   250000000 kB\n")
    (tmp_path / "memory.max").write_text(f"{16 << 30}\n")
    (tmp_path / "v1").write_text("9223372036854771712\n")  # cgroup v1 without a limit
    files = ((str(tmp_path / "meminfo"), "MemAvailable:"), (str(tmp_path / "memory.max"), None),
             (str(tmp_path / "v1"), None))
    monkeypatch.setattr(prepare, "_MEMORY_FILES", files)
    assert prepare._memory() == min(16 << 30, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    monkeypatch.setattr(prepare, "_cpus", lambda: 64)
    monkeypatch.setattr(prepare, "_memory", lambda: 16 << 30)
    assert prepare.default_workers() == 16
    (tmp_path / "memory.max").write_text("max\n")  # cgroup v2 without a limit: MemAvailable decides
    monkeypatch.undo()
    monkeypatch.setattr(prepare, "_MEMORY_FILES", files)
    assert prepare._memory() == min(250000000 * 1024, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
