"""Run records: append-only, one Parquet file per run, written atomically (DESIGN §7, STYLE rule 7).

A record is long and tidy: one row per (model, split, metric), with the provenance of STYLE rule 6
on every row. Files are never rewritten; two runs finishing at once write two different files, so
no record is lost. Tables and plots are derived from the records by :mod:`echobench.results.leaderboard`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Iterable

import polars as pl

from echobench.atomic import atomic_write_new_parquet
from echobench.errors import describe

log = logging.getLogger(__name__)

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.Utf8,
    "created_at": pl.Utf8,  # ISO 8601, UTC
    "source": pl.Utf8,  # "run" (measured here) or "reported" (published numbers, echobench.results.reported)
    "model": pl.Utf8,  # "backbone+head", or "constant (TRAIN mean)"
    "backbone": pl.Utf8,
    "head": pl.Utf8,
    "preset": pl.Utf8,
    "weights": pl.Utf8,  # a name: "arch.tag" (declared weights), a file's base name, or "random init"
    "weights_sha256": pl.Utf8,  # sha256 (hex) of the weights file; null for random init and the constant
    "task": pl.Utf8,  # the task the row is scored as
    "task_version": pl.Utf8,
    "trained_on": pl.Utf8,  # the task the model was trained for (ef50 rows of an EF regression model: "ef")
    "track": pl.Utf8,  # evaluation track "name@version" (echobench.evaluation.tracks); null: the main table
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
    "dataset_version": pl.Utf8,  # the registered dataset layout's version (its reader's; echobench.data.resolve)
    "trained_on_dataset": pl.Utf8,  # registered name of the dataset the model was trained and selected on
    "evaluated_on_dataset": pl.Utf8,  # registered name of the dataset the row was scored on (external validation)
    "trained_on_dataset_hash": pl.Utf8,  # dataset_hash of the training data: a row whose dataset_hash differs is external
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
REQUIRED = ("run_id", "model", "task", "split", "metric", "value")  # in every record since the first


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


OnSkip = Callable[[Path, str], None]


def _conforms(source: pl.DataType, target: pl.DataType) -> bool:
    """Whether a column of dtype ``source`` may be read as ``target`` (same type, all-null, a
    categorical as text, or a narrower number as a wider one)."""
    if source == target or source == pl.Null:
        return True
    if target == pl.Utf8:
        return isinstance(source, (pl.Categorical, pl.Enum))
    if target == pl.Float64:
        return source.is_numeric()
    if target == pl.Int64:
        return source.is_integer()
    return False


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType], required: Iterable[str]) -> pl.DataFrame:
    """``frame`` with exactly ``schema``'s columns (absent ones null).

    Raises:
        ValueError: a ``required`` column is absent, or a column's type does not fit (one line).
    """
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"no {', '.join(repr(c) for c in missing)} column")
    for column, dtype in schema.items():
        if column in frame.columns and not _conforms(frame.schema[column], dtype):
            raise ValueError(f"column {column!r} is {frame.schema[column]}, expected {dtype}")
    try:
        return (frame.with_columns(pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in frame.columns)
                .select(list(schema)).cast(schema, strict=True))
    except pl.exceptions.PolarsError as exc:  # e.g. an integer too large for Int64
        raise ValueError(describe(exc)) from None


def _checked_schema(f: Path, schema: dict[str, pl.DataType], required: Iterable[str]) -> tuple[dict | None, str]:
    """The file's own schema (read from its footer only) when it fits ``schema``, else ``(None, reason)``."""
    if not f.is_file():
        return None, "not a regular file" + (" (a directory)" if f.is_dir() else "")
    try:
        own = pl.read_parquet_schema(f)
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        return None, f"not a readable Parquet file ({describe(exc)})"
    missing = [c for c in required if c not in own]
    if missing:
        return None, f"does not fit the record schema (no {', '.join(repr(c) for c in missing)} column)"
    for column, dtype in schema.items():
        if column in own and not _conforms(own[column], dtype):
            return None, f"does not fit the record schema (column {column!r} is {own[column]}, expected {dtype})"
    return own, ""


def _scan_alike(files: list[Path], own: dict[str, pl.DataType], schema: dict[str, pl.DataType],
                file_column: str | None) -> pl.LazyFrame:
    """One lazy scan of files sharing the footer schema ``own``, selected and cast to ``schema``
    (plus the file's name as ``file_column`` when given)."""
    present = [c for c in schema if c in own]
    extra = [file_column] if file_column else []
    scan = pl.scan_parquet(files, include_file_paths=file_column) if file_column else pl.scan_parquet(files)
    frame = (scan.select(present + extra)
             .with_columns(pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in own)
             .select(list(schema) + extra).cast(schema, strict=True))
    if file_column:
        frame = frame.with_columns(pl.col(file_column).str.split("/").list.last())
    return frame


def read_parquet_folder(folder: Path, schema: dict[str, pl.DataType], *, required: Iterable[str] = (),
                        on_skip: OnSkip | None = None) -> pl.DataFrame:
    """Every ``*.parquet`` in ``folder`` as one frame with ``schema`` (empty when there are none).

    Files written by older echobench versions lack newer columns: those read as null. One bad file
    never hides the others: an entry that is not a regular file (a directory or FIFO named
    ``x.parquet``, a dangling link), a file that is not readable Parquet (0 bytes, truncated,
    garbage), or one that violates the schema (a ``required`` column absent, a column of another
    type, e.g. ``value`` as text) is skipped and reported as ``on_skip(path, reason)`` (a one-line
    reason; default: a ``logging`` warning), and the rest are read (:func:`read_parquet_files`).
    """
    return read_parquet_files(sorted(Path(folder).glob("*.parquet")), schema, required=required, on_skip=on_skip)


