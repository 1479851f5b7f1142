"""STFF-Net: the spatio-temporal feature-fusion head of EchoVisionFM (paper §3.2; DESIGN §4 ``stff``).

Follows the released EchoVisionFM code (``stff_net.py``, ``residual.py``, ``gated_attention.py``)
layer for layer; the only difference between ``stff`` and ``stff-released`` is how token memory is
reshaped into a grid (below). Licence of the released code and weights: MIT.

::

    Features.tokens (B, L, D), L = t*h*w (t-major), grid (t, h, w), frame_indices (B, T)
      joint:    grid (B, D, t, h, w) + PE3d(t, h, w) -> 3D residual bottleneck (1-3-1, width D/2)
                -> tokens (B, L, D) -> gated attention over L (hidden 1024)           -> (B, D)
      disjoint: per time step (B*t, D, h, w) -> 2D residual bottleneck (width D/2)
                -> Conv2d D->D, kernel = (h, w) -> (B, t, D)
                + MLP(mean over the step's frames of sinusoid(source-frame index)), Linear-ReLU-Linear
                -> gated attention over t (hidden 1024)                              -> (B, D)
      -> concat                                                                      -> (B, 2D)

Reshapes. ``stff`` (default) maps t-major tokens to the grid and back with the proper permutes, so
every convolution and encoding sees each token at its true (t, h, w) position. ``stff-released``
reproduces the released code, which uses ``view`` where a permute is needed in two places:

- joint path, after the 3D block: the channel-major ``(B, D, t, h, w)`` memory is viewed as
  ``(B, L, D)``, so each "token" the gated attention pools is a run of D values along w/h/t of one
  or two channels;
- disjoint path, before the 2D block: each time step's ``(h*w, D)`` token memory is viewed as
  ``(D, h, w)``, so the 2D block's "channels" and "pixels" are scrambled token values.

The joint path's input (token view to ``(B, t, h, w, D)`` + PE, then permute) is correct in both.

Grid handling: the head is built from ``dim`` alone (``HeadSpec`` contract) but the disjoint path's
spatial-collapse convolution has kernel ``(h, w)``, which depends on the backbone's token grid. Pass
``grid=(t, h, w)`` to build it eagerly; otherwise it is a lazy parameter materialized on the first
forward (torch's ``LazyModuleMixin``), so run one forward (e.g. under ``torch.no_grad()`` in eval
mode) before building the optimizer or wrapping the module for DDP. Later calls with a different
``(h, w)`` raise ``ValueError``.

Parameter count at D = 768, grid (8, 14, 14) (the paper's ViT-B at 16x224x224), 126,429,440 in all,
the released model's ≈ 126.4 M: spatial-collapse conv 115,606,272; 3D block 4,574,208; 2D block
1,920,000; two gated attentions 2 x 1,573,888 (bias-free, as released); frame-time MLP 1,181,184.
``tests/plugins/test_heads.py`` asserts it.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from echobench import Features

RELEASED_ATTN_DIM = 1024
"""Hidden width of both gated attentions in the released code (``GatedAttention(feat_dim, L=1024)``)."""


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sin-cos encoding of real-valued positions: ``(...,) -> (..., dim)`` float64.

    ``out[..., j] = sin(p / 10000**(2*(j//2)/dim))`` for even ``j``, ``cos(...)`` for odd ``j``
    (Vaswani et al. 2017, interleaved as in MCG-NJU/VideoMAE ``get_sinusoid_encoding_table`` and
    the released EchoVisionFM ``get_1D_positional_encodings``).
    """
    j = torch.arange(dim, dtype=torch.float64, device=positions.device)
    freq = torch.pow(10000.0, -2 * torch.div(j, 2, rounding_mode="floor") / dim)
    angle = positions.to(torch.float64).unsqueeze(-1) * freq
    return torch.where(j.remainder(2) == 0, torch.sin(angle), torch.cos(angle))


def position_encoding_3d(dim: int, grid: tuple[int, int, int], *, device=None) -> torch.Tensor:
    """Fixed 3D sin-cos encoding ``(dim, t, h, w)`` float64 of the token grid.

    The layout of the ``positional_encodings`` package's ``PositionalEncoding3D``, which the
    released STFF-Net adds to its token grid: with ``c = 2 * ceil(dim / 6)``, channels
    ``[0, c)`` encode t, ``[c, 2c)`` encode h and ``[2c, 3c)`` encode w, each as
    :func:`sinusoid` of the integer coordinate at width ``c``; the ``3c`` channels are cut to
    ``dim`` (so for ``dim`` not a multiple of 6 the w group is shortened).
    """
    t, h, w = grid
    c = 2 * math.ceil(dim / 6)
    parts = []
    for n, shape in ((t, (t, 1, 1)), (h, (1, h, 1)), (w, (1, 1, w))):
        enc = sinusoid(torch.arange(n, device=device), c).T  # (c, n)
        parts.append(enc.reshape(c, *shape).expand(c, t, h, w))
    return torch.cat(parts, dim=0)[:dim]


