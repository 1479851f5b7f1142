"""Cost of ``echobench leaderboard`` over 100 vs 1,000 distinct run records (issue 15 item 7).

Not part of the test run. Run:  python -m pytest benchmarks/test_leaderboard_scale.py -s

Writes 100 and 1,000 synthetic runs with the real record writer (:mod:`benchmarks.leaderboard_records`:
58 record rows and a 120-row ``predictions.parquet`` per run, every run its own setup so each is its
own table row), then times the whole ``echobench leaderboard`` command in a fresh process, side by
side, three ways:

- ``cold``: the first board after the records were written (no index, no figures: every record
  read, the top-k figures drawn);
- ``cold, figures kept``: the same with the figures already drawn (the record index deleted): what
  reading every record and rendering the tables cost, without matplotlib;
- ``warm``: a later board with one new record (the index and figure caches hold the rest).

Each is timed ``ROUNDS`` times interleaved (100, 1,000, 100, ...) and the medians of CPU seconds
(user + system of the child: on a shared machine wall time measures the neighbours) and of wall
seconds are printed in one table with the ratio 1,000 / 100, with the load average before and after.
Targets: 1,000 records <= 10 s on this CPU and <= 1.5x the time for 100 records.
``ECHOBENCH_BENCH_ROUNDS`` (default 3) sets the rounds. ``ECHOBENCH_BENCH_BASELINE=/path/to/checkout``
also times that checkout's ``echobench`` (run from its folder, its ``plugins/`` on the path) in the
same interleaved rounds, on its own copy of the same records: before and after under the same load.
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
KINDS = ("cold", "cold, figures kept", "warm")
BASELINE = os.environ.get("ECHOBENCH_BENCH_BASELINE")
TREES: dict[str, Path | None] = {"this checkout": None, **({"baseline": Path(BASELINE).resolve()} if BASELINE else {})}


def _board(results: Path, tree: Path | None = None) -> tuple[float, float]:
    """(CPU s, wall s) of one ``echobench leaderboard`` process over ``results`` (``tree``: another
    checkout's echobench, run from its folder so that ``python -m`` imports it)."""
    env = None if tree is None else {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'plugins'}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "echobench", "leaderboard", "--results", str(results.resolve())],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tree)
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
    load_before = os.getloadavg()
    times: dict[tuple[str, str, int], list[tuple[float, float]]] = {
        (tree, kind, n): [] for tree in TREES for kind in KINDS for n in SIZES}
    for r in range(ROUNDS):
        for n in SIZES:
            for name, tree in TREES.items():
                results = tmp_path / f"round-{r}-{n}"
                shutil.copytree(template[n], results)
                times[name, "cold", n].append(_board(results, tree))
                shutil.rmtree(results / ".cache")
                times[name, "cold, figures kept", n].append(_board(results, tree))
                write_runs(results / "extra", 1, seed=r)  # one new run arrives
                shutil.copy(next((results / "extra" / "records").glob("*.parquet")),
                            results / "records" / "new.parquet")
                times[name, "warm", n].append(_board(results, tree))
                html = (results / "leaderboard.html").stat().st_size
                shutil.rmtree(results)
    load_after = os.getloadavg()
    print(f"\nechobench leaderboard, CPU-s (wall s) of the whole command, medians of {ROUNDS} interleaved rounds; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"{'board':34s} | {'100 records':>16s} | {'1,000 records':>16s} | ratio CPU (wall)")
    for name in TREES:
        for kind in KINDS:
            cpu = {n: statistics.median(c for c, _ in times[name, kind, n]) for n in SIZES}
            wall = {n: statistics.median(w for _, w in times[name, kind, n]) for n in SIZES}
            cells = " | ".join(f"{cpu[n]:6.2f} ({wall[n]:5.1f} s)".rjust(16) for n in SIZES)
            label = f"{kind}{'' if len(TREES) == 1 else f' ({name})'}"
            print(f"{label:34s} | {cells} | {cpu[1000] / cpu[100]:.2f} ({wall[1000] / wall[100]:.2f})")
    print(f"page at 1,000 records: {html / 1e6:.2f} MB")
