"""STFF-Net: the spatio-temporal feature-fusion head of EchoVisionFM (paper §3.2; DESIGN §4 ``stff``).

::

    Features.tokens (B, L, D), L = t*h*w (t-major), grid (t, h, w), frame_indices (B, T)
      -> grid g = tokens.transpose(1, 2).reshape(B, D, t, h, w)
      joint:    g + PE3d(t, h, w) -> 3D residual bottleneck -> (B, L, D) -> gated attention over L -> (B, D)
      disjoint: per time step 2D residual bottleneck on (B*t, D, h, w) -> Conv2d(kernel = stride = (h, w))
                -> (B, t, D) + MLP(sinusoid(mean source-frame index of each step)) -> gated attention
                over t -> (B, D)
      -> concat (B, 2D)                                              out_dim = 2*D

Grid handling: the head is built from ``dim`` alone (``HeadSpec`` contract) but the disjoint path's
spatial-collapse convolution has kernel ``(h, w)``, which depends on the backbone's token grid. Pass
``grid=(t, h, w)`` to build it eagerly; otherwise it is a lazy parameter materialized on the first
forward (torch's ``LazyModuleMixin``), so run one forward (e.g. under ``torch.no_grad()`` in eval
mode) before building the optimizer or wrapping the module for DDP. Later calls with a different
``(h, w)`` raise ``ValueError``.

``released_reshape=True`` reproduces the released EchoVisionFM code, which views the token memory as
channel-major without permuting: ``tokens.reshape(B, D, t, h, w)`` on the ``(B, L, D)`` tensor (and
``reshape(B, L, D)`` back). That scrambles positions: "channel" c of grid cell (i, j, k) is some
channel of some other token, so the 3D convolution and the positional encodings no longer see the
true (t, h, w) neighbourhood. It exists only so the paper's numbers can be compared (the inverse
reshape is our reading of the released behaviour; the forward one is as the design notes record).

Parameter count (``bias=False`` convs followed by BatchNorm; gated attention A = D//2 with biases),
at D = 768, grid (8, 14, 14), 3D/2D bottleneck width ``D // bottleneck_ratio``:

- spatial-collapse Conv2d D->D, kernel 14x14 (+bias): 768*768*196 + 768 = 115,606,272, whatever
  the bottleneck width; gated pools 2 x 590,977; time MLP 1,181,184.
- ``bottleneck_ratio=4`` (default, width 192): 3D block 1,292,544 + 2D block 628,992 -> head
  119,890,946.
- ``bottleneck_ratio=1`` (width D): 3D block 17,109,504 + 2D block 6,492,672 -> head 141,571,586.

With the ViT-B encoder (echobench's ``echo-videomae`` base: 86,225,664) neither gives the ≈ 126.4 M
total reported for the released model (that needs a head of ≈ 40.2 M, less than the full-kernel
conv alone), so the parameter count cannot decide the width; the default is the standard ResNet
bottleneck width D/4 (the paper's "bottleneck"). ``tests/plugins/test_heads.py`` asserts these counts.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from echobench.models.features import Features


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sin-cos encoding of real-valued positions: ``(...,) -> (..., dim)`` float64.

    ``out[..., j] = sin(p / 10000**(2*(j//2)/dim))`` for even ``j``, ``cos(...)`` for odd ``j``
    (Vaswani et al. 2017, interleaved as in MCG-NJU/VideoMAE ``get_sinusoid_encoding_table``).
    """
    j = torch.arange(dim, dtype=torch.float64, device=positions.device)
    freq = torch.pow(10000.0, -2 * torch.div(j, 2, rounding_mode="floor") / dim)
    angle = positions.to(torch.float64).unsqueeze(-1) * freq
    return torch.where(j.remainder(2) == 0, torch.sin(angle), torch.cos(angle))


