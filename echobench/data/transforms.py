"""Batch transforms of a protocol, run on the device: uint8 clips -> model input.

``prepare_clips(clip (B, T, H, W, 3) uint8) -> (B, 3, T, S, S) float32`` resizes each frame to the
protocol's size (bilinear, ``align_corners=False``, as ``torch.nn.functional.interpolate`` in the
EchoVisionFM release), scales to [0, 1] or normalises with TRAIN mean/std, and in training applies
the protocol's random horizontal/vertical flips (one draw per clip, the same for all its frames).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from echobench.protocols import Protocol


def prepare_clips(clip: torch.Tensor, protocol: Protocol, *, train: bool,
                  mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                  generator: torch.Generator | None = None, flip_draws: torch.Tensor | None = None,
                  flips: torch.Tensor | None = None) -> torch.Tensor:
    """Turn a uint8 batch ``(B, T, H, W, 3)`` (or ``(B, T, H, W, 1)``: grey, expanded to three channels
    after the resize, on the batch's device) into model input ``(B, 3, T, S, S)`` float32.

    Args:
        mean, std: per-channel statistics in [0, 1] units; required for ``train-mean-std``.
        generator: CPU generator for the flip draws (seeded by the engine).
        flip_draws: ``(B, 2)`` uniform draws in [0, 1) to use instead (a DDP process's rows of its
            global batch's draws); a draw below 0.5 flips (column 0 horizontally, 1 vertically).
        flips: ``(B, 2)`` bool, flip these samples (column 0 horizontally, 1 vertically) whatever
            ``train`` and the protocol say: flips drawn by the loader (the pre-training clips'),
            applied to the stored frames before the resize (the numbers of flipping the uint8 frames).

    Raises:
        ValueError: ``train-mean-std`` protocol without ``mean``/``std``.
    """
    b, t, h, w, c = clip.shape
    x = clip.permute(0, 1, 4, 2, 3).reshape(b * t, c, h, w).float().div_(255.0)
    if flips is not None:  # the loader's draws: on the stored frames, as flipping the uint8 frames would
        _flip_rows(x.view(b, t, c, h, w), flips)
    if (h, w) != (protocol.size, protocol.size):
        x = F.interpolate(x, size=(protocol.size, protocol.size), mode="bilinear", align_corners=False)
    x = x.reshape(b, t, c, protocol.size, protocol.size)
    if flips is None and train and protocol.train_flips:
        # Flips permute pixels, so they commute exactly with the channel expansion and normalisation
        # below: done here, in place on the flipped samples' one-channel frames, they cost a fraction
        # of flipping the expanded three-channel batch (the same numbers, bit for bit).
        _flip_rows(x, (flip_draws if flip_draws is not None else torch.rand((b, 2), generator=generator)) < 0.5)
    x = x.permute(0, 2, 1, 3, 4)
    if c == 1:  # grey clips travel as one channel and become three here, on the device
        x = x.expand(b, 3, t, protocol.size, protocol.size)
    if protocol.normalization == "train-mean-std":
        if mean is None or std is None:
            raise ValueError(f"protocol {protocol.name} needs TRAIN mean/std")
        m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1, 1)
        s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1, 1)
        x = (x - m) / s
    return x.contiguous()


def _flip_rows(x: torch.Tensor, flags: torch.Tensor) -> None:
    """Flip, in place, the samples of ``x (B, T, C, H, W)`` whose ``flags (B, 2)`` say so (column 0:
    horizontally, 1: vertically)."""
    flags = flags.cpu()
    for dim, column in ((-1, 0), (-2, 1)):  # horizontal, then vertical
        flipped = torch.nonzero(flags[:, column]).flatten().to(x.device)
        if len(flipped):
            x[flipped] = x[flipped].flip(dim)


def channel_counts(video: np.ndarray) -> np.ndarray:
    """``(3, 256)`` int64 histogram per channel of ``video (N, H, W, C)`` uint8 (C = 1 or 3; a grey
    video counts for all three channels): what :func:`channel_stats` sums, kept per video so a run's
    one decoding pass can reduce each TRAIN video before knowing which ones the sample draws."""
    counts = np.zeros((3, 256), dtype=np.int64)
    flat = np.asarray(video).reshape(-1, video.shape[-1])
    for c in range(3):
        counts[c] += np.bincount(flat[:, c if flat.shape[1] == 3 else 0], minlength=256)
    return counts


def stats_from_counts(counts: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units from summed :func:`channel_counts` ``(3, 256)`` (exact
    sums; the variance in float64)."""
    n = np.maximum(counts.sum(1), 1)
    level = np.arange(256, dtype=np.float64) / 255.0
    mean = (counts * level).sum(1) / n
    var = (counts * (level[None, :] - mean[:, None]) ** 2).sum(1) / n
    std = np.sqrt(np.maximum(var, 1e-12))
    return mean.tolist(), std.tolist()


def channel_stats(videos: Iterable[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units over frames ``(N, H, W, C)`` uint8 (C = 1 or 3).

    One streaming pass: each video is reduced to a 256-bin histogram per channel (exact integer
    counts, no float copy of its pixels; :func:`channel_counts`) before the next is read, so a
    generator of decoded videos holds one video at a time; grey videos count for all three channels.
    Mean and std come from the histograms (:func:`stats_from_counts`).

    EchoNet-Dynamic computes these over a sample of TRAIN videos (``echonet.utils.get_mean_and_std``).
    """
    counts = np.zeros((3, 256), dtype=np.int64)
    for v in videos:
        counts += channel_counts(v)
    return stats_from_counts(counts)
