"""Run records: append-only, one Parquet file per run, written atomically (DESIGN §7, STYLE rule 7).

A record is long and tidy: one row per (model, split, metric), with the provenance of STYLE rule 6
on every row. Files are never rewritten; two runs finishing at once write two different files, so
no record is lost. Tables and plots are derived from the records by :mod:`echobench.results.leaderboard`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from echobench.atomic import atomic_write_new_parquet

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.Utf8,
    "created_at": pl.Utf8,  # ISO 8601, UTC
    "source": pl.Utf8,  # "run" (measured here) or "reported" (published numbers, echobench.results.reported)
    "model": pl.Utf8,  # "backbone+head", or "constant (TRAIN mean)"
    "backbone": pl.Utf8,
    "head": pl.Utf8,
    "preset": pl.Utf8,
    "weights": pl.Utf8,
    "task": pl.Utf8,  # the task the row is scored as
    "task_version": pl.Utf8,
    "trained_on": pl.Utf8,  # the task the model was trained for (ef50 rows of an EF regression model: "ef")
    "protocol": pl.Utf8,
    "protocol_version": pl.Utf8,
    "split": pl.Utf8,
    "clips": pl.Utf8,  # test-time clips: "one", or "all" (EchoNet all-clips averaging)
    "metric": pl.Utf8,
    "value": pl.Float64,
    "ci_low": pl.Float64,  # 95 % bootstrap interval (fixed seed); NaN when not computed
    "ci_high": pl.Float64,
    "units": pl.Utf8,
    "n": pl.Int64,
    "dataset": pl.Utf8,
    "dataset_hash": pl.Utf8,
    "synthetic": pl.Boolean,
    "seed": pl.Int64,
    "config_hash": pl.Utf8,
    "setup_hash": pl.Utf8,  # config hash without the seed: runs sharing it are seeds of one setup
    "echobench_version": pl.Utf8,
    "plugin_versions": pl.Utf8,  # JSON {plugin: "dist version"}
    "git_sha": pl.Utf8,
    "device": pl.Utf8,
    "precision": pl.Utf8,
    "skipped": pl.Utf8,  # JSON {reason: count}
    "notes": pl.Utf8,  # JSON {reason: count}: videos kept but noted (reader's and decoder's notes, e.g. resized)
    "run_dir": pl.Utf8,  # where the run's predictions.parquet is (for the leaderboard's pictures)
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
    return atomic_write_new_parquet(frame, records_dir(results) / f"{run_id}.parquet")


def read_parquet_folder(folder: Path, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Every ``*.parquet`` in ``folder`` as one frame with ``schema`` (empty when there are none).

    Files written by older echobench versions lack newer columns: those read as null.
    """
    files = sorted(Path(folder).glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema=schema)
    frames = []
    for f in files:
        frame = pl.read_parquet(f)
        frames.append(frame.with_columns(pl.lit(None, dtype=t).alias(c) for c, t in schema.items()
                                         if c not in frame.columns).select(list(schema)).cast(schema))
    return pl.concat(frames, how="vertical")


def read_records(results: Path) -> pl.DataFrame:
    """All run records under ``results`` as one frame (empty, with the schema, when there are none)."""
    return read_parquet_folder(records_dir(results), RECORD_SCHEMA)
