"""What a person sees on an interactive terminal: `echobench run` under a pseudo-terminal, its
output replayed through a terminal emulator (pyte), must still show every result row and both path
lines once the command has finished (the live progress display used to redraw over them)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

pyte = pytest.importorskip("pyte")

COLUMNS, LINES = 160, 60


def _run_in_pty(args: list[str], env: dict[str, str], timeout: float = 300.0) -> bytes:
    """Run ``args`` with stdin/stdout/stderr on one pseudo-terminal; return everything it wrote."""
    leader, follower = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    proc = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the follower side closed: the process is gone
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    else:
        proc.kill()
        pytest.fail("echobench run did not finish in time")
    proc.wait(timeout=30)
    os.close(leader)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return b"".join(chunks)


def test_run_result_table_survives_the_progress_display(synth_tiny, tmp_path):
    env = {**os.environ, "COLUMNS": str(COLUMNS), "LINES": str(LINES), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    env.pop("TERM_PROGRAM", None)
    args = [sys.executable, "-m", "echobench", "run", "--backbone", "echo-videomae", "--head", "maxpool",
            "--data", str(synth_tiny), "--epochs", "1", "--n-boot", "0", "--gpus", "0",
            "--results", str(tmp_path / "lb"), "--runs", str(tmp_path / "runs")]
    raw = _run_in_pty(args, env)
    assert b"\x1b[" in raw  # it really drew a live display (cursor movements), or the test shows nothing
    screen = pyte.Screen(COLUMNS, LINES)
    stream = pyte.ByteStream(screen)
    stream.feed(raw)
    text = "\n".join(line.rstrip() for line in screen.display)
    rows = [line for line in screen.display if line.lstrip().startswith(("TEST", "VAL", "│ TEST", "│ VAL"))
            or "│ TEST" in line or "│ VAL" in line]
    assert len(rows) == 4, text  # model and constant, TEST and VAL
    assert sum("constant (TRAIN mean)" in r for r in rows) == 2, text
    assert sum("echo-videomae+maxpool" in r for r in rows) == 2, text
    assert "run directory:" in text and "run record:" in text, text
