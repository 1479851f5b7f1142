"""The fuzz tests' hang and crash guard (tests/fuzz/isolation.py) really catches hangs and crashes."""

from __future__ import annotations

import os
import time

import pytest

from echobench.errors import DataError, EchobenchError
from tests.fuzz.isolation import Worker


def _raise_data_error(name: str) -> None:
    raise DataError(f"{name}: damaged")


def test_worker_reports_results_errors_hangs_and_deaths():
    worker = Worker(timeout_s=20)
    try:
        assert worker.call(len, b"abc").value == 3
        outcome = worker.call(_raise_data_error, "x.avi")
        assert outcome.raised and outcome.is_error(DataError) and outcome.is_error(EchobenchError)
        assert not outcome.is_error(KeyError) and outcome.message == "x.avi: damaged"
        outcome = worker.call(int, "not a number")
        assert outcome.raised and outcome.error_type == "builtins.ValueError" and not outcome.is_error(DataError)
        start = time.monotonic()
        with pytest.raises(AssertionError, match="hang: sleep"):
            worker.call(time.sleep, 30, timeout_s=0.5)
        assert time.monotonic() - start < 10
        with pytest.raises(AssertionError, match=r"worker process died \(exit code 3\)"):
            worker.call(os._exit, 3)
        assert worker.call(len, b"again").value == 5  # a fresh worker took over
    finally:
        worker.close()
