"""First-party plugin: torchvision's Video ResNets (R3D-18, R(2+1)D-18, MC3-18) as backbone ``video-resnet``.

Registered through the same ``echobench`` entry-point group a third-party plugin uses. This entry
module imports no torch: the spec names the builder in :mod:`echobench_videoresnet.model` lazily.
"""

from __future__ import annotations

from typing import Callable

from echobench import BackboneSpec, Option, hookimpl

_TRAN = (
    "Tran D., Wang H., Torresani L., Ray J., LeCun Y., Paluri M. A Closer Look at Spatiotemporal "
    "Convolutions for Action Recognition. CVPR 2018 (arXiv:1711.11248) — R3D, R(2+1)D, MC3."
)
_ECHONET = (
    "Ouyang D. et al. Video-based AI for beat-to-beat assessment of cardiac function. Nature 580, "
    "252-256 (2020) — EchoNet-Dynamic, R(2+1)D-18."
)
_ECHOVISIONFM = (
    "Zhang Z. et al. Echo-Vision-FM: a pre-training and fine-tuning framework for echocardiogram video "
    "vision foundation model. arXiv 2024 — 'Video ResNet' baseline is R3D-18."
)
_LICENCE = (
    "architecture: torchvision.models.video (BSD-3-Clause); weights: the licence of the file you load "
    "(random init when none)"
)


@hookimpl
def register_backbones(register: Callable) -> None:
    """Register ``video-resnet`` (variants ``r3d_18`` (default), ``r2plus1d_18``, ``mc3_18``; a variant is
    chosen as ``video-resnet:r2plus1d_18`` or ``--backbone-option variant=r2plus1d_18``)."""
    register(
        BackboneSpec(
            name="video-resnet",
            summary="torchvision Video ResNet (R3D-18 / R(2+1)D-18 / MC3-18), last feature map as tokens",
            factory="echobench_videoresnet.model:build_video_resnet",
            presets=("tiny", "18"),
            defaults={"variant": "r3d_18"},
            inputs=(),
            variant_option="variant",
            token_grid="echobench_videoresnet.model:token_grid",
            options=(Option("variant", str, "r3d_18", "r3d_18 (EchoVisionFM baseline), r2plus1d_18 (EchoNet-Dynamic), "
                            "mc3_18; also as video-resnet:VARIANT", choices=("r3d_18", "r2plus1d_18", "mc3_18")),),
            citation=f"{_TRAN} {_ECHONET} {_ECHOVISIONFM}",
            licence=_LICENCE,
        )
    )