def position_encoding_3d(dim: int, grid: tuple[int, int, int], *, device=None) -> torch.Tensor:
    """Fixed 3D sin-cos encoding ``(dim, t, h, w)`` float64 of the token grid.

    The channels are split into three groups, ``[t-group | h-group | w-group]``, with
    ``d_h = d_w = 2*(dim // 6)`` and ``d_t = dim - d_h - d_w`` (so every group is even when ``dim``
    is, and ``d_t`` absorbs the rest); each group is :func:`sinusoid` of its own integer coordinate,
    broadcast over the other two axes.
    """
    t, h, w = grid
    d_hw = 2 * (dim // 6)
    d_t = dim - 2 * d_hw
    parts = []
    for n, d, shape in ((t, d_t, (t, 1, 1)), (h, d_hw, (1, h, 1)), (w, d_hw, (1, 1, w))):
        enc = sinusoid(torch.arange(n, device=device), d).T  # (d, n)
        parts.append(enc.reshape(d, *shape).expand(d, t, h, w))
    return torch.cat(parts, dim=0)


def step_mean_frame_index(frame_indices: torch.Tensor, t: int) -> torch.Tensor:
    """Mean source-frame index of every token time step: ``(B, T) -> (B, t)`` float64.

    Token step ``i`` covers input frames ``[floor(i*T/t), floor((i+1)*T/t))`` (the tubelet of a
    ViT with temporal patch ``T/t``, or a CNN's temporal stride); when ``T < t`` a step takes at
    least the one frame at its start.
    """
    n = frame_indices.shape[1]
    weights = torch.zeros(t, n, dtype=torch.float64, device=frame_indices.device)
    for i in range(t):
        start = min(i * n // t, n - 1)
        end = max(start + 1, (i + 1) * n // t)
        weights[i, start:end] = 1.0 / (end - start)
    return frame_indices.to(torch.float64) @ weights.T


class GatedAttentionPool(nn.Module):
    """Gated attention pooling (Ilse, Tomczak & Welling, ICML 2018, eq. 9).

    ``a = softmax_N(w · (tanh(V x) ⊙ sigmoid(U x)))``, output ``Σ_n a_n x_n``:
    ``(B, N, D) -> (B, D)``; V, U: D -> A, w: A -> 1.
    """

    def __init__(self, dim: int, attn_dim: int) -> None:
        super().__init__()
        self.V = nn.Linear(dim, attn_dim)
        self.U = nn.Linear(dim, attn_dim)
        self.w = nn.Linear(attn_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.w(torch.tanh(self.V(x)) * torch.sigmoid(self.U(x)))  # (B, N, 1)
        return (scores.softmax(dim=1) * x).sum(dim=1)


class ResidualBottleneck(nn.Module):
    """ResNet bottleneck block without stride: ``relu(x + BN(conv1(relu(BN(conv3(relu(BN(conv1(x)))))))))``.

    ``ndim`` 3: ``(N, D, t, h, w)``; ``ndim`` 2: ``(N, D, h, w)``. Convs 1-3-1 (padding 1), bias-free,
    inner width ``width``; shape preserved.
    """

    def __init__(self, dim: int, width: int, *, ndim: int) -> None:
        super().__init__()
        conv, norm = (nn.Conv3d, nn.BatchNorm3d) if ndim == 3 else (nn.Conv2d, nn.BatchNorm2d)
        self.body = nn.Sequential(
            conv(dim, width, 1, bias=False), norm(width), nn.ReLU(inplace=True),
            conv(width, width, 3, padding=1, bias=False), norm(width), nn.ReLU(inplace=True),
            conv(width, dim, 1, bias=False), norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class SpatialCollapse(LazyModuleMixin, nn.Module):
    """Conv2d with kernel = stride = ``(h, w)``, D -> D: ``(N, D, h, w) -> (N, D)``.

    ``hw=None`` makes the weight lazy: it is materialized (Kaiming-uniform, as ``nn.Conv2d``) on
    the first forward from the input's ``(h, w)``.

    Raises:
        ValueError: input ``(h, w)`` differs from the kernel's.
    """

    cls_to_become = None

    def __init__(self, dim: int, hw: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.dim = dim
        if hw is None:
            self.weight = UninitializedParameter()
        else:
            self.weight = nn.Parameter(torch.empty(dim, dim, *hw))
        self.bias = nn.Parameter(torch.empty(dim))
        if hw is not None:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params():
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
            bound = 1 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def initialize_parameters(self, x: torch.Tensor) -> None:
        if self.has_uninitialized_params():
            with torch.no_grad():
                self.weight.materialize((self.dim, self.dim, *x.shape[-2:]), dtype=x.dtype)
                self.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != tuple(self.weight.shape[-2:]):
            raise ValueError(f"STFF spatial conv was built for (h, w) = {tuple(self.weight.shape[-2:])}, "
                             f"got {tuple(x.shape[-2:])}")
        return nn.functional.conv2d(x, self.weight, self.bias, stride=x.shape[-2:]).flatten(1)


class STFFHead(nn.Module):
    """STFF-Net head (EchoVisionFM, Zhang et al. 2024, §3.2): ``Features -> (B, 2D)``.

    Args:
        dim: feature dim ``D`` of the backbone's tokens.
        attn_dim: hidden size ``A`` of both gated-attention pools (default ``D // 2``).
        released_reshape: reproduce the released code's un-permuted reshape (scrambles positions;
            see the module docstring). Default: the correct t-major -> grid reshape.
        bottleneck_ratio: inner width of the 3D and 2D residual blocks is ``D // bottleneck_ratio``
            (default 4, the ResNet bottleneck).
        grid: the token grid ``(t, h, w)``, to build the spatial-collapse conv eagerly; ``None``
            builds it on the first forward (run one forward before creating the optimizer).

    Raises:
        ValueError: a later forward's ``(h, w)`` differs from the spatial conv's kernel.
    """

    def __init__(self, *, dim: int, attn_dim: int | None = None, released_reshape: bool = False,
                 bottleneck_ratio: int = 4, grid: tuple[int, int, int] | None = None) -> None:
        super().__init__()
        attn = attn_dim or max(1, dim // 2)
        width = max(1, dim // bottleneck_ratio)
        self.dim = dim
        self.out_dim = 2 * dim
        self.released_reshape = released_reshape
        self.block3d = ResidualBottleneck(dim, width, ndim=3)
        self.joint_pool = GatedAttentionPool(dim, attn)
        self.block2d = ResidualBottleneck(dim, width, ndim=2)
        self.spatial = SpatialCollapse(dim, None if grid is None else tuple(grid[1:]))
        self.time_mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.disjoint_pool = GatedAttentionPool(dim, attn)

    def _grid(self, features: Features) -> torch.Tensor:
        """Tokens as the ``(B, D, t, h, w)`` grid (without positional encoding)."""
        tokens = features.tokens
        b, _, d = tokens.shape
        if self.released_reshape:
            return tokens.reshape(b, d, *features.grid)
        return tokens.transpose(1, 2).reshape(b, d, *features.grid)

    def _tokens(self, grid: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`_grid`: ``(B, D, t, h, w) -> (B, L, D)``."""
        b, d = grid.shape[:2]
        if self.released_reshape:
            return grid.reshape(b, -1, d)
        return grid.flatten(2).transpose(1, 2)

    def joint_grid(self, features: Features) -> torch.Tensor:
        """The ``(B, D, t, h, w)`` tensor fed to the 3D block: the token grid + 3D sin-cos PE."""
        grid = self._grid(features)
        pe = position_encoding_3d(self.dim, features.grid, device=grid.device).to(grid.dtype)
        return grid + pe

    def forward(self, features: Features) -> torch.Tensor:
        t, h, w = features.grid
        b = features.tokens.shape[0]
        # Joint spatio-temporal path.
        joint = self._tokens(self.block3d(self.joint_grid(features)))  # (B, L, D)
        joint = self.joint_pool(joint)  # (B, D)
        # Disjoint path: per time step spatial block, collapse (h, w), add real-time encoding.
        grid = self._grid(features)  # (B, D, t, h, w)
        frames = grid.transpose(1, 2).reshape(b * t, self.dim, h, w)
        steps = self.spatial(self.block2d(frames)).reshape(b, t, self.dim)  # (B, t, D)
        when = step_mean_frame_index(features.frame_indices, t)  # (B, t)
        steps = steps + self.time_mlp(sinusoid(when, self.dim).to(steps.dtype))
        disjoint = self.disjoint_pool(steps)  # (B, D)
        return torch.cat([joint, disjoint], dim=1)
