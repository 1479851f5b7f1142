"""Throughput records: append-only, one Parquet file per ``echobench bench`` run, written atomically,
in ``<results>/throughput/`` (beside the accuracy records of :mod:`echobench.results.records`).

A record is long and tidy: one row per (subject, mode, metric), each carrying its provenance (STYLE
rule 6): device, dtype, thread count, package versions, git SHA, input, batch and repeats.
``kind`` says what was measured:

- ``peak``: the matrix-multiply peak (``GFLOP/s``) of the device and dtype, measured in the run;
- ``model``: a registered backbone+head: ``params`` (M), ``gflops_per_clip``, ``clips_per_s``,
  ``gflops_per_s``, ``utilization`` (fraction of the peak), ``peak_memory`` (MiB), each for mode
  ``inference`` or ``train``; a model that could not run has one ``skipped`` row with the reason
  in ``note``; with ``--breakdown`` also, for mode ``inference``, ``time_share_{matmul,attention,other}``
  (fractions of the profiled time), ``utilization_{matmul,attention}`` (each class's counted FLOPs
  over its own time, as a fraction of the peak, derived from the model's utilization and the
  shares) and ``utilization_ceiling``
  (:mod:`echobench.bench.breakdown`);
- ``peer``: our encoder and its Hugging Face peer (``clips_per_s``), ``speed_ratio`` (ours/peer,
  per-round median; ``peer`` names the other side) and ``max_abs_diff`` of their outputs;
- ``loader``: our clip loader and the whole-video OpenCV loader (``clips_per_s``, mode ``load``),
  ``speed_ratio`` and ``max_abs_diff`` of their clips;
- ``note``: a line about the run (a preset a backbone lacks, a skipped comparison or file) in ``note``.

:func:`markdown` renders the records for ``echobench leaderboard --throughput``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from echobench.atomic import atomic_write_new_parquet
from echobench.results.records import OnSkip, read_parquet_folder

THROUGHPUT_SCHEMA: dict[str, pl.DataType] = {
    "bench_id": pl.Utf8,
    "created_at": pl.Utf8,  # ISO 8601, UTC
    "kind": pl.Utf8,  # peak | model | peer | loader | note
    "subject": pl.Utf8,  # "backbone+head", "ours videomae", "transformers.VideoMAEModel", ...
    "backbone": pl.Utf8,
    "head": pl.Utf8,
    "preset": pl.Utf8,
    "input": pl.Utf8,  # clip "T x 3 x H x W"
    "batch": pl.Int64,
    "mode": pl.Utf8,  # inference | train | load | -
    "metric": pl.Utf8,
    "value": pl.Float64,
    "units": pl.Utf8,
    "peer": pl.Utf8,  # the other side of a ratio ("" otherwise)
    "repeats": pl.Int64,
    "device": pl.Utf8,
    "dtype": pl.Utf8,
    "compile": pl.Boolean,
    "threads": pl.Int64,
    "echobench_version": pl.Utf8,
    "versions": pl.Utf8,  # JSON {package: version}
    "git_sha": pl.Utf8,
    "note": pl.Utf8,
}
REQUIRED = ("bench_id", "kind", "metric", "value")  # in every throughput record since the first


def throughput_dir(results: Path) -> Path:
    """Where throughput records live under a results (leaderboard) directory."""
    return Path(results) / "throughput"


def write_throughput(rows: list[dict[str, Any]], results: Path, bench_id: str) -> Path:
    """Write one bench run's rows as ``<results>/throughput/<bench_id>.parquet``: temp file, fsync, rename.

    Raises:
        FileExistsError: a record with this id already exists (records are never overwritten).
    """
    frame = pl.DataFrame(rows, schema=THROUGHPUT_SCHEMA)
    return atomic_write_new_parquet(frame, throughput_dir(results) / f"{bench_id}.parquet")


def read_throughput(results: Path, *, on_skip: OnSkip | None = None) -> pl.DataFrame:
    """All throughput records under ``results`` (empty, with the schema, when there are none);
    unreadable or schema-violating files are skipped and reported
    (:func:`~echobench.results.records.read_parquet_folder`)."""
    return read_parquet_folder(throughput_dir(results), THROUGHPUT_SCHEMA, required=REQUIRED, on_skip=on_skip)


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _percent(fraction: float | None) -> str:
    return "–" if fraction is None or math.isnan(fraction) else f"{100 * fraction:.0f} %"


def _value(group: pl.DataFrame, **match: str) -> float | None:
    rows = group.filter(pl.all_horizontal(pl.col(k) == v for k, v in match.items()))
    return None if rows.is_empty() else float(rows["value"][0])


def _models(run: pl.DataFrame) -> list[str]:
    models = run.filter(pl.col("kind") == "model")
    if models.is_empty():
        return []
    lines = ["| model | preset | input | batch | params (M) | GFLOP/clip | infer clips/s | infer GFLOP/s | "
             "infer util | train clips/s | train GFLOP/s | train util | train peak mem (MiB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (subject, preset, clip, batch), g in models.group_by(["subject", "preset", "input", "batch"],
                                                               maintain_order=True):
        skipped = g.filter(pl.col("metric") == "skipped")
        if not skipped.is_empty():
            lines.append(f"| {subject} | {preset} | {clip} | {batch} | skipped: {skipped['note'][0]} |"
                         + " |" * 8)
            continue
        v = lambda metric, mode="-": _value(g, metric=metric, mode=mode)  # noqa: E731
        util = lambda mode: _percent(v("utilization", mode))  # noqa: E731
        lines.append(f"| {subject} | {preset} | {clip} | {batch} | {_fmt(v('params'), 2)} | "
                     f"{_fmt(v('gflops_per_clip', 'inference'), 2)} | {_fmt(v('clips_per_s', 'inference'), 2)} | "
                     f"{_fmt(v('gflops_per_s', 'inference'))} | {util('inference')} | "
                     f"{_fmt(v('clips_per_s', 'train'), 2)} | {_fmt(v('gflops_per_s', 'train'))} | {util('train')} | "
                     f"{_fmt(v('peak_memory', 'train'), 0)} |")
    return lines + [""]


def _breakdown(run: pl.DataFrame) -> list[str]:
    shares = run.filter((pl.col("kind") == "model") & (pl.col("metric") == "time_share_matmul"))
    if shares.is_empty():
        return []
    lines = ["Where inference time goes (profiled shares; utilization of a class = the model's utilization × its "
             "share of the FLOPs ÷ its share of the time; ceiling = utilization if nothing else took time):\n",
             "| model | preset | input | matmul time | matmul util | attention time | attention util | other time | "
             "ceiling |", "|---|---|---|---|---|---|---|---|---|"]
    for row in shares.iter_rows(named=True):
        g = run.filter((pl.col("subject") == row["subject"]) & (pl.col("preset") == row["preset"])
                       & (pl.col("input") == row["input"]) & (pl.col("mode") == "inference"))
        p = lambda metric: _percent(_value(g, metric=metric))  # noqa: E731
        lines.append(f"| {row['subject']} | {row['preset']} | {row['input']} | {p('time_share_matmul')} | "
                     f"{p('utilization_matmul')} | {p('time_share_attention')} | {p('utilization_attention')} | "
                     f"{p('time_share_other')} | {p('utilization_ceiling')} |")
    return lines + [""]


def _pairs(run: pl.DataFrame, kind: str, title: str) -> list[str]:
    rows = run.filter((pl.col("kind") == kind) & (pl.col("metric") == "speed_ratio"))
    if rows.is_empty():
        return []
    lines = [f"| {title} | preset | input | batch | mode | ours (clips/s) | peer | peer (clips/s) | ours / peer | "
             "max abs diff |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows.iter_rows(named=True):
        same = run.filter((pl.col("kind") == kind) & (pl.col("preset") == row["preset"]) & (pl.col("input") == row["input"]))
        ours = _value(same, subject=row["subject"], mode=row["mode"], metric="clips_per_s")
        peer = _value(same, subject=row["peer"], mode=row["mode"], metric="clips_per_s")
        diff = _value(same, subject=row["subject"], metric="max_abs_diff")
        lines.append(f"| {row['subject']} | {row['preset']} | {row['input']} | {row['batch']} | {row['mode']} | "
                     f"{_fmt(ours, 2)} | {row['peer']} | {_fmt(peer, 2)} | {_fmt(row['value'], 2)}x | "
                     f"{'–' if diff is None else f'{diff:.2g}'} |")
    return lines + [""]


def markdown(records: pl.DataFrame) -> str:
    """Markdown view of throughput records: one section per bench run, newest first."""
    if records.is_empty():
        return "_no throughput records: run `echobench bench`_\n"
    parts: list[str] = []
    runs = records.select("bench_id", "created_at").unique().sort("created_at", descending=True)
    for bench_id in runs["bench_id"]:
        run = records.filter(pl.col("bench_id") == bench_id)
        first = run.row(0, named=True)
        peak = _value(run, kind="peak", metric="matmul_peak")
        versions = first["versions"] or "{}"
        torch_version = pl.Series([versions]).str.json_path_match("$.torch")[0] or "?"
        parts.append(f"### {first['created_at']} · {first['device']} · {first['dtype']} · torch {torch_version}"
                     f"{' · compiled' if first['compile'] else ''} · bench {bench_id}\n")
        if peak is not None:
            peak_row = run.filter((pl.col("kind") == "peak")).row(0, named=True)
            parts.append(f"Matrix-multiply peak ({peak_row['subject']}, {first['dtype']}): **{_fmt(peak)} GFLOP/s** "
                         f"(median of {first['repeats']}); utilization = counted model FLOP/s ÷ this peak, per round.\n")
        parts.extend(_models(run))
        parts.extend(_breakdown(run))
        parts.extend(_pairs(run, "peer", "comparison"))
        parts.extend(_pairs(run, "loader", "loader"))
        notes = run.filter((pl.col("kind") == "note"))
        for note in notes["note"]:
            parts.append(f"- {note}")
        if not notes.is_empty():
            parts.append("")
    return "\n".join(parts)
