"""CPU training keeps freed memory in the process (echobench.engine.allocator): after
``make_fabric(gpus=0)`` a batch-sized tensor allocated again and again reuses the same pages instead
of faulting in fresh ones every step (each run in a fresh subprocess: the setting is process-wide)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys, torch
if sys.argv[1] == "tuned":
    from echobench.engine.devices import make_fabric
    make_fabric(gpus=0)
def step():
    x = torch.empty(16 << 20, dtype=torch.float32)  # 64 MiB, like a 16x224x224 training batch
    x.fill_(1.0)
    return float(x[-1])
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc mallopt only")
def test_cpu_training_reuses_freed_memory_instead_of_faulting_in_fresh_pages():
    pages_per_step = (64 << 20) // 4096
    default, tuned = _faults("default"), _faults("tuned")
    assert default > 5 * pages_per_step  # glibc's default: mmap and unmap every step (~10 steps' pages)
    # tuned: the steps reuse the heap (measured 1-4 steps' pages of 10 here: the kernel's proactive
    # reclaim takes some idle pages back between steps)
    assert tuned * 2 < default, (default, tuned)


def test_the_setting_is_described_once_for_the_record():
    from echobench.engine.allocator import tune_cpu_allocator

    first = tune_cpu_allocator()
    assert tune_cpu_allocator() == first
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert "mmap threshold 1024 MiB" in first or "mmap threshold 32 MiB" in first
