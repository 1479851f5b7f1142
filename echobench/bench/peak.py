"""Matrix-multiply peak of a device and dtype, measured in the same run as the models.

The peak is the rate of ``torch.mm(a, b, out=c)`` on square ``n x n`` matrices (``2 n^3`` FLOPs per
call; multiply-adds count as 2, as ``torch.utils.flop_counter``), with the output preallocated so
that only arithmetic is timed, at the thread count the models run with
(``torch.get_num_threads()``). Utilization of a model is its counted FLOPs per second divided by
this peak. Default sizes: 2048 on the CPU, 8192 on CUDA (large enough to saturate the device).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from echobench.bench.timing import interleaved, median


def default_size(device: str) -> int:
    """Matrix side used for the peak on ``device``."""
    return 8192 if str(device).startswith("cuda") else 2048


@dataclass(frozen=True)
class MatmulPeak:
    """A measured peak: ``gflops`` (GFLOP/s, median of ``samples``) of ``n x n`` matmuls."""

    gflops: float
    n: int
    device: str
    dtype: str
    threads: int
    samples: tuple[float, ...]


def matmul_work(n: int, device: str, dtype) -> tuple[Callable[[], object], float]:
    """One ``n x n`` matmul into a preallocated output, and its FLOPs (``2 n^3``).

    Returns:
        ``(call, flops)``: ``call()`` runs ``torch.mm(a, b, out=c)`` on ``device`` in ``dtype``.
    """
    import torch

    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    return (lambda: torch.mm(a, b, out=c)), 2.0 * n ** 3


def matmul_peak(device: str = "cpu", dtype=None, *, n: int | None = None, repeats: int = 5,
                min_seconds: float = 0.05) -> MatmulPeak:
    """Measure the matrix-multiply peak of ``device`` in ``dtype``.

    Args:
        device: ``"cpu"`` or ``"cuda"``/``"cuda:N"``.
        dtype: ``torch.float32`` (default) or ``torch.bfloat16``, the models' compute dtype.
        n: matrix side (default :func:`default_size`).
        repeats: timed samples; the median is reported.
        min_seconds: each sample repeats the matmul until this long.
    Returns:
        :class:`MatmulPeak` in GFLOP/s.
    """
    import torch

    dtype = dtype or torch.float32
    n = n or default_size(device)
    call, flops = matmul_work(n, device, dtype)
    seconds = interleaved({"mm": call}, repeats=repeats, device=device, min_seconds=min_seconds)["mm"]
    rates = tuple(flops / s / 1e9 for s in seconds)
    return MatmulPeak(gflops=median(list(rates)), n=n, device=str(device), dtype=str(dtype).removeprefix("torch."),
                      threads=torch.get_num_threads(), samples=rates)
