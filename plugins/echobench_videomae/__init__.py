"""First-party plugin: the VideoMAE ViT encoder as backbones ``echo-videomae`` and ``videomae``, and
its MAE pre-training as the pretrainer ``echo-videomae``.

Registered through the same ``echobench`` entry-point group a third-party plugin uses. This entry
module imports no torch: the specs name the builders in :mod:`echobench_videomae.encoder` lazily.
"""

from __future__ import annotations

from typing import Callable

from echobench import BackboneSpec, Option, PeerSpec, PretrainerSpec, hookimpl

_PRESETS = ("tiny", "small", "base", "large")
_ENCODER_OPTIONS = (
    Option("drop_path_rate", float, 0.0, "stochastic-depth rate of the last block (linear from 0)"),
    Option("init_values", float, 0.0, "layer-scale init (0 = no layer scale)"),
    Option("drop_rate", float, 0.0, "dropout after attention/MLP projections"),
    Option("attn_drop_rate", float, 0.0, "attention dropout"),
    Option("patch_size", int, 16,
           "tubelet height = width in pixels of the protocol's clip (the token grid's h, w = size / patch_size)"),
    Option("tubelet_size", int, 2, "tubelet length in frames (the token grid's t = frames / tubelet_size)"),
)
_PRETRAIN_OPTIONS = (
    Option("preset", str, "base", "encoder (and decoder) size", choices=_PRESETS),
    Option("mask_ratio", float, 0.9, "fraction of tokens masked"),
    Option("masking", str, "tube", "tube (VideoMAE), random, or released (EchoVisionFM code)",
           choices=("tube", "random", "released")),
    Option("size", int, 224, "frame size in pixels (multiple of 16)"),
    Option("frames", int, 16, "clip length in frames"),
    Option("stride", int, 2, "temporal stride in source frames"),
    Option("flips", bool, True, "random horizontal and vertical flips"),
    Option("drop_path_rate", float, 0.0, "stochastic depth of encoder and decoder"),
    Option("init", str, None, "local weights to start from (HF VideoMAEForPreTraining, MCG-NJU, or an encoder file)"),
)
_VIDEOMAE = (
    "Tong Z., Song Y., Wang J., Wang L. VideoMAE: Masked Autoencoders are Data-Efficient Learners for "
    "Self-Supervised Video Pre-Training. NeurIPS 2022 (arXiv:2203.12602)."
)
_ECHOVISIONFM = (
    "Zhang Z. et al. Echo-Vision-FM: a pre-training and fine-tuning framework for echocardiogram video "
    "vision foundation model. arXiv 2024."
)
_LICENCE = (
    "architecture follows MCG-NJU/VideoMAE (code CC-BY-NC 4.0); weights: the licence of the file you "
    "load (random init when none)"
)


@hookimpl
def register_backbones(register: Callable) -> None:
    """Register ``echo-videomae`` (no final LayerNorm, as released with EchoVisionFM) and ``videomae``
    (vanilla VideoMAE encoder with its final LayerNorm)."""
    register(
        BackboneSpec(
            name="echo-videomae",
            summary="VideoMAE ViT encoder as in EchoVisionFM (tubelet 2x16x16, no final norm)",
            factory="echobench_videomae.encoder:build_echo_videomae",
            presets=_PRESETS,
            inputs=("unit_input",),
            options=_ENCODER_OPTIONS,
            token_grid="echobench_videomae.grid:token_grid",  # (T/tubelet, H/patch, W/patch)
            citation=f"{_ECHOVISIONFM} {_VIDEOMAE}",
            licence=_LICENCE,
        )
    )
    register(
        BackboneSpec(
            name="videomae",
            summary="Vanilla VideoMAE ViT encoder (tubelet 2x16x16, final LayerNorm)",
            factory="echobench_videomae.encoder:build_videomae",
            presets=_PRESETS,
            inputs=("unit_input",),
            options=_ENCODER_OPTIONS,
            token_grid="echobench_videomae.grid:token_grid",  # (T/tubelet, H/patch, W/patch)
            peer=PeerSpec(factory="echobench_videomae.peer:hf_videomae_pair", reference="transformers.VideoMAEModel",
                          requires=("transformers",), presets=_PRESETS),
            citation=_VIDEOMAE,
            licence=_LICENCE,
        )
    )


@hookimpl
def register_pretrainers(register: Callable) -> None:
    """Register ``echo-videomae``: VideoMAE masked-autoencoder pre-training of the ``echo-videomae``
    encoder (tube masking 0.9, normalised-pixel MSE, decoder presets of the reference code)."""
    register(
        PretrainerSpec(
            name="echo-videomae",
            summary="VideoMAE MAE pre-training (tube masking 0.9, norm-pixel MSE) of the echo-videomae encoder",
            factory="echobench_videomae.pretrain.trainer:build_pretrainer",
            defaults={"preset": "base", "mask_ratio": 0.9, "masking": "tube", "frames": 16, "stride": 2},
            options=_PRETRAIN_OPTIONS,
            citation=f"{_ECHOVISIONFM} {_VIDEOMAE}",
            licence=_LICENCE,
        )
    )