def step_frame_encoding(frame_indices: torch.Tensor, t: int, dim: int) -> torch.Tensor:
    """Frame-time encoding of every token time step: ``(B, T) -> (B, t, dim)`` float64.

    The mean, over the source frames a step covers, of :func:`sinusoid` of their real frame
    indices (the released code averages the encodings of each tubelet's 2 frames). Token step
    ``i`` covers input frames ``[floor(i*T/t), floor((i+1)*T/t))`` (a ViT's temporal patch or a
    CNN's temporal stride); when ``T < t`` a step takes at least the one frame at its start.
    """
    n = frame_indices.shape[1]
    weights = torch.zeros(t, n, dtype=torch.float64, device=frame_indices.device)
    for i in range(t):
        start = min(i * n // t, n - 1)
        end = max(start + 1, (i + 1) * n // t)
        weights[i, start:end] = 1.0 / (end - start)
    return weights @ sinusoid(frame_indices, dim)


class GatedAttentionPool(nn.Module):
    """Gated attention pooling (Ilse, Tomczak & Welling, ICML 2018, eq. 9), bias-free as released.

    ``a = softmax_N(w · (tanh(V x) ⊙ sigmoid(U x)))``, output ``Σ_n a_n x_n``:
    ``(B, N, D) -> (B, D)``; V, U: D -> A, w: A -> 1.
    """

    def __init__(self, dim: int, attn_dim: int) -> None:
        super().__init__()
        self.V = nn.Linear(dim, attn_dim, bias=False)
        self.U = nn.Linear(dim, attn_dim, bias=False)
        self.w = nn.Linear(attn_dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.w(torch.tanh(self.V(x)) * torch.sigmoid(self.U(x)))  # (B, N, 1)
        return (scores.softmax(dim=1) * x).sum(dim=1)


class ResidualBottleneck(nn.Module):
    """ResNet bottleneck block without stride: ``relu(x + BN(conv1(relu(BN(conv3(relu(BN(conv1(x)))))))))``.

    ``ndim`` 3: ``(N, D, t, h, w)``; ``ndim`` 2: ``(N, D, h, w)``. Convs 1-3-1 (padding 1), bias-free,
    inner width ``width``; shape preserved (released ``ResidualLayer2D/3D``).
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
        attn_dim: hidden size of both gated attentions (released: 1024).
        released_reshape: reproduce the released code's un-permuted views (scrambles positions;
            see the module docstring). Default: the correct t-major <-> grid reshapes.
        bottleneck_ratio: inner width of the 3D and 2D residual blocks is ``D // bottleneck_ratio``
            (released: 2).
        grid: the token grid ``(t, h, w)``, to build the spatial-collapse conv eagerly; ``None``
            builds it on the first forward (run one forward before creating the optimizer).

    Raises:
        ValueError: a later forward's ``(h, w)`` differs from the spatial conv's kernel.
    """

    def __init__(self, *, dim: int, attn_dim: int = RELEASED_ATTN_DIM, released_reshape: bool = False,
                 bottleneck_ratio: int = 2, grid: tuple[int, int, int] | None = None) -> None:
        super().__init__()
        width = max(1, dim // bottleneck_ratio)
        self.dim = dim
        self.out_dim = 2 * dim
        self.released_reshape = released_reshape
        self.block3d = ResidualBottleneck(dim, width, ndim=3)
        self.joint_pool = GatedAttentionPool(dim, attn_dim)
        self.block2d = ResidualBottleneck(dim, width, ndim=2)
        self.spatial = SpatialCollapse(dim, None if grid is None else tuple(grid[1:]))
        self.time_mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        self.disjoint_pool = GatedAttentionPool(dim, attn_dim)

    def joint_grid(self, features: Features) -> torch.Tensor:
        """The ``(B, D, t, h, w)`` tensor fed to the 3D block: the token grid + 3D sin-cos PE."""
        tokens = features.tokens
        grid = tokens.transpose(1, 2).reshape(tokens.shape[0], self.dim, *features.grid)
        pe = position_encoding_3d(self.dim, features.grid, device=grid.device).to(grid.dtype)
        return grid + pe

    def joint_tokens(self, grid: torch.Tensor) -> torch.Tensor:
        """The 3D block's output ``(B, D, t, h, w)`` as the ``(B, L, D)`` sequence the attention pools."""
        if self.released_reshape:
            return grid.reshape(grid.shape[0], -1, self.dim)
        return grid.flatten(2).transpose(1, 2)

    def frame_grids(self, features: Features) -> torch.Tensor:
        """Each time step's tokens as a ``(B*t, D, h, w)`` image for the 2D block (no PE)."""
        t, h, w = features.grid
        tokens = features.tokens
        b = tokens.shape[0]
        if self.released_reshape:
            return tokens.reshape(b * t, self.dim, h, w)
        return tokens.reshape(b * t, h * w, self.dim).transpose(1, 2).reshape(b * t, self.dim, h, w)

    def forward(self, features: Features) -> torch.Tensor:
        t = features.grid[0]
        b = features.tokens.shape[0]
        joint = self.joint_pool(self.joint_tokens(self.block3d(self.joint_grid(features))))  # (B, D)
        steps = self.spatial(self.block2d(self.frame_grids(features))).reshape(b, t, self.dim)  # (B, t, D)
        when = step_frame_encoding(features.frame_indices, t, self.dim).to(steps.dtype)  # (B, t, D)
        disjoint = self.disjoint_pool(steps + self.time_mlp(when))  # (B, D)
        return torch.cat([joint, disjoint], dim=1)
