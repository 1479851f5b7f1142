"""Run records: eight processes writing at once lose no record and corrupt no file; records of an
older schema still read."""

from __future__ import annotations

import multiprocessing as mp

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
