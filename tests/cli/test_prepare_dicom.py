"""``echobench prepare dicom`` end to end in a real subprocess: no patient identifier reaches OUT,
stdout or stderr; a SIGKILL mid-way then a rerun leaves every input in the manifest exactly once;
unusable SRC/OUT give one ``error:`` line and exit 2."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.uid import MPEG4HP41
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.data.prepare import PrepareSettings, prepare_dicom
from echobench.data.video import read_video

MARKER = "ZZPHIMARKERZZ"
BIRTH = "19380417"
STUDY = "files/p10/p10000032/s90000001"
LOOP = Path(pydicom.data.__file__).parent / "test_files" / "examples_ybr_color.dcm"  # real echo, 30 JPEG frames
ROOT = Path(__file__).resolve().parents[2]


def echobench(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "120", "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    return subprocess.Popen([sys.executable, "-m", "echobench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT, **kwargs)


def with_identifiers(ds: pydicom.Dataset) -> pydicom.Dataset:
    for keyword in ("PatientName", "PatientID", "OtherPatientIDs", "AccessionNumber", "InstitutionName",
                    "ReferringPhysicianName", "OperatorsName", "StationName", "StudyID"):
        setattr(ds, keyword, MARKER)
    ds.PatientBirthDate = BIRTH
    return ds


def test_no_identifier_reaches_outputs_or_logs(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    (src / STUDY).mkdir(parents=True)
    with_identifiers(pydicom.dcmread(LOOP)).save_as(src / STUDY / "90000001_0001.dcm")  # ok
    ds = with_identifiers(pydicom.dcmread(LOOP))
    ds[0x00181063] = RawDataElement(Tag(0x00181063), "DS", 14, MARKER.encode() + b" ", 0, False, True)
    ds.save_as(src / STUDY / "90000001_0002.dcm")  # FrameTime holds the marker: pydicom would warn with it
    data = (src / STUDY / "90000001_0001.dcm").read_bytes()
    (src / STUDY / "90000001_0003.dcm").write_bytes(data[: len(data) // 2])  # truncated
    ds = with_identifiers(pydicom.dcmread(LOOP))
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    ds.save_as(src / STUDY / "90000001_0004.dcm")  # no decoder
    assert all(MARKER.encode() in p.read_bytes() for p in (src / STUDY).iterdir())

    proc = echobench("prepare", "dicom", str(src), str(out), "--workers", "2", "--size", "64")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    text = " ".join(stdout.decode().split())
    assert "4 files: 2 ok, 0 skipped, 2 failed (4 processed now, 0 done before)" in text, text
    assert "1 ok loop(s) had no frame timing" in text and "DICOM file is truncated" in text, text

    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".avi" for p in written) and (out / "manifest.parquet") in written
    for blob, where in [(stdout, "stdout"), (stderr, "stderr"), *((p.read_bytes(), str(p)) for p in written)]:
        for secret in (MARKER, BIRTH):
            assert secret.encode() not in blob, f"{secret} found in {where}"
    rows = pl.read_parquet(out / "manifest.parquet")
    assert rows["status"].to_list() == ["ok", "ok", "failed", "failed"]
    assert rows["source_fps"].is_null().to_list() == [False, True, True, True]


def start_on_copies(tmp_path, copies: int, workers: int) -> tuple[Path, Path, list[str], subprocess.Popen]:
    """``copies`` copies of the real loop under ``src``, and ``prepare dicom src out`` started on them
    in its own session: ``(src, out, names, process)``."""
    src, out = tmp_path / "src", tmp_path / "out"
    (src / STUDY).mkdir(parents=True)
    names = [f"{STUDY}/90000001_{i:04d}.dcm" for i in range(copies)]
    for name in names:
        shutil.copyfile(LOOP, src / name)
    proc = echobench("prepare", "dicom", str(src), str(out), "--workers", str(workers), "--size", "64",
                     start_new_session=True)
    return src, out, names, proc


def test_sigkill_then_rerun_records_each_file_once(tmp_path):
    src, out, names, proc = start_on_copies(tmp_path, 6, workers=1)
    parts = out / ".prepare" / "parts"
    deadline = time.monotonic() + 240
    try:
        while not list(parts.glob("*/*.json")):
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "no part file appeared"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the command and its worker, as the OOM killer or kill -9 would
        proc.communicate()
    done_before = len(list(parts.glob("*/*.json")))
    assert 1 <= done_before < len(names), done_before
    assert not (out / "manifest.parquet").exists()
    for clip in (out / "clips").rglob("*"):
        assert clip.is_dir() or (clip.suffix == ".avi" and not clip.name.startswith("."))
        if clip.is_file():
            assert read_video(clip).shape == (30, 64, 64, 3)  # finished clips only, never half-written

    summary = prepare_dicom(src, out, PrepareSettings(size=64), workers=0)
    assert (summary.reused, summary.processed) == (done_before, len(names) - done_before)
    rows = pl.read_parquet(out / "manifest.parquet")
    assert sorted(rows["source"].to_list()) == names and rows["source"].is_unique().all()
    assert set(rows["status"]) == {"ok"} and set(rows["frames"]) == {30}
    assert not list(parts.glob("*/*")) and not list((out / ".prepare" / "tmp").iterdir())


@pytest.mark.parametrize("case", ["missing src", "out is a file", "other settings", "no workers"])
def test_unusable_src_or_out_is_one_error_line(tmp_path, case):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "a.txt").write_text("not dicom")
    args = ["prepare", "dicom", str(src), str(out)]
    if case == "missing src":
        args[2] = str(tmp_path / "absent")
    elif case == "out is a file":
        out.write_text("x")
    elif case == "no workers":
        args += ["--workers", "0"]
    else:
        prepare_dicom(src, out, PrepareSettings(size=64), workers=0)
        args += ["--size", "96"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find the workers")
def test_workers_die_with_a_sigkilled_parent_and_the_rerun_is_exactly_once(tmp_path):
    src, out, names, proc = start_on_copies(tmp_path, 8, workers=2)
    parts = out / ".prepare" / "parts"
    deadline = time.monotonic() + 240
    workers: set[int] = set()
    try:
        while not (list(parts.glob("*/*.json")) and len(workers) >= 2):
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, f"no part file or workers appeared ({workers})"
            workers |= set(_children(proc.pid))  # the 2 pool workers (and multiprocessing's resource tracker)
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # the command alone, as the OOM killer would: nobody cleans up
        proc.wait(timeout=30)  # not communicate(): surviving workers would hold its pipes open
        gone_by = time.monotonic() + 5
        while any(map(_alive, workers)) and time.monotonic() < gone_by:
            time.sleep(0.1)
        survivors = [pid for pid in workers if _alive(pid)]
        assert not survivors, f"worker(s) {survivors} outlived their SIGKILLed parent by 5 s"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # clean up after a failure (our own process group only)
        except ProcessLookupError:
            pass
        proc.communicate()
    done_before = len(list(parts.glob("*/*.json")))
    summary = prepare_dicom(src, out, PrepareSettings(size=64), workers=0)
    assert summary.reused == done_before and summary.reused + summary.processed == len(names)
    rows = pl.read_parquet(out / "manifest.parquet")
    assert sorted(rows["source"].to_list()) == names and rows["source"].is_unique().all()
    assert set(rows["status"]) == {"ok"}


@pytest.mark.parametrize("case", ["bad shard", "missing shard"])
def test_shard_and_merge_misuse_is_one_error_line(tmp_path, case):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("not dicom")
    if case == "bad shard":
        args = ["prepare", "dicom", str(src), str(tmp_path / "out"), "--shard", "3/3"]
    else:
        for k in (0, 2):
            assert CliRunner().invoke(app, ["prepare", "dicom", str(src), str(tmp_path / f"s{k}"),
                                            "--shard", f"{k}/3", "--size", "64"]).exit_code == 0
        args = ["prepare", "merge", str(tmp_path / "s0"), str(tmp_path / "s2"), "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert ("--shard must be K/N" if case == "bad shard" else "shard(s) 1/3 missing") in lines[0]
