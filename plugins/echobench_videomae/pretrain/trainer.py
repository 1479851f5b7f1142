"""The ``echo-videomae`` pretrainer: what :func:`echobench.engine.pretrain_loop.pretrain` trains.

It builds the MAE model for an encoder preset, draws the masks of a batch from its seeds, computes
the loss, and exports the encoder in the layout ``echobench run --backbone echo-videomae --weights``
reads (our own key names). It implements the :class:`echobench.engine.pretrain_loop.Pretrainer`
protocol; the loop, data order, optimizer and checkpoints are core code.

Defaults follow VideoMAE (Tong et al. 2022, ``scripts/*/pretrain.sh``): tube masking at 0.9, 16
frames at temporal stride 2, decoder depth 4; EchoVisionFM trains the base encoder at 224 px.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from echobench import ConfigError
from echobench_videomae.encoder import PRESETS, build_echo_videomae
from echobench_videomae.pretrain.decoder import MAEDecoder, decoder_options
from echobench_videomae.pretrain.mae import VideoMAEPretrainModel
from echobench_videomae.pretrain.masking import MASKINGS, make_masks, masked_count

TUBELET, PATCH = 2, 16


@dataclass(frozen=True)
class EchoVideoMAEPretrainer:
    """MAE pre-training of the ``echo-videomae`` encoder (no final LayerNorm, as EchoVisionFM).

    Attributes:
        preset: encoder preset (tiny/small/base/large); the decoder preset of the same name is used.
        mask_ratio: fraction of tokens masked (``released``: see :mod:`.masking`).
        masking: ``tube`` (default), ``random`` or ``released``.
        size: frame size in pixels (clips are resized to ``size x size``); a multiple of 16.
        frames, stride: clip length and temporal stride in source frames.
        flips: random horizontal and vertical flips.
        drop_path_rate: stochastic depth of encoder and decoder (VideoMAE pre-trains with 0).
        init: optional local weights to start from: an HF ``VideoMAEForPreTraining`` or MCG-NJU
            pre-training checkpoint (decoder included), or an encoder-only file.

    Raises:
        ConfigError: unknown preset or masking, a size/frame count the tubelet does not divide, or a
            mask ratio that masks no token or every token of the grid.
    """

    preset: str = "base"
    mask_ratio: float = 0.9
    masking: str = "tube"
    size: int = 224
    frames: int = 16
    stride: int = 2
    flips: bool = True
    drop_path_rate: float = 0.0
    init: str | None = None

    name = "echo-videomae"
    backbone = "echo-videomae"  # the backbone whose --weights accepts encoder_state()

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            decoder_options(self.preset)  # raises with a did-you-mean
        if self.masking not in MASKINGS:
            raise ConfigError(f"unknown --masking {self.masking!r}; choose from {', '.join(MASKINGS)}")
        if self.size < PATCH or self.size % PATCH:
            raise ConfigError(f"--size {self.size} must be a positive multiple of the patch size {PATCH}")
        if self.frames < TUBELET or self.frames % TUBELET:
            raise ConfigError(f"{self.frames} frames per clip must be a multiple of the tubelet size {TUBELET}")
        masked_count(self.masking, self.grid, self.mask_ratio)

    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid ``(t, h, w)`` of one clip."""
        return self.frames // TUBELET, self.size // PATCH, self.size // PATCH

    def config(self) -> dict[str, Any]:
        """Everything that defines the model and its inputs (written to checkpoints, checked on resume)."""
        return {"pretrainer": self.name, **asdict(self)}

    def build(self) -> VideoMAEPretrainModel:
        """A freshly initialised model (Xavier-uniform Linear weights as the reference), loaded from
        ``init`` when given.

        Raises:
            WeightsError: ``init`` missing, unsafe, or matching no key.
        """
        encoder = build_echo_videomae(preset=self.preset, drop_path_rate=self.drop_path_rate)
        options = decoder_options(self.preset, {"out_dim": 3 * TUBELET * PATCH**2,
                                                "drop_path_rate": self.drop_path_rate})
        model = VideoMAEPretrainModel(encoder, MAEDecoder(**options))
        if self.init is not None:
            from echobench import load_state, read_state_dict
            from echobench_videomae.convert import convert_any
            from echobench_videomae.pretrain.convert import convert_pretraining_state_dict

            state = convert_pretraining_state_dict(read_state_dict(self.init))
            if not any(k.startswith(("encoder.", "decoder.")) for k in state):  # an encoder-only file
                state = {f"encoder.{k}": v for k, v in convert_any(state).items()}
            load_state(model, state, Path(self.init))
        return model

    def masks(self, sample_seeds: Sequence[int], batch_seed: int) -> torch.Tensor:
        """``(B, L)`` bool masks on the CPU for a batch (see :func:`.masking.make_masks`)."""
        return make_masks(self.masking, self.grid, self.mask_ratio, sample_seeds=sample_seeds,
                          batch_seed=batch_seed)

    def loss(self, module: nn.Module, clip: torch.Tensor, sample_seeds: Sequence[int],
             batch_seed: int) -> torch.Tensor:
        """Scalar float32 loss of a batch ``clip (B, 3, T, S, S)`` in [0, 1]; ``module`` may be wrapped
        (DDP/Fabric) and is called, so gradients synchronise."""
        return module(clip, self.masks(sample_seeds, batch_seed)).loss

    def pictures(self, model: VideoMAEPretrainModel, clip: torch.Tensor, sample_seeds: Sequence[int],
                 batch_seed: int) -> dict[str, torch.Tensor]:
        """Original, masked and reconstructed clips ``(B, 3, T, S, S)`` in [0, 1] (see ``reconstruct``)."""
        return model.reconstruct(clip, self.masks(sample_seeds, batch_seed))

    def encoder_state(self, model: VideoMAEPretrainModel) -> dict[str, torch.Tensor]:
        """The encoder's state dict in our key layout (loads with ``--backbone echo-videomae --weights``)."""
        return {k: v.detach() for k, v in model.encoder.state_dict().items()}

    def no_weight_decay(self, name: str, param: torch.Tensor) -> bool:
        """Biases, norms, layer-scale and ``mask_token`` are not decayed (MCG-NJU ``optim_factory``)."""
        return param.ndim <= 1 or name.endswith(".bias") or name == "mask_token"


def build_pretrainer(**options: Any) -> EchoVideoMAEPretrainer:
    """Factory named by the ``echo-videomae`` :class:`PretrainerSpec`; options as the dataclass fields.

    Raises:
        ConfigError: unknown option, or see :class:`EchoVideoMAEPretrainer`.
    """
    allowed = set(EchoVideoMAEPretrainer.__dataclass_fields__)
    bad = sorted(set(options) - allowed)
    if bad:
        raise ConfigError(f"unknown echo-videomae pretrainer option(s) {', '.join(bad)}; "
                          f"allowed: {', '.join(sorted(allowed))}")
    return EchoVideoMAEPretrainer(**options)


__all__ = ["EchoVideoMAEPretrainer", "build_pretrainer"]
