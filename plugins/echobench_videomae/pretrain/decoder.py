"""The MAE decoder of VideoMAE pre-training and its presets per encoder size.

Source: MCG-NJU/VideoMAE ``modeling_pretrain.PretrainVisionTransformerDecoder`` and the
``pretrain_videomae_{small,base,large}_patch16_224`` builders (decoder depth 4 from
``run_mae_pretraining.py --decoder_depth``); Hugging Face ``VideoMAEDecoder`` is the same network.
Blocks are the encoder's (:func:`echobench_videomae.encoder.videomae_block`, the shared :class:`echobench.Block`).

Shapes (base preset, 16x224x224 clip, mask ratio 0.9)::

    tokens (B, L=1568, 384): visible tokens then mask tokens, each + position table
      -> 4 x Block(384, 6 heads)             (B, 1568, 384)
      -> keep the last ``return_token_num``  (B, 1411, 384)   (the masked tokens)
      -> norm -> head Linear(384, 3*2*16*16)  (B, 1411, 1536)  normalised pixels per tubelet
"""

from __future__ import annotations

import torch
from torch import nn

from echobench import preset_options
from echobench_videomae.encoder import videomae_block

DECODER_PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"embed_dim": 32, "depth": 2, "num_heads": 2},  # CPU tests only
    "small": {"embed_dim": 192, "depth": 4, "num_heads": 3},
    "base": {"embed_dim": 384, "depth": 4, "num_heads": 6},  # VideoMAE / EchoVisionFM (HF default config)
    "large": {"embed_dim": 512, "depth": 4, "num_heads": 8},
}


class MAEDecoder(nn.Module):
    """Transformer decoder ``(B, N, Dd) -> (B, return_token_num, out_dim)``.

    Args:
        embed_dim, depth, num_heads: decoder width, blocks and heads (see :data:`DECODER_PRESETS`).
        out_dim: values predicted per token, ``3 * tubelet * patch**2`` (1536 for 2x16x16).
        drop_path_rate: stochastic depth of the last block (linear from 0), as the reference.
        init_values: layer-scale init (0 = no layer scale).

    Raises:
        ConfigError: ``embed_dim`` not divisible by ``num_heads``.
    """

    def __init__(self, *, embed_dim: int = 384, depth: int = 4, num_heads: int = 6, out_dim: int = 1536,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, drop_path_rate: float = 0.0,
                 init_values: float = 0.0, norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            videomae_block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=rates[i],
                           init_values=init_values, norm_eps=norm_eps)
            for i in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.head = nn.Linear(embed_dim, out_dim)

    def forward(self, x: torch.Tensor, return_token_num: int) -> torch.Tensor:
        """Run the blocks on all tokens and predict the last ``return_token_num`` (the masked ones)."""
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, -return_token_num:]))


def decoder_options(preset: str, overrides: dict | None = None) -> dict[str, int]:
    """The decoder preset for encoder preset ``preset``, updated with ``overrides``.

    Raises:
        ConfigError: unknown preset (with a did-you-mean) or unknown option.
    """
    overrides = dict(overrides or {})
    return {**preset_options("VideoMAE decoder", DECODER_PRESETS, preset, MAEDecoder, overrides), **overrides}


__all__ = ["DECODER_PRESETS", "MAEDecoder", "decoder_options"]
