"""Keep freed CPU memory in the process between steps (glibc ``mallopt``), as CUDA's caching allocator
does on the GPU.

PyTorch's CPU tensors come from ``malloc``. With glibc's defaults, large blocks are ``mmap``-ed and
unmapped on free and the top of the heap is trimmed back to the kernel, so every training step
touches fresh pages: a ViT-S forward of two 16x112x112 clips took ~31,000 minor page faults (~15 %
of its time on a 2-core VM); a training step of the demo's model (echo-videomae tiny + STFF-Net,
batch 8 of 16x224x224 clips) spent 0.23 s of 0.42 s in the kernel (82,000 faults per step). Raising
the mmap threshold to 1 GiB (blocks of a batch stay on the heap; glibc 2.36 here accepts it; a C
library that refuses it gets 32 MiB, glibc's documented maximum on 64-bit) and the trim threshold to
1 GiB lets the next step reuse the same memory: ~1,600-3,600 faults and 0.24-0.26 s per step
(``benchmarks``-style side-by-side run, same process code). The cost: the process keeps up to 1 GiB
of freed memory for reuse. It is process-wide and cannot be undone exactly, so it is applied where a
process trains or benchmarks on the CPU (:func:`echobench.engine.devices.make_fabric` with no GPU,
and ``echobench demo``; DataLoader workers forked afterwards inherit it), and recorded:
``environment.json`` of a run (:func:`echobench.provenance.environment`, key ``cpu_allocator``) and
``echobench bench``'s throughput record. Numbers do not change: only where memory comes from.
PyTorch's CPU performance guide recommends the same effect through jemalloc/tcmalloc.
"""

from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30
MMAP_THRESHOLD_CAPPED = 32 * 1024 * 1024  # glibc's documented maximum on 64-bit (mallopt(3))
TRIM_THRESHOLD = 1 << 30
_applied: str | None = None


def tune_cpu_allocator() -> str:
    """Apply the settings above (once per process); returns a one-line description for the record
    ("" when the C library is not glibc or refuses them)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = ""
    try:
        libc = ctypes.CDLL("libc.so.6")
        threshold = next((t for t in (MMAP_THRESHOLD, MMAP_THRESHOLD_CAPPED)
                          if libc.mallopt(_M_MMAP_THRESHOLD, t) == 1), None)
        ok = threshold is not None and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    except (OSError, AttributeError):
        return _applied
    if ok:
        _applied = (f"glibc malloc kept freed memory between steps (mmap threshold {threshold >> 20} MiB, "
                    f"trim threshold {TRIM_THRESHOLD >> 20} MiB)")
    return _applied


def applied() -> str:
    """The description :func:`tune_cpu_allocator` returned in this process ("" when not applied)."""
    return _applied or ""
