"""Run records: eight processes writing at once lose no record and corrupt no file; records of an
older schema still read."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import polars as pl

from echobench.results.records import RECORD_SCHEMA, read_records, records_dir, write_record


def _rows(run_id: str, k: int) -> list[dict]:
    row = {c: None for c in RECORD_SCHEMA}
    row.update(run_id=run_id, model=f"m{k}", task="ef", split="TEST", metric="MAE", value=float(k), seed=k, n=10,
               source="run")
    return [dict(row, metric=m) for m in ("MAE", "RMSE", "R2")]


def _writer(args) -> str:
    results, k, barrier = args
    barrier.wait()  # all eight write at the same moment
    return str(write_record(_rows(f"run-{k}", k), results, f"run-{k}"))


def test_eight_concurrent_writers_lose_nothing(tmp_path):
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(8)
        with ctx.Pool(8) as pool:
            paths = pool.map(_writer, [(tmp_path, k, barrier) for k in range(8)])
    assert len(set(paths)) == 8
    files = sorted(records_dir(tmp_path).iterdir())
    assert [f.name for f in files] == sorted(f"run-{k}.parquet" for k in range(8))  # no temp files left
    records = read_records(tmp_path)
    assert records.height == 8 * 3
    assert sorted(records.filter(pl.col("metric") == "MAE")["value"].to_list()) == [float(k) for k in range(8)]


def test_older_records_without_new_columns_still_read(tmp_path):
    old = pl.DataFrame(_rows("old", 1)).drop("ci_low", "ci_high", "clips", "trained_on", "source", "run_dir")
    records_dir(tmp_path).mkdir(parents=True)
    old.write_parquet(records_dir(tmp_path) / "old.parquet")
    records = read_records(tmp_path)
    assert records.schema == pl.Schema(RECORD_SCHEMA) and records.height == 3
    assert records["ci_low"].is_null().all()


def test_unreadable_and_schema_violating_files_are_skipped_with_their_names(tmp_path):
    write_record(_rows("good", 1), tmp_path, "good")
    folder = records_dir(tmp_path)
    good = (folder / "good.parquet").read_bytes()
    (folder / "empty.parquet").write_bytes(b"")
    (folder / "truncated.parquet").write_bytes(good[: len(good) // 2])
    (folder / "garbage.parquet").write_bytes(b"\x00garbage" * 50)
    (folder / "x.parquet").mkdir()
    pl.DataFrame(_rows("text", 2)).with_columns(pl.lit("2.0").alias("value")).write_parquet(folder / "text.parquet")
    pl.DataFrame(_rows("nometric", 3)).drop("metric").write_parquet(folder / "nometric.parquet")
    skipped: dict[str, str] = {}
    records = read_records(tmp_path, on_skip=lambda path, reason: skipped.setdefault(path.name, reason))
    assert records.height == 3 and set(records["run_id"]) == {"good"}
    assert sorted(skipped) == ["empty.parquet", "garbage.parquet", "nometric.parquet", "text.parquet",
                               "truncated.parquet", "x.parquet"]
    assert "directory" in skipped["x.parquet"] and "not a readable Parquet file" in skipped["empty.parquet"]
    assert skipped["text.parquet"] == "does not fit the record schema (column 'value' is String, expected Float64)"
    assert "'metric'" in skipped["nometric.parquet"]
    assert all("\n" not in reason for reason in skipped.values())


def test_one_scan_reads_mixed_but_fitting_records_and_checks_only_doubtful_footers(tmp_path, monkeypatch):
    """Old, narrow-typed and good records come from one scan; only files the scan cannot vouch for
    (no row, or a null in a required column) get a footer check, and a file lacking a required column
    is still skipped with its name; the rows equal those of the careful, footer-first path."""
    from echobench.results import records as module

    for k in range(6):
        write_record(_rows(f"run-{k}", k), tmp_path, f"run-{k}")
    folder = records_dir(tmp_path)
    pl.DataFrame(_rows("old", 7)).drop("ci_low", "clips", "run_dir").write_parquet(folder / "old.parquet")
    (pl.DataFrame(_rows("narrow", 8), schema=RECORD_SCHEMA)
     .with_columns(pl.col("value").cast(pl.Float32), pl.col("n").cast(pl.Int32), pl.col("model").cast(pl.Categorical),
                   pl.lit(1, dtype=pl.Int16).alias("seed"))
     .write_parquet(folder / "narrow.parquet"))
    (pl.DataFrame([dict(_rows("nullvalue", 9)[0], value=None)], schema=RECORD_SCHEMA)
     .write_parquet(folder / "nullvalue.parquet"))
    pl.DataFrame(_rows("nometric", 10)).drop("metric").write_parquet(folder / "nometric.parquet")
    pl.DataFrame(schema={"run_id": pl.Utf8}).write_parquet(folder / "norows.parquet")
    checked: list[str] = []
    original = module._checked_schema
    monkeypatch.setattr(module, "_checked_schema", lambda f, *a: (checked.append(Path(f).name), original(f, *a))[1])
    skipped: dict[str, str] = {}
    files = sorted(folder.glob("*.parquet"))
    fast = module.read_parquet_files(files, RECORD_SCHEMA, required=module.REQUIRED, file_column="file",
                                     on_skip=lambda path, reason: skipped.setdefault(path.name, reason))
    assert sorted(checked) == ["nometric.parquet", "norows.parquet", "nullvalue.parquet"]
    assert sorted(skipped) == ["nometric.parquet", "norows.parquet"] and "'metric'" in skipped["nometric.parquet"]
    careful = module._read_checked(files, RECORD_SCHEMA, module.REQUIRED, lambda path, reason: None, "file")
    assert fast.schema == careful.schema == pl.Schema({**RECORD_SCHEMA, "file": pl.Utf8})
    assert fast.sort("file", "metric").equals(careful.sort("file", "metric"))
    assert fast.height == 9 * 3 - 2  # six written, old, narrow, and nullvalue's one row
    assert fast.filter(pl.col("run_id") == "narrow")["model"].to_list() == ["m8"] * 3


def test_a_folder_named_like_a_record_is_skipped_not_scanned_as_a_dataset(tmp_path):
    """Among good records (the one-scan path), ``x.parquet/`` holding a good record is named and
    skipped; polars would otherwise read the folder as a dataset and count its rows. (A FIFO, which a
    scan would block on, is covered by tests/fuzz/test_fuzz_leaderboard.py in a worker with a time limit.)"""
    write_record(_rows("good", 1), tmp_path, "good")
    inner = records_dir(tmp_path) / "x.parquet"
    inner.mkdir()
    pl.DataFrame(_rows("inner", 2), schema=RECORD_SCHEMA).write_parquet(inner / "inner.parquet")
    skipped: dict[str, str] = {}
    records = read_records(tmp_path, on_skip=lambda path, reason: skipped.setdefault(path.name, reason))
    assert set(records["run_id"]) == {"good"} and records.height == 3
    assert list(skipped) == ["x.parquet"] and "directory" in skipped["x.parquet"]
