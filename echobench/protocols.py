"""Evaluation protocols: how clips are sampled, sized and normalised, and how targets are scaled
(DESIGN §5). Protocols are core code, not plugins, so two leaderboard rows under the same protocol
name and version were produced the same way. Bump ``version`` for any change that can move a score.

- ``echovisionfm`` (the EchoVisionFM release): 16 frames at ``linspace(0, n-1, 16)`` over the whole
  video (truncated to integers), bilinear resize 112 -> 224, values in [0, 1], horizontal and vertical
  flips in training; targets EF/100 and ln(mL); one clip per video at test.
- ``echonet`` (EchoNet-Dynamic, ``echonet/datasets/echo.py``): 32 frames at period 2 from a random
  start in training (fixed start 0 at test), 112x112, per-channel mean/std from the training split,
  no flips; targets in natural units. A video shorter than ``32*2`` frames is padded at its end with
  zero frames, as the reference does. At test, one clip (start 0) and the average over all clip
  starts are both reported. Version 2: the 128 TRAIN videos for mean/std are drawn with a fixed
  seed (0), not the run's seed, so every seed and model sees the same normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from echobench.errors import UnknownNameError


@dataclass(frozen=True)
class Protocol:
    """A versioned clip protocol.

    Attributes:
        frames: clip length ``T``.
        period: frame step for contiguous clips; ``None`` = ``linspace`` over the whole video.
        size: output height = width in pixels.
        normalization: ``"unit"`` (x/255) or ``"train-mean-std"`` (per-channel, from TRAIN).
        train_flips: random horizontal and vertical flips in training.
        scaled_targets: train on EF/100 and ln(mL) instead of natural units.
    """

    name: str
    version: str
    frames: int
    period: int | None
    size: int
    normalization: Literal["unit", "train-mean-std"]
    train_flips: bool
    scaled_targets: bool
    summary: str

    @property
    def tag(self) -> str:
        """``name@version``, written next to every score."""
        return f"{self.name}@{self.version}"

    @property
    def deterministic_train_clip(self) -> bool:
        """True when the training clip of a video never changes (so decoded clips can be cached)."""
        return self.period is None

    def frame_indices(self, n_frames: int, *, start: int | None = None,
                      rng: np.random.Generator | None = None) -> np.ndarray:
        """Source-frame indices of one clip, ``(T,)`` int64.

        For contiguous clips, ``start`` (default: random from ``rng``, or 0 without one) picks the
        first frame; indices past the end of the video point at padding frames (index >= n_frames).

        Raises:
            ValueError: ``n_frames < 1``.
        """
        if n_frames < 1:
            raise ValueError("a video needs at least one frame")
        if self.period is None:
            return np.linspace(0, n_frames - 1, self.frames).astype(np.int64)
        if start is None:
            start = int(rng.integers(0, self.num_starts(n_frames))) if rng is not None else 0
        return start + self.period * np.arange(self.frames, dtype=np.int64)

    def num_starts(self, n_frames: int) -> int:
        """Number of distinct clip starts (1 for linspace clips); for all-clips test averaging."""
        if self.period is None:
            return 1
        return max(1, n_frames - (self.frames - 1) * self.period)

    def needs_padding(self, n_frames: int) -> bool:
        """True when a video is shorter than one clip and gets zero frames appended."""
        return self.period is not None and n_frames < self.frames * self.period

    def encode_target(self, value: np.ndarray | float, units: str) -> np.ndarray:
        """Natural units -> training target (EF % -> EF/100, mL -> ln mL under ``scaled_targets``)."""
        value = np.asarray(value, dtype=np.float64)
        if not self.scaled_targets:
            return value
        if units == "%":
            return value / 100.0
        if units == "mL":
            return np.log(np.maximum(value, 1e-6))
        return value

    def decode_target(self, value: np.ndarray | float, units: str) -> np.ndarray:
        """Inverse of :meth:`encode_target`: training target -> natural units."""
        value = np.asarray(value, dtype=np.float64)
        if not self.scaled_targets:
            return value
        if units == "%":
            return value * 100.0
        if units == "mL":
            return np.exp(value)
        return value


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(name="echovisionfm", version="1", frames=16, period=None, size=224,
                 normalization="unit", train_flips=True, scaled_targets=True,
                 summary="EchoVisionFM release: 16 frames linspace over the video, 224 px, [0,1], flips"),
        Protocol(name="echonet", version="2", frames=32, period=2, size=112,
                 normalization="train-mean-std", train_flips=False, scaled_targets=False,
                 summary="EchoNet-Dynamic: 32 frames at period 2, 112 px, TRAIN mean/std"),
    )
}


def get_protocol(name: str) -> Protocol:
    """Look up a protocol by name.

    Raises:
        UnknownNameError: not a known protocol.
    """
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise UnknownNameError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None

