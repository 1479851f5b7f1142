"""Key mapping from Hugging Face ``transformers`` ViViT state dicts to ours (:mod:`echobench_vivit.model`).

Two HF layouts exist and both are accepted:

* hub files (``google/vivit-b-16x2-kinetics400``, transformers < 5): ``vivit.encoder.layer.N.attention.
  attention.{query,key,value}``, ``attention.output.dense``, ``intermediate.dense``, ``output.dense``;
* transformers >= 5 in-memory modules: ``layers.N.attention.{q,k,v,o}_proj``, ``mlp.fc1``/``mlp.fc2``.

Both share ``embeddings.cls_token``, ``embeddings.position_embeddings``,
``embeddings.patch_embeddings.projection``, ``layernorm_before``/``layernorm_after`` and the final
``layernorm``. Ours: ``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.N.norm1``,
``blocks.N.attn.qkv`` (query/key/value fused, ``(3D, D)`` + bias ``(3D,)``), ``blocks.N.attn.proj``,
``blocks.N.norm2``, ``blocks.N.mlp.fc1``/``fc2``, ``norm``.

The function is pure (new dict out). The optional ``vivit.`` prefix is stripped; the task heads
``classifier.*`` and ``pooler.*`` (not part of the backbone) are dropped; other unknown keys pass
through, so a non-strict load reports them as unexpected instead of losing them silently.
Source: ``transformers/models/vivit/modeling_vivit.py`` and ``conversion_mapping.py`` (v5.x).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch

_DROP_PREFIXES = ("classifier.", "pooler.")
_LAYER = re.compile(r"^(?:encoder\.layer|layers)\.(\d+)\.(.+)$")
_QKV = re.compile(r"^attention\.(?:attention\.(query|key|value)|(q|k|v)_proj)\.(weight|bias)$")
_BLOCK_RENAMES = {
    "attention.output.dense": "attn.proj",
    "attention.o_proj": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "mlp.fc1": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "mlp.fc2": "mlp.fc2",
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
}
_TOP_RENAMES = {
    "embeddings.cls_token": "cls_token",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
}
_SHORT = {"query": "q", "key": "k", "value": "v"}


def _unwrap(sd: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the state dict inside a training checkpoint (``{"model": ...}``, ``{"state_dict": ...}``), or ``sd``."""
    for key in ("model", "module", "state_dict"):
        if isinstance(sd.get(key), Mapping):
            return sd[key]
    return sd


def is_hf_vivit_state_dict(sd: Mapping[str, Any]) -> bool:
    """True when ``sd`` (or the state dict it wraps) uses one of the Hugging Face ViViT key layouts."""
    return any(re.match(r"^(embeddings\.|encoder\.layer\.\d|layers\.\d)", k.removeprefix("vivit."))
               for k in _unwrap(sd))


def convert_hf_vivit_state_dict(sd: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Hugging Face ``VivitModel`` / ``VivitForVideoClassification`` state dict -> ours.

    Per layer, the separate query/key/value weights ``(D, D)`` and biases ``(D,)`` are concatenated
    (in that order) into ``attn.qkv.weight`` ``(3D, D)`` and ``attn.qkv.bias`` ``(3D,)``.

    Raises:
        KeyError: a layer has some but not all of its query/key/value weights (or biases).
    """
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for name, tensor in _unwrap(sd).items():
        name = name.removeprefix("vivit.")
        if name.startswith(_DROP_PREFIXES):
            continue
        match = _LAYER.match(name)
        if match is None:
            out[_TOP_RENAMES.get(name, name)] = tensor
            continue
        i, rest = int(match.group(1)), match.group(2)
        part = _QKV.match(rest)
        if part:
            which = part.group(2) or _SHORT[part.group(1)]
            qkv.setdefault((i, part.group(3)), {})[which] = tensor
            continue
        module, _, param = rest.rpartition(".")
        renamed = _BLOCK_RENAMES.get(module)
        out[f"blocks.{i}.{renamed}.{param}" if renamed else f"blocks.{i}.{rest}"] = tensor
    for (i, param), parts in sorted(qkv.items()):
        missing = {"q", "k", "v"} - set(parts)
        if missing:
            raise KeyError(f"HF ViViT layer {i} lacks {sorted(missing)} {param}s")
        out[f"blocks.{i}.attn.qkv.{param}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


__all__ = ["convert_hf_vivit_state_dict", "is_hf_vivit_state_dict"]
