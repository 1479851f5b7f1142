"""Keep freed CPU memory in the process between steps (glibc ``mallopt``), as CUDA's caching allocator
does on the GPU.

PyTorch's CPU tensors come from ``malloc``. With glibc's defaults, large blocks are ``mmap``-ed and
unmapped on free and the top of the heap is trimmed back to the kernel, so every forward pass
touches fresh pages: a ViT-S forward of two 16x112x112 clips took ~31,000 minor page faults
(~15 % of its time on a 2-core VM). Raising the mmap threshold to its maximum (32 MiB) and the trim
threshold to 1 GiB lets the next step reuse the same memory (~800 faults). This is process-wide and
cannot be undone exactly, so it is applied to a benchmark process (``echobench bench``) and
recorded in its throughput record; models and their Hugging Face peers run under the same setting.
PyTorch's CPU performance guide recommends the same effect through jemalloc/tcmalloc.
"""

from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit
TRIM_THRESHOLD = 1024 * 1024 * 1024


def tune_cpu_allocator() -> str:
    """Apply the settings above; returns a one-line description for the record ("" when not glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = (libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
              and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    except (OSError, AttributeError):
        return ""
    if not ok:
        return ""
    return (f"glibc malloc kept freed memory between steps (mmap threshold {MMAP_THRESHOLD >> 20} MiB, "
            f"trim threshold {TRIM_THRESHOLD >> 20} MiB)")
