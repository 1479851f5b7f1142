"""Video ResNet backbones (R3D-18, R(2+1)D-18, MC3-18) exposing their last feature map as tokens.

Paper: Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition", CVPR 2018.
R(2+1)D-18 is EchoNet-Dynamic's model (Ouyang et al., Nature 2020); R3D-18 is EchoVisionFM's "Video
ResNet" baseline. Built from torchvision ``torchvision/models/video/resnet.py`` (BSD-3) without
``avgpool``/``fc``; parameter names are torchvision's (``stem.*``, ``layer1.*`` ... ``layer4.*``), so
torchvision and EchoNet-Dynamic state dicts load after stripping ``module.`` and dropping ``fc.*``.

Shapes (preset ``18`` or ``tiny``; clip 16x112x112)::

    clip (B, 3, T=16, H=112, W=112)
      -> stem (stride 1x2x2)                           (B, 64, 16, 56, 56)
      -> layer1..layer4 (layer2-4 stride 2; MC3: 1x2x2) (B, 512, t, h, w)
         r3d_18 / r2plus1d_18: (t, h, w) = (2, 7, 7);  mc3_18: (16, 7, 7)
      -> flatten t-major                               (B, t*h*w, 512)
      -> Features(tokens, grid=(t, h, w), frame_indices (B, T))
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from torchvision.models.video.resnet import (
    BasicBlock,
    BasicStem,
    Conv2Plus1D,
    Conv3DNoTemporal,
    Conv3DSimple,
    R2Plus1dStem,
    VideoResNet,
)

from echobench import ConfigError, Features, WeightsError, read_state_dict, strip_prefix

log = logging.getLogger(__name__)

# The block / conv makers / stem torchvision's r3d_18, r2plus1d_18 and mc3_18 builders use.
VARIANTS: dict[str, tuple[list[type[nn.Module]], type[nn.Module]]] = {
    "r3d_18": ([Conv3DSimple] * 4, BasicStem),
    "r2plus1d_18": ([Conv2Plus1D] * 4, R2Plus1dStem),
    "mc3_18": ([Conv3DSimple] + [Conv3DNoTemporal] * 3, BasicStem),
}
PRESETS: dict[str, list[int]] = {"tiny": [1, 1, 1, 1], "18": [2, 2, 2, 2]}  # blocks per layer; tiny = CPU tests
TASK_HEAD_PREFIX = "fc."


class VideoResNetBackbone(VideoResNet):
    """torchvision ``VideoResNet`` trunk: clip ``(B, 3, T, H, W)`` -> :class:`Features` ``(B, t*h*w, 512)``.

    ``avgpool`` and ``fc`` are removed (not in the state dict); the output of ``layer4``
    ``(B, 512, t, h, w)`` is flattened t-major. Attribute ``embed_dim`` is 512; ``variant`` and
    ``preset`` record the architecture. Initialisation is torchvision's (Kaiming-normal convs).
    """

    embed_dim = 512

    def __init__(self, *, variant: str = "r3d_18", layers: list[int] | tuple[int, ...] = (2, 2, 2, 2),
                 preset: str = "18") -> None:
        conv_makers, stem = VARIANTS[variant]
        super().__init__(BasicBlock, conv_makers, list(layers), stem)
        del self.avgpool, self.fc
        self.variant = variant
        self.preset = preset

    def feature_map(self, clip: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` -> ``layer4`` output ``(B, 512, t, h, w)``.

        Raises:
            ValueError: the clip is not 5-D with 3 channels.
        """
        if clip.ndim != 5 or clip.shape[1] != 3:
            raise ValueError(f"clip has shape {tuple(clip.shape)}, expected (B, 3, T, H, W)")
        x = self.stem(clip)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward(  # type: ignore[override]
        self, clip: torch.Tensor, frame_indices: torch.Tensor | None = None
    ) -> Features:
        """Encode a clip.

        Args:
            clip: ``(B, 3, T, H, W)`` float (values as the protocol says).
            frame_indices: ``(B, T)`` source-frame indices; ``None`` means ``arange(T)`` for every sample.
        Returns:
            :class:`Features` with tokens ``(B, t*h*w, 512)`` (t-major) and grid ``(t, h, w)``, e.g.
            ``(T/8, H/16, W/16)`` for r3d_18/r2plus1d_18 and ``(T, H/16, W/16)`` for mc3_18.
        Raises:
            ValueError: bad clip shape or ``frame_indices`` not ``(B, T)``.
        """
        fmap = self.feature_map(clip)
        b, t = clip.shape[0], clip.shape[2]
        if frame_indices is None:
            frame_indices = torch.arange(t, device=clip.device).expand(b, -1)
        elif tuple(frame_indices.shape) != (b, t):
            raise ValueError(f"frame_indices has shape {tuple(frame_indices.shape)}, expected {(b, t)}")
        grid = (int(fmap.shape[2]), int(fmap.shape[3]), int(fmap.shape[4]))
        tokens = fmap.flatten(2).transpose(1, 2)  # (B, t*h*w, 512), index (i*h + j)*w + k
        return Features(tokens=tokens, grid=grid, frame_indices=frame_indices.long())


