"""Transformer layers shared by the ViT-family backbone plugins (VideoMAE, ViViT, the MAE decoder).

One :class:`Attention` and one :class:`Block` with the parameter names both reference code bases
use (``qkv``, ``proj``, ``norm1``, ``mlp.fc1``/``fc2``, ``gamma_1``/``gamma_2``), so MCG-NJU VideoMAE and
Hugging Face ViViT checkpoints keep mapping key-for-key. The MLP, stochastic depth and init are
timm's (``timm.layers.Mlp``, ``DropPath``, ``trunc_normal_``); attention is
``F.scaled_dot_product_attention``. The fixed sin-cos position table is cached on the CPU.
"""

from __future__ import annotations

import functools
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp
from torch import nn

from echobench.errors import ConfigError


@functools.lru_cache(maxsize=16)
def _sinusoid_table_cpu(n_position: int, dim: int) -> torch.Tensor:
    # device="cpu" explicitly: under a `with torch.device("meta")` block (FLOP counting) the default
    # device is meta, and a meta table cached here broke every later forward in the process (issue 15).
    position = torch.arange(n_position, dtype=torch.float64, device="cpu")[:, None]
    exponent = 2 * (torch.arange(dim, dtype=torch.float64, device="cpu") // 2) / dim
    angles = position / torch.pow(10000.0, exponent)[None, :]
    table = torch.empty_like(angles)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.to(torch.float32)


def sinusoid_position_table(n_position: int, dim: int) -> torch.Tensor:
    """Fixed 1-D sin-cos position table ``(n_position, dim)`` float32 on the CPU (not trainable).

    ``table[p, j] = sin(p / 10000**(2*(j//2)/dim))`` for even ``j`` and ``cos(...)`` for odd ``j``,
    computed in float64; as ``get_sinusoid_encoding_table`` in MCG-NJU/VideoMAE
    ``modeling_finetune.py``. Always built on the CPU whatever the default device (e.g. ``meta``);
    cached per ``(n_position, dim)``; callers move it with ``.to(device, dtype)`` and must not modify
    it in place.
    """
    return _sinusoid_table_cpu(int(n_position), int(dim))


class Attention(nn.Module):
    """Multi-head self-attention ``(B, N, D) -> (B, N, D)`` with a fused ``qkv`` Linear and output ``proj``.

    ``qkv_bias``: ``"qkv"`` a bias on q, k and v (``qkv.bias``; HF ``VivitAttention``, timm ViT);
    ``"qv"`` learnable ``q_bias``/``v_bias`` with the key bias fixed at zero (MCG-NJU/VideoMAE
    ``modeling_finetune.Attention``); ``"none"`` no bias. Scale ``head_dim**-0.5``.

    Raises:
        ConfigError: ``dim`` not divisible by ``num_heads``.
    """

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: Literal["qkv", "qv", "none"] = "qkv",
                 attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias == "qkv")
        self.q_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias == "qv" else None
        self.v_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias == "qv" else None
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        bias: torch.Tensor | None = self.qkv.bias
        if self.q_bias is not None and self.v_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, d)))


class Block(nn.Module):
    """Pre-norm transformer block ``(B, N, D) -> (B, N, D)``: ``x + γ1·attn(norm1(x))`` then
    ``x + γ2·mlp(norm2(x))`` with stochastic depth; ``γ`` (layer scale, ``gamma_1``/``gamma_2``) only
    when ``init_values > 0``. Sources: MCG-NJU/VideoMAE ``modeling_finetune.Block``, HF ``VivitLayer``.

    Args:
        mlp_hidden: MLP width (default ``mlp_ratio * dim``).
        gelu: ``"none"`` exact GELU (VideoMAE) or ``"tanh"`` (HF ViViT's ``gelu_fast``).
        qkv_bias: see :class:`Attention`.
    """

    def __init__(self, dim: int, num_heads: int, *, mlp_ratio: float = 4.0, mlp_hidden: int | None = None,
                 qkv_bias: Literal["qkv", "qv", "none"] = "qkv", drop: float = 0.0, attn_drop: float = 0.0,
                 drop_path: float = 0.0, init_values: float = 0.0, norm_eps: float = 1e-6,
                 gelu: Literal["none", "tanh"] = "none") -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        hidden = int(dim * mlp_ratio) if mlp_hidden is None else int(mlp_hidden)
        self.mlp = Mlp(dim, hidden_features=hidden, act_layer=partial(nn.GELU, approximate=gelu), drop=drop)
        self.gamma_1: nn.Parameter | None = None
        self.gamma_2: nn.Parameter | None = None
        if init_values > 0:
            self.gamma_1 = nn.Parameter(torch.full((dim,), float(init_values)))
            self.gamma_2 = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attn(self.norm1(x))
        x = x + self.drop_path(a if self.gamma_1 is None else self.gamma_1 * a)
        m = self.mlp(self.norm2(x))
        return x + self.drop_path(m if self.gamma_2 is None else self.gamma_2 * m)


__all__ = ["Attention", "Block", "sinusoid_position_table"]
