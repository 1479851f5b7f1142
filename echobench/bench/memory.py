"""Peak memory of a unit of work (a training step, a forward pass), in MiB.

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``: every live tensor
  (parameters, gradients, optimizer state, activations), not the allocator's cache.
- CPU (Linux): the process's peak resident set (``VmHWM`` in ``/proc/self/status``) during the work,
  less the resident set measured by :meth:`PeakMemory.baseline` before the model was built. Freed
  heap is handed back to the kernel first (``malloc_trim``) and the high-water mark is reset
  (``/proc/self/clear_refs`` = 5, Linux >= 4.0), so the figure covers the model's parameters,
  gradients, optimizer state and activations, like the CUDA one, plus the allocator's slack.
- Elsewhere: NaN (not measurable), never a made-up number.
"""

from __future__ import annotations

import ctypes
import gc
import math
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_MIB = 1024 * 1024


def _status_kib(field: str) -> float:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    raise OSError(f"{_STATUS}: no {field} line")


def _trim_heap() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the baseline just includes more slack
        pass


def _cpu_supported() -> bool:
    try:
        _status_kib("VmHWM")
        return _CLEAR_REFS.exists()
    except OSError:
        return False


class PeakMemory:
    """Measure peak memory of work done between :meth:`start` and :meth:`stop` on ``device``.

    Use: ``probe = PeakMemory(device); probe.baseline()`` before the model is built, then per measured
    step ``probe.start(); step(); peak_mib = probe.stop()``.
    """

    def __init__(self, device: str) -> None:
        self.device = str(device)
        self.cuda = self.device.startswith("cuda")
        self.supported = self.cuda or _cpu_supported()
        self._base_kib = 0.0

    def baseline(self) -> None:
        """Record what is in use before the model exists (CPU: resident set after trimming the heap)."""
        if self.supported and not self.cuda:
            _trim_heap()
            self._base_kib = _status_kib("VmRSS")

    def start(self) -> None:
        """Reset the peak counter."""
        if not self.supported:
            return
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            _trim_heap()
            try:
                _CLEAR_REFS.write_text("5")
            except OSError:
                self.supported = False

    def stop(self) -> float:
        """Peak memory since :meth:`start`, in MiB (NaN when the platform cannot tell)."""
        if not self.supported:
            return math.nan
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / _MIB
        return max(0.0, _status_kib("VmHWM") - self._base_kib) / 1024.0
