"""Run records: append-only, one Parquet file per run, written atomically (DESIGN §7, STYLE rule 7).

A record is long and tidy: one row per (model, split, metric), with the provenance of STYLE rule 6
on every row. Files are never rewritten; two runs finishing at once write two different files, so
no record is lost. Tables and plots are derived from the records by :mod:`echobench.results.leaderboard`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import polars as pl

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.Utf8,
    "created_at": pl.Utf8,  # ISO 8601, UTC
    "model": pl.Utf8,  # "backbone+head", or "constant (TRAIN mean)"
    "backbone": pl.Utf8,
    "head": pl.Utf8,
    "preset": pl.Utf8,
    "weights": pl.Utf8,
    "task": pl.Utf8,
    "task_version": pl.Utf8,
    "protocol": pl.Utf8,
    "protocol_version": pl.Utf8,
    "split": pl.Utf8,
    "metric": pl.Utf8,
    "value": pl.Float64,
    "units": pl.Utf8,
    "n": pl.Int64,
    "dataset": pl.Utf8,
    "dataset_hash": pl.Utf8,
    "synthetic": pl.Boolean,
    "seed": pl.Int64,
    "config_hash": pl.Utf8,
    "echobench_version": pl.Utf8,
    "plugin_versions": pl.Utf8,  # JSON {plugin: "dist version"}
    "git_sha": pl.Utf8,
    "device": pl.Utf8,
    "precision": pl.Utf8,
    "skipped": pl.Utf8,  # JSON {reason: count}
}


def records_dir(results: Path) -> Path:
    """Where run records live under a results (leaderboard) directory."""
    return Path(results) / "records"


def write_record(rows: list[dict[str, Any]], results: Path, run_id: str) -> Path:
    """Write one run's rows as ``<results>/records/<run_id>.parquet``: temp file, fsync, rename.

    Raises:
        FileExistsError: a record with this run id already exists (records are never overwritten).
    """
    frame = pl.DataFrame(rows, schema=RECORD_SCHEMA)
    target = records_dir(results) / f"{run_id}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise FileExistsError(f"{target}: run record already exists")
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    frame.write_parquet(tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


def read_records(results: Path) -> pl.DataFrame:
    """All run records under ``results`` as one frame (empty, with the schema, when there are none)."""
    files = sorted(records_dir(results).glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema=RECORD_SCHEMA)
    return pl.concat([pl.read_parquet(f).cast(RECORD_SCHEMA) for f in files], how="vertical")  # type: ignore[arg-type]
