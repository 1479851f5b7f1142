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
the same counts as the model's utilization. Time shares come from ``torch.profiler`` on the CPU; a
class's utilization is the model's measured utilization times its share of the FLOPs over its share
of the time (:class:`TimeBreakdown`). GPU kernels are not attributed to operators here, so the
breakdown is CPU-only.
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
    """Per-call time (s) and FLOPs of each class in :data:`CLASSES`, from one profile.

    ``seconds`` holds profiler self times per call, with the time no operator accounts for added to
    ``other``; they add up to the wall-clock time per profiled call. Only *shares* are read from it:
    absolute times and a peak measured at another moment would not compare, as the CPU clock drifts
    by several percent (up to ~10 % on this project's VM) within a run. A class's utilization is
    therefore derived from the model's measured utilization (timed rounds, per-round ratio to the
    peak; :mod:`echobench.bench.models`) and the shares: ``overall * flop_share / time_share``.
    """

    seconds: Mapping[str, float]
    flops: Mapping[str, float]

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))

    def share(self, cls: str) -> float:
        """Fraction of the profiled time spent in ``cls``."""
        total = self.total_seconds
        return self.seconds.get(cls, 0.0) / total if total else float("nan")

    def flop_share(self, cls: str) -> float:
        """Fraction of the counted FLOPs done by ``cls``."""
        total = float(sum(self.flops.values()))
        return self.flops.get(cls, 0.0) / total if total else float("nan")

    def utilization(self, cls: str, overall: float) -> float:
        """Utilization of ``cls`` (its FLOPs / its time / the peak), given the model's ``overall``
        utilization; NaN when the class took no time."""
        share = self.share(cls)
        return overall * self.flop_share(cls) / share if share else float("nan")

    def ceiling(self, overall: float) -> float:
        """Utilization if only ``matmul`` and ``attention`` took time, at their measured speed."""
        share = self.share("matmul") + self.share("attention")
        flops = self.flop_share("matmul") + self.flop_share("attention")
        return overall * flops / share if share else float("nan")


def flops_by_class(flops_by_op: Mapping[str, float]) -> dict[str, float]:
    """Sum FLOP-counter counts (op name -> FLOPs) into :data:`CLASSES`."""
    out = dict.fromkeys(CLASSES, 0.0)
    for name, flops in flops_by_op.items():
        out[op_class(name)] += float(flops)
    return out


def time_breakdown(fn: Callable[[], object], flops_by_op: Mapping[str, float], *, calls: int = 3) -> TimeBreakdown:
    """Profile ``calls`` calls of ``fn`` on the CPU and group operator self times into classes.

    Args:
        fn: one unit of work (e.g. an inference batch), already warmed up.
        flops_by_op: FLOPs of one call of ``fn`` per operator name (see :func:`flops_by_class`).
        calls: profiled calls; times are per call.
    Returns:
        :class:`TimeBreakdown`.
    Raises:
        ValueError: ``calls < 1``.
    """
    from torch.profiler import ProfilerActivity, profile

    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        wall = (time.perf_counter() - start) / calls
    seconds = dict.fromkeys(CLASSES, 0.0)
    for event in prof.key_averages():
        seconds[op_class(event.key)] += event.self_cpu_time_total / 1e6 / calls
    seconds["other"] += max(0.0, wall - sum(seconds.values()))  # between operators: Python, dispatch
    return TimeBreakdown(seconds=seconds, flops=flops_by_class(flops_by_op))
