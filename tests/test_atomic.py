"""Atomic writers under a full disk (issue 13 item 3): whichever library fails (the file system,
polars, safetensors), the error is one WriteError line naming the file, and no temporary file stays."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys

import polars as pl
import pytest
import torch
from safetensors import SafetensorError

from echobench.atomic import atomic_save_safetensors, atomic_write_new_parquet, atomic_write_parquet, atomic_write_text
from echobench.errors import EchobenchError, WriteError

ENOSPC = "No space left on device (os error 28)"


def _full_parquet(self, *args, **kwargs):
    raise pl.exceptions.ComputeError(f"parquet: File out of specification: underlying IO error: {ENOSPC}")


def _full_safetensors(*args, **kwargs):
    raise SafetensorError(f"Error while serializing: I/O error: {ENOSPC}")


@pytest.mark.parametrize("write", [atomic_write_parquet, atomic_write_new_parquet])
def test_polars_disk_full_is_one_line_naming_the_file(tmp_path, monkeypatch, write):
    monkeypatch.setattr(pl.DataFrame, "write_parquet", _full_parquet)
    target = tmp_path / "record.parquet"
    with pytest.raises(WriteError) as info:
        write(pl.DataFrame({"a": [1]}), target)
    assert str(info.value).startswith(f"{target}: cannot write (ComputeError: ") and ENOSPC in str(info.value)
    assert isinstance(info.value, EchobenchError) and isinstance(info.value, OSError)
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_safetensors_disk_full_is_one_line_naming_the_file(tmp_path, monkeypatch):
    import safetensors.torch

    monkeypatch.setattr(safetensors.torch, "save_file", _full_safetensors)
    target = tmp_path / "best.safetensors"
    with pytest.raises(WriteError, match=rf"^{target}: cannot write \(SafetensorError: Error while serializing"):
        atomic_save_safetensors({"w": torch.zeros(2)}, target)
    assert list(tmp_path.iterdir()) == []


def test_text_into_a_missing_folder_names_the_file_not_the_temporary(tmp_path):
    target = tmp_path / "absent" / "config.json"
    with pytest.raises(WriteError) as info:
        atomic_write_text(target, "{}")
    assert str(info.value) == f"{target}: cannot write (FileNotFoundError: No such file or directory)"


def _file_size_limit(limit: int):
    def apply() -> None:  # a real EFBIG from the kernel, as a full disk gives ENOSPC
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return apply


def test_data_synth_on_a_full_disk_leaves_no_temporary_files(tmp_path):
    out = tmp_path / "synth"
    result = subprocess.run([sys.executable, "-m", "echobench", "data", "synth", str(out), "--videos", "3"],
                            preexec_fn=_file_size_limit(20_000), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {out}/Videos/SYN") and "cannot write" in lines[0], lines
    assert "Traceback" not in result.stderr
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == [] and not (out / "FileList.csv").exists()


def test_video_and_merged_clip_writers_fsync_before_the_rename(tmp_path, monkeypatch) -> None:
    """``write_avi`` (prepared clips) and ``prepare merge``'s clip copy flush the file before it gets
    its name; synthetic data (``durable=False``) is atomic without the flush."""
    import numpy as np

    import echobench.atomic
    from echobench.data.prepare_merge import _place
    from echobench.data.video import read_video, write_avi

    synced: list[int] = []
    real = echobench.atomic.os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(echobench.atomic.os, "fsync", fsync)
    frames = np.zeros((3, 16, 16), np.uint8)
    write_avi(tmp_path / "a.avi", frames, 25.0)
    assert len(synced) == 1
    write_avi(tmp_path / "b.avi", frames, 25.0, durable=False)
    assert len(synced) == 1 and read_video(tmp_path / "b.avi").shape == (3, 16, 16, 3)
    _place(tmp_path / "a.avi", tmp_path / "merged" / "a.avi")
    assert len(synced) == 2 and (tmp_path / "merged" / "a.avi").read_bytes() == (tmp_path / "a.avi").read_bytes()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.avi", "a.avi", "b.avi", "merged"]  # no temporary left
