"""Attentive probe: one learnable query cross-attends over the tokens, ``(B, L, D) -> (B, D)``.

The frozen-encoder evaluation head of V-JEPA (Bardes et al., "Revisiting Feature Prediction for
Learning Visual Representations from Video", 2024, §4 "attentive probe"; facebookresearch/jepa
``src/models/attentive_pooler.py``), reduced to its core: a single query token, multi-head
cross-attention (``nn.MultiheadAttention``), then LayerNorm. Unlike max/mean pooling it learns which
tokens matter, while staying light enough for the probe track. ``blocks > 1`` puts ``blocks - 1``
pre-norm self-attention blocks (:class:`echobench.Block`) over the tokens before the cross-attending
query: V-JEPA 2's 4-block attentive probe (Assran et al., 2025, §"attentive probe": 4 blocks, the last
one cross-attention) at ``blocks = 4``.
"""

from __future__ import annotations

import torch
from torch import nn

from echobench import Block, Features


def _default_heads(dim: int) -> int:
    """``max(1, dim // 64)`` heads, lowered to the nearest divisor of ``dim``."""
    heads = max(1, dim // 64)
    while dim % heads:
        heads -= 1
    return heads


class AttentiveProbeHead(nn.Module):
    """Learnable-query cross-attention pooling. ``Features.tokens (B, L, D) -> (B, D)``; ``out_dim = D``.

    Args:
        dim: token dim ``D``.
        num_heads: attention heads (default ``max(1, D // 64)``, lowered to divide ``D``).
        blocks: attention blocks in all (>= 1): ``blocks - 1`` self-attention blocks over the tokens,
            then the cross-attention of the query.

    Raises:
        ValueError: ``num_heads`` does not divide ``dim``; ``blocks < 1``.
    """

    def __init__(self, *, dim: int, num_heads: int | None = None, blocks: int = 1) -> None:
        super().__init__()
        heads = _default_heads(dim) if num_heads is None else num_heads
        if dim % heads:
            raise ValueError(f"num_heads={heads} does not divide dim={dim}")
        if blocks < 1:
            raise ValueError(f"blocks={blocks}: an attentive probe has at least its cross-attention block")
        self.out_dim = dim
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(blocks - 1))  # none at blocks = 1
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, features: Features) -> torch.Tensor:
        tokens = features.tokens
        for block in self.blocks:
            tokens = block(tokens)
        query = self.query.expand(tokens.shape[0], -1, -1).to(tokens.dtype)
        pooled, _ = self.attn(query, tokens, tokens, need_weights=False)  # (B, 1, D)
        return self.norm(pooled.squeeze(1))
