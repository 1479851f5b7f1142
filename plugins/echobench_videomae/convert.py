"""Key mapping from published VideoMAE state-dict layouts to ours (:mod:`echobench_videomae.encoder`).

Our parameter names are MCG-NJU/VideoMAE's (``patch_embed.proj``, ``blocks.N.attn.qkv``,
``blocks.N.attn.q_bias``/``v_bias``, ``norm1``/``norm2``, ``mlp.fc1``/``fc2``, ``gamma_1``/``gamma_2``,
``norm``), so an MCG-NJU checkpoint only needs its wrappers and prefixes removed; a Hugging Face
``transformers`` VideoMAE state dict needs its separate query/key/value weights fused.

Both functions are pure: they take a mapping of names to tensors and return a new dict; keys they do
not recognise (classifier heads, ``fc_norm``) are passed through unchanged, so loading with
``strict=False`` reports them as unexpected rather than losing them silently. Decoder keys of
pre-training checkpoints are dropped.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch

_DECODER_PREFIXES = ("decoder.", "encoder_to_decoder.", "mask_token")


def convert_any(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Detect the layout of a VideoMAE state dict and map it to ours.

    Hugging Face layouts (``videomae.`` prefix or ``encoder.layer.N.`` keys, as in the EchoVisionFM
    release) go through :func:`convert_hf_videomae_state_dict`; everything else (MCG-NJU pre-training
    or fine-tuning checkpoints, ``module.``/``encoder.`` prefixes, ``model``/``state_dict`` wrappers,
    or our own layout) through :func:`convert_mcg_nju_state_dict`.
    """
    flat = sd
    for wrapper in ("model", "module", "state_dict"):
        if isinstance(flat, Mapping) and wrapper in flat and isinstance(flat[wrapper], Mapping):
            flat = flat[wrapper]
    keys = list(flat) if isinstance(flat, Mapping) else []
    if any(k.startswith("videomae.") or _HF_LAYER.match(k) for k in keys):
        return convert_hf_videomae_state_dict(flat)
    return convert_mcg_nju_state_dict(sd)

_HF_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")
_HF_BLOCK_RENAMES = {
    "attention.attention.query.bias": "attn.q_bias",
    "attention.attention.value.bias": "attn.v_bias",
    "attention.attention.q_bias": "attn.q_bias",  # older transformers releases
    "attention.attention.v_bias": "attn.v_bias",
    "attention.output.dense.weight": "attn.proj.weight",
    "attention.output.dense.bias": "attn.proj.bias",
    "layernorm_before.weight": "norm1.weight",
    "layernorm_before.bias": "norm1.bias",
    "layernorm_after.weight": "norm2.weight",
    "layernorm_after.bias": "norm2.bias",
    "intermediate.dense.weight": "mlp.fc1.weight",
    "intermediate.dense.bias": "mlp.fc1.bias",
    "output.dense.weight": "mlp.fc2.weight",
    "output.dense.bias": "mlp.fc2.bias",
}
_HF_TOP_RENAMES = {
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
}


def _unwrap(sd: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the state dict inside a training checkpoint (``{"model": ...}``, ``{"module": ...}``,
    ``{"state_dict": ...}``), or ``sd`` itself."""
    for key in ("model", "module", "state_dict"):
        if isinstance(sd.get(key), Mapping):
            return sd[key]
    return sd


def convert_hf_videomae_state_dict(sd: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Hugging Face ``VideoMAEModel`` / ``VideoMAEForPreTraining`` / ``VideoMAEForVideoClassification``
    state dict -> ours.

    ``query/key/value.weight`` ``(D, D)`` each are concatenated into ``attn.qkv.weight`` ``(3D, D)``;
    ``query.bias``/``value.bias`` become ``q_bias``/``v_bias`` (HF's key has no bias, like ours);
    ``layernorm_before/after`` -> ``norm1/2``; final ``layernorm`` -> ``norm``; the ``videomae.`` prefix is
    stripped and decoder keys dropped. Source: ``transformers/models/videomae/modeling_videomae.py``.

    Raises:
        KeyError: a layer has some but not all of its query/key/value weights.
    """
    sd = _unwrap(sd)
    out: dict[str, torch.Tensor] = {}
    qkv: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in sd.items():
        name = name.removeprefix("videomae.")
        if name.startswith(_DECODER_PREFIXES) or name == "embeddings.position_embeddings":
            continue
        match = _HF_LAYER.match(name)
        if match is None:
            out[_HF_TOP_RENAMES.get(name, name)] = tensor
            continue
        i, rest = int(match.group(1)), match.group(2)
        part = re.fullmatch(r"attention\.attention\.(query|key|value)\.weight", rest)
        if part:
            qkv.setdefault(i, {})[part.group(1)] = tensor
        elif rest in _HF_BLOCK_RENAMES:
            out[f"blocks.{i}.{_HF_BLOCK_RENAMES[rest]}"] = tensor
        else:
            out[f"blocks.{i}.{rest}"] = tensor  # unknown: pass through, reported as unexpected
    for i, parts in sorted(qkv.items()):
        missing = {"query", "key", "value"} - set(parts)
        if missing:
            raise KeyError(f"HF VideoMAE layer {i} lacks {sorted(missing)} weights")
        out[f"blocks.{i}.attn.qkv.weight"] = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
    return out


def convert_mcg_nju_state_dict(sd: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """MCG-NJU/VideoMAE checkpoint -> ours.

    Accepts a full training checkpoint (state dict under ``model`` / ``module`` / ``state_dict``) or a
    bare state dict; strips ``module.`` (DDP) and ``encoder.`` (pre-training model) prefixes and drops
    the decoder (``decoder.*``, ``encoder_to_decoder.*``, ``mask_token``). Other keys (``head.*``,
    ``fc_norm.*``) pass through. Source: MCG-NJU/VideoMAE ``modeling_pretrain.py``, ``run_class_finetuning.py``.
    """
    out: dict[str, torch.Tensor] = {}
    for name, tensor in _unwrap(sd).items():
        name = name.removeprefix("module.")
        if name.startswith(_DECODER_PREFIXES):
            continue
        out[name.removeprefix("encoder.")] = tensor
    return out


__all__ = ["convert_hf_videomae_state_dict", "convert_mcg_nju_state_dict"]