def read_parquet_files(files: Iterable[Path], schema: dict[str, pl.DataType], *, required: Iterable[str] = (),
                       on_skip: OnSkip | None = None, file_column: str | None = None) -> pl.DataFrame:
    """``files`` as one frame with ``schema`` (see :func:`read_parquet_folder` for what is skipped);
    ``file_column`` adds each row's file name as a column of that name.

    Cost: ONE polars lazy scan of every file, conformed to ``schema`` by the scan itself (absent
    columns null, narrower numbers and categoricals widened, extra columns ignored), and a footer
    check only for the few files the scan cannot vouch for: a file that gave no row or a null in a
    ``required`` column (an absent required column reads as nulls). Entries that are not regular
    files (a directory, a FIFO, a dangling link) are skipped first, by one ``stat`` each. When that
    scan fails (a file that is not Parquet, a column of another type), every footer is checked against
    ``schema`` and the files that fit are read again (:func:`_read_checked`), so each bad file is
    named and skipped and the rest are kept, exactly as the one scan gives them.
    """
    if on_skip is None:
        on_skip = lambda path, reason: log.warning("skipped %s: %s", path, reason)  # noqa: E731
    required = tuple(required)
    regular = []
    for f in map(Path, files):
        if f.is_file():
            regular.append(f)
        else:  # never scanned: a directory would read as a dataset, a FIFO would block
            on_skip(f, _checked_schema(f, schema, required)[1])
    files = regular
    frame = _scan_all(files, schema) if files else None
    if frame is None:
        return _read_checked(files, schema, required, on_skip, file_column)
    nulls = frame.filter(pl.any_horizontal(pl.col(c).is_null() for c in required)) if required else frame.clear()
    doubtful = set(nulls[_PATH].unique().to_list()) | ({str(f) for f in files} - set(frame[_PATH].unique().to_list()))
    bad = set()
    for f in [f for f in files if str(f) in doubtful]:
        own, reason = _checked_schema(f, schema, required)
        if own is None:
            on_skip(f, reason)
            bad.add(str(f))
    if bad:
        frame = frame.filter(~pl.col(_PATH).is_in(sorted(bad)))
    if not file_column:
        return frame.drop(_PATH)
    return frame.select(*schema, pl.col(_PATH).str.split("/").list.last().alias(file_column))


_PATH = "__echobench_source_path"  # the scan's per-row source path (internal; dropped or renamed)


def _scan_all(files: list[Path], schema: dict[str, pl.DataType]) -> pl.DataFrame | None:
    """Every row of ``files`` by one scan, with ``schema`` and each row's source path as :data:`_PATH`;
    None when the scan fails (some file is not Parquet or does not conform to ``schema``)."""
    if not hasattr(pl, "ScanCastOptions"):  # a polars without these scan options: the careful path
        return None
    try:
        widen = pl.ScanCastOptions(integer_cast=["upcast", "allow-float"], float_cast="upcast",
                                   categorical_to_string="allow")  # what _conforms accepts
        return pl.scan_parquet(files, schema=schema, missing_columns="insert", extra_columns="ignore",
                               cast_options=widen, include_file_paths=_PATH).collect()
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return None


def _read_checked(files: list[Path], schema: dict[str, pl.DataType], required: tuple[str, ...], on_skip: OnSkip,
                  file_column: str | None) -> pl.DataFrame:
    """The careful path of :func:`read_parquet_files`: each file's footer is checked against
    ``schema`` (metadata only), bad files are skipped and named, then the files that share a footer
    schema are read by one lazy scan each; should that fail (a file whose footer reads but whose
    data pages do not), every file is read on its own, so the bad one is named and skipped."""
    alike: dict[tuple, tuple[dict, list[Path]]] = {}
    for f in files:
        own, reason = _checked_schema(f, schema, required)
        if own is None:
            on_skip(f, reason)
            continue
        alike.setdefault(tuple(own.items()), (own, []))[1].append(f)
    empty = pl.DataFrame(schema={**schema, **({file_column: pl.Utf8} if file_column else {})})
    frames = [empty.lazy()] + [_scan_alike(files, own, schema, file_column) for own, files in alike.values()]
    try:
        return pl.concat(frames, how="vertical").collect()
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return _read_one_by_one([f for _, files in alike.values() for f in files], schema, required, on_skip,
                                file_column, empty)


def _read_one_by_one(files: list[Path], schema: dict[str, pl.DataType], required: Iterable[str],
                     on_skip: OnSkip, file_column: str | None, empty: pl.DataFrame) -> pl.DataFrame:
    """Every file read on its own (the slow path that names the file a scan cannot read)."""
    frames = [empty]
    for f in sorted(files):
        try:
            frame = pl.read_parquet(f)
        except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
            on_skip(f, f"not a readable Parquet file ({describe(exc)})")
            continue
        try:
            frame = _conform(frame, schema, required)
        except ValueError as exc:
            on_skip(f, f"does not fit the record schema ({exc})")
            continue
        frames.append(frame.with_columns(pl.lit(f.name).alias(file_column)) if file_column else frame)
    return pl.concat(frames, how="vertical")


def read_records(results: Path, *, on_skip: OnSkip | None = None) -> pl.DataFrame:
    """All run records under ``results`` as one frame (empty, with the schema, when there are none);
    unreadable or schema-violating files are skipped and reported (:func:`read_parquet_folder`).

    Only records new since the last call are read: the others come from the derived index under
    ``<results>/.cache/`` (:mod:`echobench.results.record_index`; safe to delete).
    """
    from echobench.results.record_index import read_indexed

    return read_indexed(results, on_skip=on_skip)
