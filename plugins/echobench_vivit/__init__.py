"""First-party plugin: ViViT (spatio-temporal joint attention, tubelet embedding) as backbone ``vivit``.

Registered through the same ``echobench`` entry-point group a third-party plugin uses. This entry
module imports no torch: the spec names the builder in :mod:`echobench_vivit.model` lazily.
"""

from __future__ import annotations

from typing import Callable

from echobench import BackboneSpec, Option, PeerSpec, hookimpl

_VIVIT = (
    "Arnab A., Dehghani M., Heigold G., Sun C., Lučić M., Schmid C. ViViT: A Video Vision Transformer. "
    "ICCV 2021 (arXiv:2103.15691) — model 1 (spatio-temporal attention), tubelet embedding."
)
_LICENCE = (
    "architecture follows Hugging Face transformers models/vivit/modeling_vivit.py (code Apache-2.0); "
    "weights: the licence of the file you load (random init when none)"
)


@hookimpl
def register_backbones(register: Callable) -> None:
    """Register ``vivit`` (presets ``tiny`` for CPU tests, ``base`` = HF's default 768/12/12 config)."""
    register(
        BackboneSpec(
            name="vivit",
            summary="ViViT encoder (tubelet 2x16x16, CLS token, learned positions); patch tokens as Features",
            factory="echobench_vivit.model:build_vivit",
            presets=("tiny", "base"),
            inputs=("num_frames", "image_size", "unit_input"),
            token_grid=(2, 16, 16),  # tubelet 2x16x16: (T/2, H/16, W/16)
            options=(Option("drop_rate", float, 0.0, "dropout after attention/MLP projections"),
                     Option("attn_drop_rate", float, 0.0, "attention dropout")),
            peer=PeerSpec(factory="echobench_vivit.peer:hf_vivit_pair", reference="transformers.VivitModel",
                          requires=("transformers",), presets=("tiny", "small", "base", "large")),
            citation=_VIVIT,
            licence=_LICENCE,
        )
    )
