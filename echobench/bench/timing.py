"""Repeated, interleaved timing with medians (the measurement discipline of every benchmark here).

``interleaved(fns, repeats)`` runs each callable once as warm-up, then ``repeats`` rounds in which
every callable is timed once, back to back, in an order that rotates each round. A round's ratios
(e.g. our encoder vs Hugging Face's, or a model vs the matmul peak) therefore compare two
measurements taken under the same machine load; :func:`median_ratio` reports the median of those
per-round ratios. Device work is synchronised before each clock read (CUDA is asynchronous).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Mapping


def synchronize(device: str) -> None:
    """Wait for queued device work (no-op on the CPU)."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], device: str, *, min_seconds: float = 0.0) -> float:
    """Seconds per call of ``fn``: calls it until at least ``min_seconds`` have passed (at least once)
    and returns the mean time per call (s)."""
    synchronize(device)
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def interleaved(fns: Mapping[str, Callable[[], object]], *, repeats: int, device: str = "cpu",
                warmup: int = 1, min_seconds: float = 0.0) -> dict[str, list[float]]:
    """Time every callable ``repeats`` times, interleaved round by round.

    Args:
        fns: name -> zero-argument callable (one unit of work, e.g. one batch).
        repeats: rounds (>= 1).
        warmup: untimed calls of each callable first (allocator, autotuning, lazy init).
        min_seconds: each sample repeats its callable until this long (for sub-millisecond work).
    Returns:
        name -> ``repeats`` samples in seconds per call.
    Raises:
        ValueError: ``repeats < 1``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    synchronize(device)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(time_call(fns[name], device, min_seconds=min_seconds))
    return samples


def median(values: list[float]) -> float:
    """Median of the samples."""
    return float(statistics.median(values))


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of ``numerator[r] / denominator[r]`` (samples from :func:`interleaved`)."""
    return float(statistics.median(n / d for n, d in zip(numerator, denominator, strict=True)))
