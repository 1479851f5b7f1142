"""Token masks for MAE pre-training: ``(B, L)`` bool, True = masked (hidden from the encoder).

Tokens are in the encoder's t-major order over the grid ``(t, h, w)`` (``L = t*h*w``). Every mask
is a function of a seed only, so a resumed or multi-process run draws the same masks:

- ``tube`` (VideoMAE's default, MCG-NJU/VideoMAE ``masking_generator.TubeMaskingGenerator``):
  ``int(ratio * h*w)`` positions of one frame are drawn without replacement and masked in every one
  of the ``t`` token frames; one draw per sample (its sample seed).
- ``random`` (MCG-NJU ``RandomMaskingGenerator``): ``int(ratio * L)`` tokens drawn without
  replacement over the whole clip; one draw per sample.
- ``released`` (the EchoVisionFM release, ``pretrain.py``): ``torch.rand(1, L) > ratio`` drawn once
  per batch and shared by every sample. Note the comparison: each token is masked with probability
  ``1 - ratio`` (about 10 % at ``--mask-ratio 0.9``) and the count varies between batches. It is kept
  as released so that run can be reproduced; a draw that masks no token or every token is redrawn
  from the same generator (the release would produce a NaN or empty loss there).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from echobench import ConfigError

MASKINGS = ("tube", "random", "released")


def _check(ratio: float) -> None:
    if not 0.0 < float(ratio) < 1.0:
        raise ConfigError(f"--mask-ratio must be between 0 and 1 (exclusive), got {ratio}")


def masked_count(kind: str, grid: tuple[int, int, int], ratio: float) -> int | None:
    """Tokens masked per sample for ``tube``/``random``; ``None`` for ``released`` (it varies).

    Raises:
        ConfigError: unknown kind, ratio outside (0, 1), or a ratio that masks no token or every token
            of this grid (e.g. ``tube`` at 0.05 on a 4x4 frame).
    """
    _check(ratio)
    t, h, w = grid
    if kind == "tube":
        n, total, what = int(ratio * h * w), h * w, f"{h}x{w} token frame"
        count = n * t
    elif kind == "random":
        n, total, what = int(ratio * t * h * w), t * h * w, f"{t}x{h}x{w} token grid"
        count = n
    elif kind == "released":
        return None
    else:
        raise ConfigError(f"unknown masking {kind!r}; choose from {', '.join(MASKINGS)}")
    if n == 0 or n == total:
        raise ConfigError(f"--mask-ratio {ratio} masks {'no' if n == 0 else 'every'} token of a {what} "
                          f"(--masking {kind}); choose another ratio or a larger --size")
    return count


def tube_mask(grid: tuple[int, int, int], ratio: float, generator: torch.Generator) -> torch.Tensor:
    """One tube mask ``(t*h*w,)`` bool: the same ``int(ratio*h*w)`` spatial positions in every frame."""
    t, h, w = grid
    frame = torch.zeros(h * w, dtype=torch.bool)
    frame[torch.randperm(h * w, generator=generator)[: int(ratio * h * w)]] = True
    return frame.repeat(t)


def random_mask(grid: tuple[int, int, int], ratio: float, generator: torch.Generator) -> torch.Tensor:
    """One random mask ``(t*h*w,)`` bool with exactly ``int(ratio*L)`` masked tokens."""
    n = math.prod(grid)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=generator)[: int(ratio * n)]] = True
    return mask


def released_mask(grid: tuple[int, int, int], ratio: float, generator: torch.Generator) -> torch.Tensor:
    """The EchoVisionFM release's mask ``(t*h*w,)`` bool: ``rand(L) > ratio`` (see module docstring)."""
    n = math.prod(grid)
    while True:
        mask = torch.rand(n, generator=generator) > ratio
        if 0 < int(mask.sum()) < n:
            return mask


_MAKERS = {"tube": tube_mask, "random": random_mask, "released": released_mask}


def make_masks(kind: str, grid: tuple[int, int, int], ratio: float, *, sample_seeds: Sequence[int],
               batch_seed: int) -> torch.Tensor:
    """Masks for a batch, ``(B, t*h*w)`` bool on the CPU, ``B = len(sample_seeds)``.

    ``tube`` and ``random`` draw per sample from ``sample_seeds[i]``; ``released`` draws once from
    ``batch_seed`` and repeats the mask over the batch (as the release does).

    Raises:
        ConfigError: see :func:`masked_count`.
    """
    masked_count(kind, grid, ratio)
    maker = _MAKERS[kind]
    if kind == "released":
        mask = maker(grid, ratio, torch.Generator().manual_seed(int(batch_seed)))
        return mask.unsqueeze(0).repeat(len(sample_seeds), 1)
    return torch.stack([maker(grid, ratio, torch.Generator().manual_seed(int(s))) for s in sample_seeds])


__all__ = ["MASKINGS", "make_masks", "masked_count", "random_mask", "released_mask", "tube_mask"]
