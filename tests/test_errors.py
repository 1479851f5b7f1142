"""The one way an exception is quoted inside a one-line error: ``first_line`` / ``describe``."""

from __future__ import annotations

import errno

import pytest

from echobench.atomic import describe as describe_write
from echobench.errors import DataError, describe, first_line


def test_first_line_keeps_the_first_line_of_a_multiline_message() -> None:
    exc = ValueError("  found more fields than defined in 'Schema'\n\nYou might want to try:\n- ...")
    assert first_line(exc) == "found more fields than defined in 'Schema'"
    assert first_line("x" * 300) == "x" * 200 and first_line("abc", limit=2) == "ab"
    assert first_line(ValueError()) == "" and first_line(ValueError("  \n ")) == ""


def test_describe_names_the_type_and_the_first_line() -> None:
    assert describe(RuntimeError("boom\ntraceback-ish detail")) == "RuntimeError: boom"
    assert describe(KeyError()) == "KeyError"
    assert describe(DataError("a.avi:   cannot\nopen")) == "DataError: a.avi: cannot open"  # one-line str()


def test_a_write_error_gives_the_system_reason_without_the_temporary_name() -> None:
    exc = OSError(errno.ENOSPC, "No space left on device", "/out/.x.parquet.1234.tmp")
    assert describe_write(exc) == "OSError: No space left on device"
    assert ".tmp" in describe(exc)  # elsewhere the file name is part of the message


def test_a_reader_quotes_a_parse_error_in_one_line(tmp_path) -> None:
    """A file polars cannot read is skipped with ``not a readable Parquet file (Type: first line)``."""
    import polars as pl

    from echobench.results.records import read_parquet_folder

    (tmp_path / "bad.parquet").write_bytes(b"this is text, not a Parquet file")
    skipped: list[str] = []
    frame = read_parquet_folder(tmp_path, {"value": pl.Float64}, on_skip=lambda _path, why: skipped.append(why))
    assert frame.height == 0 and len(skipped) == 1
    (reason,) = skipped
    assert reason.startswith("not a readable Parquet file (") and reason.endswith(")") and "\n" not in reason
    assert reason[len("not a readable Parquet file ("):-1] == describe(_parse_error(tmp_path / "bad.parquet"))


def _parse_error(path) -> BaseException:
    import polars as pl

    try:
        pl.read_parquet(path)
    except Exception as exc:
        return exc
    raise AssertionError(f"polars read {path}")
