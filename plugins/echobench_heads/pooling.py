"""Token-pooling heads: ``Features (B, L, D) -> (B, D)``.

- :class:`MaxPoolHead`: element-wise max over the ``L = t*h*w`` tokens (EchoVisionFM's max-pool
  baseline, paper Table 2 "Echo VideoMAE with max pooling").
- :class:`MeanPoolHead`: mean over tokens then LayerNorm, as VideoMAE's fine-tuning ``fc_norm``
  (MCG-NJU/VideoMAE ``modeling_finetune.py``, ``use_mean_pooling=True``).
"""

from __future__ import annotations

import torch
from torch import nn

from echobench import Features


class MaxPoolHead(nn.Module):
    """Max over tokens. Input ``Features.tokens (B, L, D)``; output ``(B, D)``; ``out_dim = D``."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.out_dim = dim

    def forward(self, features: Features) -> torch.Tensor:
        return features.tokens.amax(dim=1)


class MeanPoolHead(nn.Module):
    """Mean over tokens, then LayerNorm(eps 1e-6). ``(B, L, D) -> (B, D)``; ``out_dim = D``."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.out_dim = dim
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, features: Features) -> torch.Tensor:
        return self.norm(features.tokens.mean(dim=1))
