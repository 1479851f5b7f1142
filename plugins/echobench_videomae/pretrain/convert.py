"""Key mapping of whole pre-training models (encoder + decoder) to ours (:mod:`.mae`).

- MCG-NJU/VideoMAE pre-training checkpoints (``{"model": {...}}``, keys ``encoder.*``,
  ``encoder_to_decoder.weight``, ``mask_token``, ``decoder.blocks.N.*``): our names are theirs, only
  wrappers and ``module.`` are removed.
- Hugging Face ``VideoMAEForPreTraining`` (as the EchoVisionFM release starts from
  ``MCG-NJU/videomae-base``): ``videomae.*`` is the encoder (mapped by
  :func:`echobench_videomae.convert.convert_hf_videomae_state_dict`), ``decoder.decoder_layers.N.*``
  are blocks in HF naming (mapped by the same function), ``decoder.norm``/``decoder.head``,
  ``encoder_to_decoder`` and ``mask_token`` keep their names.

Pure functions: a mapping of names to tensors in, a new dict out; unknown keys pass through.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch

from echobench_videomae.convert import _unwrap, convert_hf_videomae_state_dict

_HF_DECODER_LAYER = re.compile(r"^decoder\.decoder_layers\.(\d+)\.(.+)$")


def is_hf_pretraining(sd: Mapping[str, Any]) -> bool:
    """True when ``sd`` is a Hugging Face ``VideoMAEForPreTraining`` state dict."""
    return any(k.startswith("videomae.") or _HF_DECODER_LAYER.match(k) for k in sd)


def convert_pretraining_state_dict(sd: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Map an HF or MCG-NJU VideoMAE pre-training state dict (or our own) to our key layout.

    Raises:
        KeyError: an HF layer has some but not all of its query/key/value weights.
    """
    sd = _unwrap(sd)
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    if not is_hf_pretraining(sd):
        return dict(sd)
    out: dict[str, torch.Tensor] = {}
    encoder = {k: v for k, v in sd.items() if k.startswith("videomae.")}
    out.update({f"encoder.{k}": v for k, v in convert_hf_videomae_state_dict(encoder).items()})
    layers: dict[str, torch.Tensor] = {}
    for name, tensor in sd.items():
        if name.startswith("videomae."):
            continue
        match = _HF_DECODER_LAYER.match(name)
        if match:  # reuse the encoder mapping: pretend the decoder layer is an encoder layer
            layers[f"encoder.layer.{match.group(1)}.{match.group(2)}"] = tensor
        else:
            out[name] = tensor
    out.update({f"decoder.{k}": v for k, v in convert_hf_videomae_state_dict(layers).items()})
    return out


__all__ = ["convert_pretraining_state_dict", "is_hf_pretraining"]
