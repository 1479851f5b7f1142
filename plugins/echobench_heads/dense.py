"""Dense heads: the backbone's token grid upsampled to per-frame LV masks or per-frame ED/ES logits.

Both work with every backbone through :class:`echobench.Features` alone (tokens ``(B, t*h*w, D)``
in t-major order and the grid ``(t, h, w)``), so ViTs (tubelet grids), ViViT and 3D CNNs (their last
feature map) share them:

- :class:`SegUpsampleHead` (``seg-upsample``): per-token LayerNorm + linear ``D -> C * s * s`` (the
  linear decoder of SETR-naive / Segmenter, Zheng et al. CVPR 2021 §3.2, Strudel et al. ICCV 2021
  §3.2, with the sub-pixel rearrangement of Shi et al. CVPR 2016, so each token paints its own
  ``s x s`` cells), reshaped on the token grid to ``(B, C, t, h*s, w*s)`` with ``s = ceil(H / 4 / h)``,
  resized (bilinear) to ``(H/4, W/4)``, one per-frame 3x3 conv + GELU refinement, a 1x1x1 conv to one
  logit, and trilinear upsampling to ``(T, H, W)`` (the refinement stays at the grid's ``t``, so it
  costs little), plus a learnable per-pixel prior ``(H, W)`` added to every frame's logits. The logit
  bias starts at -2 (an LV cavity covers ~10 % of an A4C frame); core may instead start the prior at the
  TRAIN mean mask (:meth:`SegUpsampleHead.set_prior`), as a regression head starts at the TRAIN mean.
- :class:`FramesUpsampleHead` (``frames-upsample``): per-token LayerNorm + linear ``D -> C``, the mean
  over the grid's rows and columns, linear interpolation from ``t`` to ``T`` time steps, one
  temporal conv (kernel 3) + GELU and a 1x1 conv to two logits per frame (ED, ES).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from echobench import Features


class _TokenProjection(nn.Module):
    """``Features`` -> ``(B, C, t, h, w)``: LayerNorm and a linear map of every token, on its grid."""

    def __init__(self, dim: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, channels)

    def forward(self, features: Features) -> torch.Tensor:
        t, h, w = features.grid
        x = self.proj(self.norm(features.tokens))  # (B, t*h*w, C), t-major
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], t, h, w)


class SegUpsampleHead(nn.Module):
    """Per-token linear -> token grid -> upsampled mask logits. ``Features -> (B, T, H, W)``.

    Args:
        dim: token dim ``D``.
        clip_shape: the protocol's clip ``(T, H, W)`` the logits are given at.
        grid: the backbone's token grid ``(t, h, w)`` for that clip (sets the sub-pixel factor ``s``).
        channels: decoder width ``C``.
    """

    def __init__(self, *, dim: int, clip_shape: tuple[int, int, int], grid: tuple[int, int, int],
                 channels: int = 32) -> None:
        super().__init__()
        self.clip_shape = tuple(int(v) for v in clip_shape)
        self.channels = channels
        self.sub = max(1, math.ceil(self.clip_shape[1] / 4 / grid[1]))
        self.tokens = _TokenProjection(dim, channels * self.sub * self.sub)
        self.refine = nn.Sequential(nn.Conv3d(channels, channels, (1, 3, 3), padding=(0, 1, 1)), nn.GELU(),
                                    nn.Conv3d(channels, 1, 1))
        nn.init.constant_(self.refine[-1].bias, -2.0)
        self.prior = nn.Parameter(torch.zeros(self.clip_shape[1:]))  # (H, W) logits added to every frame

    def set_prior(self, logits: torch.Tensor) -> None:
        """Start the output at a per-pixel prior: ``logits`` ``(H, W)`` at the clip's size (e.g. the
        logit of the TRAIN mean LV mask); the decoder's constant bias is set to 0 so the prior alone
        is the initial output's offset.

        Raises:
            ValueError: ``logits`` is not ``(H, W)`` of the clip.
        """
        if tuple(logits.shape) != tuple(self.prior.shape):
            raise ValueError(f"prior of shape {tuple(logits.shape)}, expected {tuple(self.prior.shape)}")
        with torch.no_grad():
            self.prior.copy_(logits.to(self.prior))
            self.refine[-1].bias.zero_()

    def forward(self, features: Features) -> torch.Tensor:
        _, h_out, w_out = self.clip_shape
        x = self.tokens(features)  # (B, C*s*s, t, h, w)
        b, _, t, h, w = x.shape
        s = self.sub
        x = (x.reshape(b, self.channels, s, s, t, h, w).permute(0, 1, 4, 5, 2, 6, 3)
             .reshape(b, self.channels, t, h * s, w * s))
        if (h * s, w * s) != (max(1, h_out // 4), max(1, w_out // 4)):
            x = F.interpolate(x, size=(t, max(1, h_out // 4), max(1, w_out // 4)), mode="trilinear",
                              align_corners=False)
        x = self.refine(x)
        return F.interpolate(x, size=self.clip_shape, mode="trilinear", align_corners=False).squeeze(1) + self.prior


class FramesUpsampleHead(nn.Module):
    """Per-token linear -> mean over space -> temporal upsampling -> ED/ES logits. ``Features -> (B, T, 2)``.

    Args:
        dim: token dim ``D``.
        clip_shape: the protocol's clip ``(T, H, W)`` (only ``T`` is used).
        channels: decoder width ``C``.
    """

    def __init__(self, *, dim: int, clip_shape: tuple[int, int, int], channels: int = 64) -> None:
        super().__init__()
        self.frames = int(clip_shape[0])
        self.tokens = _TokenProjection(dim, channels)
        self.refine = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1), nn.GELU(), nn.Conv1d(channels, 2, 1))

    def forward(self, features: Features) -> torch.Tensor:
        x = self.tokens(features).mean(dim=(3, 4))  # (B, C, t)
        x = F.interpolate(x, size=self.frames, mode="linear", align_corners=False)
        return self.refine(x).transpose(1, 2)  # (B, T, 2)