def token_grid(clip_shape: tuple[int, int, int], options: dict) -> tuple[int, int, int]:
    """The token grid ``(t, h, w)`` of ``layer4`` for a clip ``(T, H, W)`` (the spec's declared
    ``token_grid``): the stem halves H and W, layers 2-4 halve every dimension their conv maker strides
    (padded convolutions round up): ``(ceil(T/8), ceil(H/16), ceil(W/16))`` for r3d_18/r2plus1d_18,
    ``(T, ceil(H/16), ceil(W/16))`` for mc3_18 (2-D convs after layer 1; torchvision
    ``Conv3DNoTemporal.get_downsample_stride``)."""
    t, h, w = (int(n) for n in clip_shape)
    temporal = 1 if options.get("variant", "r3d_18") == "mc3_18" else 8
    return (-(-t // temporal), -(-h // 16), -(-w // 16))


class LoadReport(NamedTuple):
    """What :func:`load_weights` did: backbone keys absent from the file (only BatchNorm
    ``num_batches_tracked`` may be), and the file's task-head keys (``fc.*``) that were dropped."""

    missing: list[str]
    dropped_head: list[str]


def load_weights(model: VideoResNetBackbone, path: str | Path) -> LoadReport:
    """Load a local torchvision-layout or EchoNet-Dynamic checkpoint into ``model``.

    ``.safetensors`` files are read with safetensors, anything else with
    ``torch.load(weights_only=True)``; a top-level ``state_dict`` entry (EchoNet-Dynamic's
    ``checkpoint.pt`` / ``best.pt``, echonet/dynamic ``echonet/utils/video.py``) is unwrapped. The
    ``module.`` prefix of ``nn.DataParallel`` is stripped and ``fc.*`` (a task head, e.g. EchoNet's
    one-output EF regressor ``(1, 512)``) is dropped and logged.

    Raises:
        WeightsError: the file is missing or unreadable, no key matches, a key has the wrong shape, or
            the file lacks backbone keys / has keys the model does not (e.g. a ``18`` file into
            ``tiny``). The message is one line naming the file.
    """
    path = Path(path)
    raw = read_state_dict(path)
    if isinstance(raw.get("state_dict"), dict):
        raw = raw["state_dict"]
    state = strip_prefix(raw, "module.")
    head = {k: tuple(v.shape) for k, v in sorted(state.items()) if k.startswith(TASK_HEAD_PREFIX)}
    state = {k: v for k, v in state.items() if not k.startswith(TASK_HEAD_PREFIX)}
    ours = model.state_dict()
    if not any(k in ours for k in state):
        raise WeightsError(f"{path}: no key matches the {model.variant} model (file keys start {sorted(raw)[:3]})")
    bad_shape = [f"{k} {tuple(v.shape)} vs {tuple(ours[k].shape)}" for k, v in state.items()
                 if k in ours and (not isinstance(v, torch.Tensor) or v.shape != ours[k].shape)]
    if bad_shape:
        raise WeightsError(f"{path}: {len(bad_shape)} shape mismatches for {model.variant} "
                           f"(file vs model), e.g. {bad_shape[:3]}{_fits_hint(state, model)}")
    missing = sorted(k for k in ours if k not in state)
    unexpected = sorted(k for k in state if k not in ours)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise WeightsError(f"{path}: does not fit the {model.variant} preset {model.preset!r} model: "
                           f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected keys "
                           f"{unexpected[:3]}{_fits_hint(state, model)}")
    model.load_state_dict(state, strict=False)
    if head:
        log.info("%s: dropped unused task head %s", path, head)
    return LoadReport(missing, list(head))


def fitting_architectures(state: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``(variant, preset)`` pairs whose state dict has exactly the keys and shapes of ``state``
    (BatchNorm ``num_batches_tracked`` may be absent). Models are built on the meta device (no memory)."""
    shapes = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    fits = []
    for variant in VARIANTS:
        for preset, layers in PRESETS.items():
            with torch.device("meta"):
                ours = VideoResNetBackbone(variant=variant, layers=layers, preset=preset).state_dict()
            required = {k for k in ours if not k.endswith("num_batches_tracked")}
            if required <= set(shapes) <= set(ours) and all(shapes[k] == tuple(ours[k].shape) for k in shapes):
                fits.append((variant, preset))
    return fits


def _fits_hint(state: dict[str, Any], model: VideoResNetBackbone) -> str:
    fits = [(v, p) for v, p in fitting_architectures(state) if (v, p) != (model.variant, model.preset)]
    if not fits:
        return ""
    variant, preset = fits[0]
    return (f"; the file fits variant {variant!r} preset {preset!r}: use --backbone video-resnet:{variant} "
            f"--preset {preset}")


def _choose(kind: str, value: str, options: dict[str, Any]) -> None:
    if value not in options:
        near = difflib.get_close_matches(value, options, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f"; choose from {', '.join(options)}"
        raise ConfigError(f"unknown video-resnet {kind} {value!r}{hint}")


def build_video_resnet(*, preset: str = "18", variant: str = "r3d_18",
                       weights: str | Path | None = None) -> VideoResNetBackbone:
    """Build a torchvision Video ResNet trunk (never downloads anything).

    Args:
        preset: ``18`` (blocks 2/2/2/2, torchvision ``r3d_18``/``r2plus1d_18``/``mc3_18``) or ``tiny``
            (blocks 1/1/1/1, same stem and conv makers; CPU tests).
        variant: ``r3d_18`` (EchoVisionFM's baseline), ``r2plus1d_18`` (EchoNet-Dynamic), ``mc3_18``.
        weights: local checkpoint in torchvision or EchoNet-Dynamic layout (None = random init).
    Returns:
        :class:`VideoResNetBackbone`; state-dict keys equal torchvision's minus ``fc.*``.
    Raises:
        ConfigError: unknown preset or variant (with a did-you-mean). WeightsError: see
            :func:`load_weights`.
    """
    _choose("preset", preset, PRESETS)
    _choose("variant", variant, VARIANTS)
    model = VideoResNetBackbone(variant=variant, layers=PRESETS[preset], preset=preset)
    if weights is not None:
        load_weights(model, weights)
    return model


__all__ = ["PRESETS", "VARIANTS", "VideoResNetBackbone", "LoadReport", "load_weights", "build_video_resnet",
           "token_grid"]
