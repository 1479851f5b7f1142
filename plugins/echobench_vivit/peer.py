"""The ``vivit`` backbone's reference comparison for ``echobench bench --peers``: our ViViT against
Hugging Face ``transformers.VivitModel`` (``add_pooling_layer=False``), same config and weights,
comparing the full last hidden state (CLS included).

Declared on the ``vivit`` :class:`echobench.BackboneSpec` as its :class:`echobench.PeerSpec`. Sizes
are :data:`echobench.VIT_SIZES` (MLP 4x), the same table the VideoMAE comparison uses.
"""

from __future__ import annotations

import torch
from torch import nn

from echobench import VIT_SIZES, PeerModels
from echobench_vivit.convert import convert_hf_vivit_state_dict
from echobench_vivit.model import ViViT


class WithCls(nn.Module):
    """Our ViViT: clip ``(B, 3, T, H, W)`` -> hidden states with CLS ``(B, 1+L, D)``."""

    def __init__(self, net: ViViT) -> None:
        super().__init__()
        self.net = net

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.net.forward_with_cls(clip)


def hf_vivit_pair(*, preset: str, frames: int, size: int) -> PeerModels:
    """Our :class:`ViViT` (no input normalisation) and ``transformers.VivitModel`` at the
    :data:`echobench.VIT_SIZES` preset, tubelet 2x16x16, position table for ``frames`` x ``size``.

    Raises:
        KeyError: unknown preset (core checks ``PeerSpec.presets`` first).
    """
    import transformers

    s = VIT_SIZES[preset]
    config = transformers.VivitConfig(
        hidden_size=s["embed_dim"], num_hidden_layers=s["depth"], num_attention_heads=s["num_heads"],
        intermediate_size=4 * s["embed_dim"], image_size=size, num_frames=frames, tubelet_size=[2, 16, 16],
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
    torch.manual_seed(0)
    reference = transformers.VivitModel(config, add_pooling_layer=False)
    ours = ViViT(embed_dim=s["embed_dim"], depth=s["depth"], num_heads=s["num_heads"], mlp_dim=4 * s["embed_dim"],
                 num_frames=frames, image_size=size, input_mean=None)
    ours.load_state_dict(convert_hf_vivit_state_dict(reference.state_dict()), strict=True)
    return PeerModels(ours=WithCls(ours), reference=reference, reference_layout="BTCHW",
                      reference_kwarg="pixel_values", reference_output="last_hidden_state")
