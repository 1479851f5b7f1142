"""A derived index of the run records, so a leaderboard reads only the records new since the last one
(issue 15 item 7: the cost of a board grows with new records only).

``<results>/.cache/records.parquet`` holds every readable record's rows (conformed to
:data:`~echobench.results.records.RECORD_SCHEMA`) with the file each came from, and
``<results>/.cache/records-index.json`` the ``(size, mtime_ns)`` of every record file it has seen
and, for a file that was skipped, the reason. A call lists ``records/`` (one ``stat`` per file), reads
only the files that are new or changed (one scan, :func:`~echobench.results.records.read_parquet_files`),
drops the rows of files that are gone, reports the known bad files again with their reasons, and
writes the index back atomically. The records stay the only source of truth (STYLE rule 7): the
index is rebuilt from them whenever it is missing, unreadable, of another version or schema, and a
results folder that cannot be written is read without one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import polars as pl

from echobench.results.records import REQUIRED, RECORD_SCHEMA, OnSkip, read_parquet_files, records_dir

log = logging.getLogger(__name__)

INDEX_VERSION = 1
FILE = "_record_file"  # the index's extra column: the record file's name


def _cache(results: Path) -> tuple[Path, Path]:
    folder = Path(results) / ".cache"
    return folder / "records.parquet", folder / "records-index.json"


def _stat(entry: os.DirEntry) -> list[int] | None:
    """``[size, mtime_ns]`` of a regular file; None for anything else (checked again every call)."""
    try:
        if not entry.is_file():
            return None
        st = entry.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _load(rows_path: Path, index_path: Path) -> tuple[pl.DataFrame | None, dict]:
    """The saved rows and the file index, or ``(None, {})`` when either is missing or stale."""
    try:
        index = json.loads(index_path.read_text())
        if index.get("version") != INDEX_VERSION or index.get("schema") != list(RECORD_SCHEMA):
            return None, {}
        rows = pl.read_parquet(rows_path)
        if rows.columns != [*RECORD_SCHEMA, FILE]:
            return None, {}
        return rows, index["files"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, pl.exceptions.PolarsError):
        return None, {}


def read_indexed(results: Path, *, on_skip: OnSkip | None = None) -> pl.DataFrame:
    """Every record under ``results`` as :func:`~echobench.results.records.read_records` gives it,
    reading only the record files new or changed since the index was written.

    Raises nothing for a bad index (it is rebuilt) or an unwritable cache folder (logged at debug).
    """
    if on_skip is None:
        on_skip = lambda path, reason: log.warning("skipped %s: %s", path, reason)  # noqa: E731
    folder = records_dir(results)
    try:
        entries = sorted((e for e in os.scandir(folder) if e.name.endswith(".parquet")), key=lambda e: e.name)
    except OSError:
        entries = []
    rows_path, index_path = _cache(results)
    cached, known = _load(rows_path, index_path)
    stats = {e.name: _stat(e) for e in entries}
    present = set(cached[FILE].unique().to_list()) if cached is not None else set()
    fresh = {name for name, st in stats.items() if st is not None and known.get(name, {}).get("stat") == st
             and (name in present or known[name].get("skipped"))}  # two boards at once: never trust a row not saved
    to_read = [folder / name for name in stats if name not in fresh]
    for name in sorted(fresh):
        if known[name].get("skipped"):
            on_skip(folder / name, known[name]["skipped"])
    skipped: dict[str, str] = {}

    def note(path: Path, reason: str) -> None:
        skipped[path.name] = reason
        on_skip(path, reason)

    new = read_parquet_files(to_read, RECORD_SCHEMA, required=REQUIRED, on_skip=note, file_column=FILE)
    kept = (cached.filter(pl.col(FILE).is_in(sorted(fresh))) if cached is not None
            else pl.DataFrame(schema={**RECORD_SCHEMA, FILE: pl.Utf8}))
    rows = pl.concat([kept, new], how="vertical").sort(FILE, maintain_order=True)
    if to_read or cached is None or kept.height != cached.height:
        files = {name: {"stat": st, "skipped": skipped.get(name) or (known.get(name, {}).get("skipped")
                                                                     if name in fresh else None)}
                 for name, st in stats.items() if st is not None}
        _save(rows, files, rows_path, index_path)
    return rows.drop(FILE)


def _save(rows: pl.DataFrame, files: dict, rows_path: Path, index_path: Path) -> None:
    from echobench.atomic import atomic_write_parquet, atomic_write_text
    from echobench.errors import WriteError

    try:
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_parquet(rows, rows_path)  # rows first: an index never names rows that are not saved
        atomic_write_text(index_path, json.dumps({"version": INDEX_VERSION, "schema": list(RECORD_SCHEMA),
                                                  "files": files}))
    except (OSError, WriteError, pl.exceptions.PolarsError) as exc:
        log.debug("record index not saved under %s: %s", rows_path.parent, exc)
