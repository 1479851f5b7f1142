"""Ctrl-C / SIGTERM ask the job to stop (``echobench.cli.common.stop_on_signals``); processes forked
while it runs (DataLoader workers, which a terminal's Ctrl-C reaches too) leave the decision to the
job: they neither count as a stop request nor print the notice once each."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from echobench.cli.common import stop_on_signals


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_the_job_stops_on_sigint_and_a_forked_worker_ignores_it(capfd):
    with stop_on_signals() as stop:
        pid = os.fork()
        if pid == 0:  # a worker: the signal must change nothing here
            os.kill(os.getpid(), signal.SIGINT)
            sys.stderr.flush()
            os._exit(3 if stop() else 0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not stop() and "stopping" not in capfd.readouterr().err
        os.kill(os.getpid(), signal.SIGINT)
        assert stop()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
