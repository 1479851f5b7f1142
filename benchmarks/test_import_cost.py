"""Import cost of Lightning Fabric for `run` and `pretrain` (issue 15 item 5).

Not part of the test run. Run:  python -m pytest benchmarks/test_import_cost.py -s

CPU seconds (user + system of a fresh child process; on a shared machine wall time measures the
neighbours) of: ``import torch`` alone; ``from lightning.fabric import Fabric`` (before: the whole
unified ``lightning`` package, with torchmetrics, scipy, transformers, matplotlib); and
``from echobench.engine.fabric import Fabric`` plus building a CPU Fabric (after:
:mod:`echobench.engine.fabric`). ``ROUNDS`` interleaved rounds; medians and the ratio are printed.
``ECHOBENCH_BENCH_ROUNDS`` (default 3) sets the rounds.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys

ROUNDS = int(os.environ.get("ECHOBENCH_BENCH_ROUNDS", 3))
CASES = {
    "torch": "import torch",
    "before": "from lightning.fabric import Fabric",
    "after": "from echobench.engine.fabric import Fabric; Fabric(accelerator='cpu', devices=1)",
}


def _cpu_seconds(code: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_fabric_import_cpu_seconds():
    times = {k: [] for k in CASES}
    for _ in range(ROUNDS):
        for name, code in CASES.items():
            times[name].append(_cpu_seconds(code))
    m = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nimport CPU-s (medians of {ROUNDS} interleaved rounds): torch alone {m['torch']:.2f}, "
          f"lightning.fabric {m['before']:.2f}, echobench.engine.fabric {m['after']:.2f}; "
          f"before / after {m['before'] / m['after']:.2f}x; Fabric's share above torch "
          f"{m['before'] - m['torch']:.2f} -> {m['after'] - m['torch']:.2f}")
