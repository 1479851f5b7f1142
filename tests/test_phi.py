"""No patient data leaks: a DICOM whose identifying header fields hold a marker string goes through
`prepare dicom`, `pretrain` and `run`; the marker is in no file under the output folders and in
none of the commands' output (issue: reliability and security, item 3)."""

from __future__ import annotations

import shutil

import polars as pl
import pydicom
import pytest

from tests.cli.test_prepare_dicom import BIRTH, LOOP, MARKER, STUDY, echobench, with_identifiers


def _run(*args: str) -> tuple[bytes, bytes]:
    proc = echobench(*args)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    return stdout, stderr


@pytest.mark.slow
def test_marker_reaches_no_output_through_prepare_pretrain_and_run(tmp_path, synth_tiny):
    src, prepared, pretrained = tmp_path / "src", tmp_path / "prepared", tmp_path / "pt"
    (src / STUDY).mkdir(parents=True)
    with_identifiers(pydicom.dcmread(LOOP)).save_as(src / STUDY / "90000001_0001.dcm")
    logs = [_run("prepare", "dicom", str(src), str(prepared), "--workers", "1", "--size", "112", "--fps", "50")]
    logs.append(_run("pretrain", "echo-videomae", str(prepared), "--out", str(pretrained), "--preset", "tiny",
                     "--steps", "2", "--batch-size", "1", "--size", "32", "--gpus", "0"))
    # the prepared echo becomes one TRAIN video of an EchoNet-format dataset
    data = tmp_path / "data"
    shutil.copytree(synth_tiny, data)
    files = pl.read_csv(data / "FileList.csv")
    name = files.filter(pl.col("Split") == "TRAIN")["FileName"][0]
    (clip,) = [prepared / c for c in pl.read_parquet(prepared / "manifest.parquet")["clip"].drop_nulls()]
    shutil.copy(clip, data / "Videos" / f"{name}.avi")
    logs.append(_run("run", "--backbone", "echo-videomae", "--head", "maxpool", "--data", str(data), "--epochs", "1",
                     "--batch-size", "4", "--gpus", "0", "--n-boot", "0", "--weights",
                     str(pretrained / "encoder.safetensors"), "--results", str(tmp_path / "lb"),
                     "--runs", str(tmp_path / "runs")))
    logs.append(_run("leaderboard", "--results", str(tmp_path / "lb")))
    written = [p for folder in (prepared, pretrained, tmp_path / "runs", tmp_path / "lb") for p in folder.rglob("*")
               if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written) and any(p.name == "encoder.safetensors" for p in written)
    blobs = [(b, "command output") for pair in logs for b in pair] + [(p.read_bytes(), str(p)) for p in written]
    for blob, where in blobs:
        for secret in (MARKER, BIRTH):
            assert secret.encode() not in blob, f"{secret} found in {where}"
