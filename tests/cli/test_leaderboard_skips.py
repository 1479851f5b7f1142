"""``echobench leaderboard`` with bad files in records/ and throughput/ (issue 13 item 1): one line
per skipped file naming it, a count, and the board built from the rest (exit 0)."""

from __future__ import annotations

import polars as pl
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.results.records import records_dir, write_record
from echobench.results.throughput import throughput_dir, write_throughput
from tests.fuzz.test_fuzz_leaderboard import record_rows, throughput_rows


def test_bad_record_files_are_named_and_the_board_is_built_from_the_rest(tmp_path):
    write_record(record_rows("good-run"), tmp_path, "good-run")
    write_throughput(throughput_rows("good-bench"), tmp_path, "good-bench")
    (records_dir(tmp_path) / "zero.parquet").write_bytes(b"")
    (records_dir(tmp_path) / "x.parquet").mkdir()
    pl.DataFrame(record_rows("t")).with_columns(pl.lit("abc").alias("value")).write_parquet(
        records_dir(tmp_path) / "text.parquet")
    (throughput_dir(tmp_path) / "cut.parquet").write_bytes(b"PAR1\x00\x01")
    runner = CliRunner()
    board = runner.invoke(app, ["leaderboard", "--results", str(tmp_path), "--no-html", "--split", "all"])
    assert board.exit_code == 0, board.output
    assert "Traceback" not in board.output and "m+h (tiny, random init, 32-true)" in board.stdout
    lines = board.stderr.splitlines()
    for name in ("zero.parquet", "x.parquet", "text.parquet"):
        assert sum(name in line for line in lines) == 1 and any(line.startswith(f"skipped: {records_dir(tmp_path)}/{name}: ")
                                                                 for line in lines)
    assert "3 record file(s) skipped; the board is built from the rest" in board.stderr
    bench = runner.invoke(app, ["leaderboard", "--results", str(tmp_path), "--throughput"])
    assert bench.exit_code == 0 and "good-bench" in bench.stdout
    assert f"skipped: {throughput_dir(tmp_path)}/cut.parquet: not a readable Parquet file" in bench.stderr


def test_unknown_split_is_a_one_line_error(tmp_path):
    write_record(record_rows("good-run"), tmp_path, "good-run")
    out = CliRunner().invoke(app, ["leaderboard", "--results", str(tmp_path), "--no-html", "--split", "foo"])
    assert out.exit_code != 0 and "Traceback" not in out.output
    assert "--split 'foo': expected one of TRAIN, VAL, TEST or 'all'" in out.output
    ok = CliRunner().invoke(app, ["leaderboard", "--results", str(tmp_path), "--no-html", "--split", "All"])
    assert ok.exit_code == 0, ok.output
