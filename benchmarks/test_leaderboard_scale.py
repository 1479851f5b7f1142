"""Cost of ``echobench leaderboard`` over 100 vs 1,000 distinct run records (issue 15 item 7).

Not part of the test run. Run:  python -m pytest benchmarks/test_leaderboard_scale.py -s

Writes 100 and 1,000 synthetic runs with the real record writer (:mod:`benchmarks.leaderboard_records`:
58 record rows and a 120-row ``predictions.parquet`` per run, every run its own setup so each is its
own table row), then times the whole ``echobench leaderboard`` command in a fresh process, side by
side: ``first`` (the first board after the records were written: every record read, the top-k
figures drawn) and ``next`` (a later board with one new record: the index and figure caches hold
the rest). Each is timed ``ROUNDS`` times interleaved (100, 1,000, 100, ...) and the medians of
CPU seconds (user + system of the child: on a shared machine wall time measures the neighbours) and
of wall seconds are printed with the ratio 1,000 / 100. Targets: 1,000 records <= 10 s on this CPU
and <= 1.5x the time for 100 records. ``ECHOBENCH_BENCH_ROUNDS`` (default 3) sets the rounds.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = int(os.environ.get("ECHOBENCH_BENCH_ROUNDS", 3))
SIZES = (100, 1000)


def _board(results: Path) -> tuple[float, float]:
    """(CPU s, wall s) of one ``echobench leaderboard`` process over ``results``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "echobench", "leaderboard", "--results", str(results)],
                          capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def test_leaderboard_100_vs_1000_records(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from leaderboard_records import write_runs

    template = {}
    for n in SIZES:
        template[n] = tmp_path / f"template-{n}"
        write_runs(template[n], n)
    times = {(kind, n): [] for kind in ("first", "next") for n in SIZES}
    for r in range(ROUNDS):
        for n in SIZES:
            results = tmp_path / f"round-{r}-{n}"
            shutil.copytree(template[n], results)
            times["first", n].append(_board(results))
            write_runs(results / "extra", 1, seed=r)  # one new run arrives
            shutil.copy(next((results / "extra" / "records").glob("*.parquet")), results / "records" / "new.parquet")
            times["next", n].append(_board(results))
            html = (results / "leaderboard.html").stat().st_size
            shutil.rmtree(results)
    print()
    for kind in ("first", "next"):
        cpu = {n: statistics.median(c for c, _ in times[kind, n]) for n in SIZES}
        wall = {n: statistics.median(w for _, w in times[kind, n]) for n in SIZES}
        print(f"leaderboard {kind:5s}: 100 records {cpu[100]:.2f} CPU-s ({wall[100]:.1f} s wall), "
              f"1,000 records {cpu[1000]:.2f} CPU-s ({wall[1000]:.1f} s wall); ratio {cpu[1000] / cpu[100]:.2f} "
              f"CPU ({wall[1000] / wall[100]:.2f} wall); medians of {ROUNDS} interleaved rounds")
    print(f"page at 1,000 records: {html / 1e6:.2f} MB")
