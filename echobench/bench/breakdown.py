"""Where a model's time goes: its operators grouped into matrix multiplies, attention and the rest,
each with its share of the time and, where FLOPs are counted, its own utilization of the matmul peak.

Why: a model's utilization (counted FLOPs / time / matmul peak) is capped by the work that counts no
FLOPs (softmax inside attention, GELU, LayerNorm, residual adds, copies) and by how well the kernels
of the counted work run. The breakdown separates the two. Its ``ceiling`` is the utilization the
model would reach if everything outside the matrix multiplies and attention took no time, with
those kernels at the speed measured here: removing element-wise work alone cannot beat it; faster
kernels, or a model whose matrices have other shapes, can.

Classes, by operator name (self time, so nested calls are not counted twice):

- ``matmul``: ``aten::mm``/``addmm``/``bmm``/``baddbmm``, convolutions, oneDNN/MKL linear kernels
  (``torch.compile`` with freezing, where bias and GELU fused into them count as matmul time too);
- ``attention``: ``F.scaled_dot_product_attention`` kernels (flash / memory-efficient / math);
- ``other``: every other operator, plus the wall-clock time between operators (Python, dispatch)
  that the profiler attributes to none, so the classes add up to the measured time per call.

Under ``torch.compile`` the classes are assigned by kernel name, so work fused into a generated
kernel counts where that kernel's name puts it; read a compiled breakdown as approximate.

FLOPs per class come from ``torch.utils.flop_counter`` (:func:`echobench.bench.flops.count_flops_by_op`),
the same counts as the model's utilization. Time comes from ``torch.profiler`` on the CPU; GPU kernels
are not attributed to operators here, so the breakdown is CPU-only.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable, Mapping

CLASSES = ("matmul", "attention", "other")
_MATMUL = {"mm", "addmm", "bmm", "baddbmm", "addbmm", "matmul", "mv", "addmv", "dot"}
_ATTENTION = re.compile(r"scaled_dot_product|flash_attention|efficient_attention|cudnn_attention")
_LINEAR = re.compile(r"(^|_)linear($|_pointwise)")  # linear, mkldnn_linear, _mkl_linear, _linear_pointwise


def op_class(name: str) -> str:
    """Class of an operator, from a profiler name (``aten::addmm``) or a FLOP-counter name (``aten.addmm``)."""
    op = name.split("::")[-1] if "::" in name else name.split(".", 1)[-1]
    op = op.split(".")[0]  # overload suffix (aten.addmm.default)
    if _ATTENTION.search(op):
        return "attention"
    if op in _MATMUL or "convolution" in op or _LINEAR.search(op):
        return "matmul"
    return "other"


@dataclass(frozen=True)
class TimeBreakdown:
    """Per-call time (s) and FLOPs of each class in :data:`CLASSES`, and the matmul peak (FLOP/s)
    measured just before and after the profiled calls (CPU clocks drift by several percent over a
    run, so a peak from another moment would misstate the classes' utilization).

    ``seconds`` holds profiler self times per call, with the time no operator accounts for added to
    ``other``; the total is the wall-clock time per profiled call, which includes the profiler's own
    overhead (microseconds per operator), so shares, not absolute times, are what to read.
    """

    seconds: Mapping[str, float]
    flops: Mapping[str, float]
    peak_flops_per_s: float

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))

    def share(self, cls: str) -> float:
        """Fraction of the profiled time spent in ``cls``."""
        return self.seconds.get(cls, 0.0) / self.total_seconds if self.total_seconds else float("nan")

    def utilization(self, cls: str | None = None) -> float:
        """Counted FLOPs of ``cls`` / its time / the peak (NaN when it took no time); ``None``: the
        whole profiled call."""
        seconds = self.total_seconds if cls is None else self.seconds.get(cls, 0.0)
        flops = sum(self.flops.values()) if cls is None else self.flops.get(cls, 0.0)
        return flops / seconds / self.peak_flops_per_s if seconds else float("nan")

    def ceiling(self) -> float:
        """Utilization if only ``matmul`` and ``attention`` took time, at their measured speed."""
        seconds = self.seconds.get("matmul", 0.0) + self.seconds.get("attention", 0.0)
        flops = self.flops.get("matmul", 0.0) + self.flops.get("attention", 0.0)
        return flops / seconds / self.peak_flops_per_s if seconds else float("nan")


def flops_by_class(flops_by_op: Mapping[str, float]) -> dict[str, float]:
    """Sum FLOP-counter counts (op name -> FLOPs) into :data:`CLASSES`."""
    out = dict.fromkeys(CLASSES, 0.0)
    for name, flops in flops_by_op.items():
        out[op_class(name)] += float(flops)
    return out


def time_breakdown(fn: Callable[[], object], flops_by_op: Mapping[str, float],
                   peak: tuple[Callable[[], object], float], *, calls: int = 3,
                   peak_seconds: float = 0.2) -> TimeBreakdown:
    """Profile ``calls`` calls of ``fn`` on the CPU and group operator self times into classes.

    Args:
        fn: one unit of work (e.g. an inference batch), already warmed up.
        flops_by_op: FLOPs of one call of ``fn`` per operator name (see :func:`flops_by_class`).
        peak: ``(call, flops)`` of the peak matmul (:func:`echobench.bench.peak.matmul_work`), timed for
            ``peak_seconds`` right before and right after the profiled calls; their mean rate is the peak.
        calls: profiled calls; times are per call.
    Returns:
        :class:`TimeBreakdown`.
    Raises:
        ValueError: ``calls < 1``.
    """
    from torch.profiler import ProfilerActivity, profile

    from echobench.bench.timing import time_call

    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    peak_call, peak_flops = peak
    before = peak_flops / time_call(peak_call, "cpu", min_seconds=peak_seconds)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        wall = (time.perf_counter() - start) / calls
    after = peak_flops / time_call(peak_call, "cpu", min_seconds=peak_seconds)
    seconds = dict.fromkeys(CLASSES, 0.0)
    for event in prof.key_averages():
        seconds[op_class(event.key)] += event.self_cpu_time_total / 1e6 / calls
    seconds["other"] += max(0.0, wall - sum(seconds.values()))  # between operators: Python, dispatch
    return TimeBreakdown(seconds=seconds, flops=flops_by_class(flops_by_op), peak_flops_per_s=(before + after) / 2)
