"""The ``videomae`` backbone's reference comparison for ``echobench bench --peers``: our encoder against
Hugging Face ``transformers.VideoMAEModel`` (``use_mean_pooling=False``), same config and weights.

Declared on the ``videomae`` :class:`echobench.BackboneSpec` as its :class:`echobench.PeerSpec`; core
times what :func:`hf_videomae_pair` returns. HF's model is initialised (seed 0) and its state dict
converted into ours with this plugin's own key mapping (strict load); HF runs with
``attn_implementation="sdpa"``.
"""

from __future__ import annotations

import torch

from echobench import VIT_SIZES, PeerModels
from echobench_videomae.convert import convert_hf_videomae_state_dict
from echobench_videomae.encoder import VideoMAEEncoder


def hf_videomae_pair(*, preset: str, frames: int, size: int) -> PeerModels:
    """Our :class:`VideoMAEEncoder` (final LayerNorm, no input normalisation) and
    ``transformers.VideoMAEModel`` at the :data:`echobench.VIT_SIZES` preset, tubelet 2x16x16, MLP 4x.

    Raises:
        KeyError: unknown preset (core checks ``PeerSpec.presets`` first).
    """
    import transformers

    s = VIT_SIZES[preset]
    config = transformers.VideoMAEConfig(
        hidden_size=s["embed_dim"], num_hidden_layers=s["depth"], num_attention_heads=s["num_heads"],
        intermediate_size=4 * s["embed_dim"], image_size=size, num_frames=frames, tubelet_size=2, patch_size=16,
        qkv_bias=True, use_mean_pooling=False, layer_norm_eps=1e-6, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
    torch.manual_seed(0)
    reference = transformers.VideoMAEModel(config)
    ours = VideoMAEEncoder(**s, final_norm=True, input_mean=None)
    ours.load_state_dict(convert_hf_videomae_state_dict(reference.state_dict()), strict=True)
    return PeerModels(ours=ours, reference=reference, reference_layout="BTCHW", ours_output="tokens",
                      reference_kwarg="pixel_values", reference_output="last_hidden_state")
