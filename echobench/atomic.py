"""Atomic file writes: temporary file in the same folder, fsync, rename (DESIGN §8).

A reader never sees a half-written file, and a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` newlines) to ``path`` atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def fsync_replace(tmp: str | os.PathLike, target: str | os.PathLike) -> None:
    """Flush a finished temporary file to disk, then rename it over ``target`` (atomic publish)."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` (e.g. an encoded PNG) to ``path`` atomically; the temporary file is removed on failure."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _parquet_tmp(frame, target: Path) -> Path:
    """Write ``frame`` to a hidden temporary file beside ``target`` and fsync it."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame.write_parquet(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_parquet(frame, target: str | os.PathLike) -> Path:
    """Write a polars DataFrame to ``target``, replacing it if present: temp file, fsync, rename."""
    target = Path(target)
    tmp = _parquet_tmp(frame, target)
    try:
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def atomic_write_new_parquet(frame, target: str | os.PathLike) -> Path:
    """Write a polars DataFrame to ``target`` that must not exist yet: temp file, fsync, rename.

    For append-only record folders: two writers never share a name, so nothing is overwritten and
    a reader sees a whole file or none.

    Raises:
        FileExistsError: ``target`` already exists (records are never overwritten).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise FileExistsError(f"{target}: record already exists")
    tmp = _parquet_tmp(frame, target)
    try:
        try:
            os.link(tmp, target)  # atomic and never replaces: fails if another writer got there first
        except FileExistsError:
            raise FileExistsError(f"{target}: record already exists") from None
        except OSError:  # file systems without hard links
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
