"""Provenance every number carries (STYLE rule 6): config hash, dataset hash, git SHA, versions,
device. Small pure helpers; the runner assembles them into run records."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterable, Mapping

import echobench


def stable_hash(obj: Any, length: int = 12) -> str:
    """SHA-256 (hex, truncated) of the canonical JSON of ``obj``."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def dataset_hash(root: Path, videos: Iterable[tuple[str, int]],
                 labels: Mapping[str, Iterable[tuple[str, str, float]]] | None = None) -> str:
    """Hash of an EchoNet-format directory: the normalised content of FileList.csv and
    VolumeTracings.csv (:func:`echobench.data.echonet.canonical_content`: FileName without ``.avi``,
    values rather than their spelling, header case and column order ignored) plus the (FileName,
    frames) of every usable video. Cheap (no video bytes are read); changes whenever the labels, the
    splits, the tracings or the set of usable videos change, and only then: the same rows with and
    without ``.avi`` get one hash. A CSV that cannot be parsed is hashed by its bytes.

    ``labels`` (column -> ``(FileName, split, value)`` per usable video) adds the values of label
    columns that FileList.csv's normalised content does not already cover (an extra FileList column
    such as ``GLS``, or any column of a folder without a FileList.csv, i.e. another dataset layout);
    EchoNet's own EF/ESV/EDV leave the hash as it was."""
    from echobench.data.echonet import _FILELIST_COLUMNS, canonical_content
    from echobench.errors import DataError

    digest = hashlib.sha256()
    for name, kind in (("FileList.csv", "filelist"), ("VolumeTracings.csv", "tracings")):
        path = Path(root) / name
        if path.is_file():
            digest.update(name.encode())
            try:
                digest.update(canonical_content(path, kind))
            except DataError:
                digest.update(path.read_bytes())
    for file_name, frames in sorted(videos):
        digest.update(f"{file_name}:{frames};".encode())
    covered = _FILELIST_COLUMNS if (Path(root) / "FileList.csv").is_file() else ()
    for column, rows in sorted((labels or {}).items()):
        if column not in covered:
            digest.update(f"label {column}:".encode())
            for file_name, split, value in sorted(rows):
                digest.update(f"{file_name}:{split}:{float(value).hex()};".encode())
    return digest.hexdigest()[:16]


def file_sha256(path: str | Path, length: int = 16) -> str:
    """SHA-256 (hex, truncated) of a file's bytes, read in 1 MiB blocks.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def git_sha() -> str:
    """Git commit of the echobench source tree, ``"unknown"`` outside a checkout; ``+dirty`` if modified."""
    where = Path(echobench.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
        if not sha:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict[str, str]:
    """Versions of the packages a score depends on, plus Python and platform."""
    from importlib import metadata

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("echobench", "torch", "torchvision", "timm", "av", "numpy", "polars", "lightning", "torchmetrics"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "absent"
    from echobench.engine.allocator import applied

    if applied():  # CPU training: where freed memory went (speed only; numbers do not depend on it)
        versions["cpu_allocator"] = applied()
    return versions


def device_name(device) -> str:
    """Human-readable device, e.g. ``cuda:0 (NVIDIA H200)`` or ``cpu (x86_64, 2 threads)``."""
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"
