"""Fuzzing leaderboard folders (issue 13 item 1): one bad record file never takes the board down.

A results folder holds two good run records and two good throughput records, plus mutated files in
``records/`` and ``throughput/``: byte edits of a real record (flips, truncation, inserts, deletes and
overwrites near the ``PAR1`` magic and the column names, via tests/fuzz/mutations.py), 0-byte and
random-byte files, a directory or a FIFO named ``x.parquet``, and well-formed Parquet files that break
the schema (a column dropped, re-typed as text, all null, an extra column, non-finite values).
:func:`echobench.results.leaderboard.build_leaderboard` (HTML page included) and the throughput view
must then return without any exception, report each skipped file once with a one-line reason, never
skip a good file, and keep every good record's rows. Each example runs in a worker process with a time
limit (tests/fuzz/isolation.py); Hypothesis is derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import strategies as st

from echobench.results.records import RECORD_SCHEMA, records_dir, write_record
from echobench.results.records import REQUIRED as RECORD_REQUIRED
from echobench.results.throughput import REQUIRED as THROUGHPUT_REQUIRED
from echobench.results.throughput import THROUGHPUT_SCHEMA, throughput_dir, write_throughput
from tests.fuzz import fuzz_settings
from tests.fuzz.isolation import Worker
from tests.fuzz.mutations import mutate, mutation_strategy

FUZZ = fuzz_settings(40, checks=(HealthCheck.too_slow, HealthCheck.function_scoped_fixture))
GOOD_RUNS, GOOD_BENCHES = ("good-a", "good-b"), ("bench-a", "bench-b")


def record_rows(run_id: str) -> list[dict]:
    row = {c: None for c in RECORD_SCHEMA}
    row.update(run_id=run_id, source="run", model="m+h", backbone="m", head="h", preset="tiny", weights="random init",
               precision="32-true", trained_on="ef", task="ef", task_version="1", protocol="echovisionfm",
               protocol_version="1", split="TEST", clips="one", units="%", n=10, dataset="d", dataset_hash="abc",
               synthetic=True, seed=0, setup_hash="S", config_hash="C", created_at="2026-01-01T00:00:00+00:00")
    return [dict(row, metric=m, value=v, ci_low=v - 1, ci_high=v + 1) for m, v in (("MAE", 4.0), ("RMSE", 5.0),
                                                                                     ("R2", 0.5), ("r", 0.7))]


def throughput_rows(bench_id: str) -> list[dict]:
    row = {c: None for c in THROUGHPUT_SCHEMA}
    row.update(bench_id=bench_id, created_at="2026-01-01T00:00:00+00:00", device="cpu", dtype="float32",
               compile=False, versions='{"torch": "2"}', repeats=3, batch=2, input="16 x 3 x 112 x 112", preset="tiny")
    return [dict(row, kind="peak", subject="matmul", mode="-", metric="matmul_peak", value=100.0, units="GFLOP/s"),
            dict(row, kind="model", subject="m+h", backbone="m", head="h", mode="inference", metric="clips_per_s",
                 value=12.0, units="clips/s"),
            dict(row, kind="note", subject="-", mode="-", metric="note", value=None, note="a note")]


# --- mutated files --------------------------------------------------------------------------------

ANCHORS = (b"PAR1", b"value", b"metric", b"run_id", b"bench_id", b"MAE", b"Float64", b"schema")
SPECIAL = (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"PAR1", b"\x00", b"\xff")
byte_edits = st.lists(mutation_strategy(ANCHORS, SPECIAL, max_nth=3, max_offset=24), min_size=1, max_size=4)


FRAME_OPS = ("drop", "as_text", "nulls", "extra", "non_finite", "as_int", "as_list")


def breaks(op: str, column: str, schema: dict, required: tuple[str, ...]) -> bool:
    """Whether the frame edit ``(op, column)`` surely violates ``schema`` (the file must be skipped)."""
    if column not in schema:
        return False
    dtype = schema[column]
    return ((op == "drop" and column in required) or (op == "as_text" and dtype != pl.Utf8) or op == "as_list"
            or (op == "as_int" and dtype in (pl.Utf8, pl.Boolean)))


def apply_frame_edit(frame: pl.DataFrame, op: str, column: str) -> pl.DataFrame:
    if op == "drop":
        return frame.drop(column)
    if op == "as_text":
        return frame.with_columns(pl.col(column).cast(pl.Utf8).fill_null("abc"))
    if op == "nulls":
        return frame.with_columns(pl.lit(None).alias(column))
    if op == "extra":
        return frame.with_columns(pl.lit(1).alias(column + "_extra"))
    if op == "non_finite":
        return frame.with_columns(pl.Series("value", [float("nan"), float("inf"), -float("inf")] * frame.height)
                                  [:frame.height])
    if op == "as_int":
        return frame.with_columns(pl.lit(10**18, dtype=pl.UInt64).alias(column))
    return frame.with_columns(pl.lit([1, 2]).alias(column))  # as_list


bad_file = st.one_of(
    st.tuples(st.just("bytes"), byte_edits),
    st.tuples(st.just("frame"), st.lists(st.tuples(st.sampled_from(FRAME_OPS),
                                                   st.sampled_from(sorted(RECORD_SCHEMA | THROUGHPUT_SCHEMA))),
                                         min_size=1, max_size=3)),
    st.tuples(st.just("empty")), st.tuples(st.just("directory")), st.tuples(st.just("fifo")),
    st.tuples(st.just("random"), st.binary(max_size=256)),
)


@dataclass(frozen=True)
class Folder:
    root: Path
    record: bytes  # a good record file's bytes (the byte edits' starting point)
    bench: bytes

    def reset(self) -> None:
        for sub in (records_dir(self.root), throughput_dir(self.root)):
            for entry in sub.iterdir():
                if entry.stem not in GOOD_RUNS + GOOD_BENCHES:
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()

    def add(self, sub: Path, name: str, bad: tuple, good: bytes, schema: dict,
            required: tuple[str, ...]) -> tuple[Path, bool]:
        """Write one bad entry; returns its path and whether it must surely be skipped."""
        path = sub / f"{name}.parquet"
        kind = bad[0]
        if kind == "bytes":
            path.write_bytes(mutate(good, bad[1]))
            return path, False  # an edit may leave a readable, valid file
        if kind == "frame":
            frame, surely = pl.read_parquet(io.BytesIO(good)), False
            for op, column in bad[1]:
                if column in frame.columns or op == "extra":
                    surely |= breaks(op, column, schema, required)
                    frame = apply_frame_edit(frame, op, column)
            frame.write_parquet(path)
            return path, surely  # "nulls" of an optional column, "extra" or "non_finite" stay valid
        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "directory":
            path.mkdir()
            (path / "inner.parquet").write_bytes(good)  # polars would read a folder of files as one dataset
        elif kind == "fifo":
            os.mkfifo(path)  # opening it for reading would block forever
        else:
            path.write_bytes(bad[1])  # random bytes are never a Parquet file
        return path, True


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Folder:
    root = tmp_path_factory.mktemp("fuzz_leaderboard") / "lb"
    record = write_record(record_rows(GOOD_RUNS[0]), root, GOOD_RUNS[0])
    write_record(record_rows(GOOD_RUNS[1]), root, GOOD_RUNS[1])
    bench = write_throughput(throughput_rows(GOOD_BENCHES[0]), root, GOOD_BENCHES[0])
    write_throughput(throughput_rows(GOOD_BENCHES[1]), root, GOOD_BENCHES[1])
    return Folder(root, record.read_bytes(), bench.read_bytes())


@pytest.fixture(scope="module")
def worker():
    w = Worker(timeout_s=60, preload=("polars", "matplotlib", "echobench.results.leaderboard",
                                      "echobench.results.page", "echobench.results.throughput"))
    yield w
    w.close()


def build(root: str):
    """Run in the worker: build the board (Markdown, CSV, HTML) and the throughput view."""
    from echobench.results.leaderboard import build_leaderboard
    from echobench.results.records import read_records
    from echobench.results.throughput import markdown, read_throughput

    skipped: list[tuple[str, str]] = []
    text = build_leaderboard(root, split=None, html=True, on_skip=lambda p, r: skipped.append((str(p), r))).text
    runs = sorted(set(read_records(root, on_skip=lambda p, r: None)["run_id"].drop_nulls().to_list()))
    benches = read_throughput(root, on_skip=lambda p, r: skipped.append((str(p), r)))
    throughput = markdown(benches)
    return text, throughput, skipped, runs, sorted(set(benches["bench_id"].drop_nulls().to_list()))


def check(folder: Folder, worker, must_skip: set[str], written: set[str]) -> list[str]:
    """Build the board in the worker and check the outcome; returns the names of the skipped files."""
    outcome = worker.call(build, str(folder.root))
    assert not outcome.raised, f"unhandled {outcome.error_type}: {outcome.message}\n{outcome.trace}"
    text, throughput, skipped, runs, benches = outcome.value
    names = [Path(p).name for p, _ in skipped]
    assert len(names) == len(set(names)), f"a file reported twice: {names}"  # once each
    assert set(names) <= written and must_skip <= set(names), (names, must_skip)
    assert all(reason and "\n" not in reason for _, reason in skipped)
    assert set(GOOD_RUNS) <= set(runs) and set(GOOD_BENCHES) <= set(benches)  # good files always count
    assert "m+h" in text and "bench-a" in throughput and "bench-b" in throughput
    assert (folder.root / "leaderboard.html").is_file()
    return names


def test_clean_folder(folder, worker):
    folder.reset()
    check(folder, worker, set(), set())


def test_each_named_class_is_skipped_and_counted(folder, worker):
    folder.reset()
    rec, thr = records_dir(folder.root), throughput_dir(folder.root)
    (rec / "empty.parquet").write_bytes(b"")
    (rec / "truncated.parquet").write_bytes(folder.record[: len(folder.record) // 2])
    (rec / "garbage.parquet").write_bytes(b"not parquet at all\n" * 20)
    (rec / "x.parquet").mkdir()
    pl.DataFrame(record_rows("text")).with_columns(pl.lit("4.0").alias("value")).write_parquet(rec / "text.parquet")
    (thr / "t-empty.parquet").write_bytes(b"")
    pl.DataFrame(throughput_rows("t")).with_columns(pl.lit("fast").alias("value")).write_parquet(thr / "t-text.parquet")
    names = {"empty.parquet", "truncated.parquet", "garbage.parquet", "x.parquet", "text.parquet", "t-empty.parquet",
             "t-text.parquet"}
    check(folder, worker, names, names)


@FUZZ
@given(records=st.lists(bad_file, min_size=1, max_size=3), throughput=st.lists(bad_file, max_size=2))
def test_mutated_folders(folder, worker, records, throughput):
    folder.reset()
    must_skip, written = set(), set()
    for sub, bads, good, schema, required in (
            (records_dir(folder.root), records, folder.record, RECORD_SCHEMA, RECORD_REQUIRED),
            (throughput_dir(folder.root), throughput, folder.bench, THROUGHPUT_SCHEMA, THROUGHPUT_REQUIRED)):
        for k, bad in enumerate(bads):
            path, skip = folder.add(sub, f"{sub.name}-bad-{k}", bad, good, schema, required)
            written.add(path.name)
            if skip:
                must_skip.add(path.name)
    event(f"skipped {len(check(folder, worker, must_skip, written))} of {len(written)}")
