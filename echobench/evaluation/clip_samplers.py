"""Test-time clip samplers: which clips of a video a prediction averages (the protocol-sensitivity axis).

A sampler turns one decoded video into ``K`` clips (``(T,)`` source-frame index arrays); a video's
prediction is the mean raw output over its clips, then decoded (as EchoNet-Dynamic's all-clips
average, :func:`echobench.engine.loop.predict_all_clips`). Names, written into the record's
``clips`` column:

- ``one``: the protocol's test clip (start 0; ``linspace`` over the whole video for ``echovisionfm``).
- ``uniform-K``: ``K`` clips spread evenly over the video. Contiguous protocols: starts
  ``round(linspace(0, num_starts - 1, K))`` (numpy rounding, half to even; duplicates dropped; EchoCardMAE's "5 uniform clips");
  ``linspace`` protocols: the test clip's frames shifted by ``j / K`` of their spacing,
  ``j = 0 .. K-1`` (floored, at most the last frame), so the K clips interleave.
- ``all``: every clip start (contiguous protocols only: a ``linspace`` protocol has one clip, so
  ``all`` would repeat ``one`` and is not offered for it).
- ``beats``: one clip per detected cardiac cycle (:func:`echobench.evaluation.beats.beat_clips`;
  every start where no cycle is found, counted by reason).
"""

from __future__ import annotations

import re

import numpy as np

from echobench.errors import ConfigError
from echobench.protocols import Protocol

DEFAULT_SAMPLERS = ("one", "uniform-5", "all", "beats")
_UNIFORM = re.compile(r"uniform-(\d+)")


def check_samplers(names, protocol: Protocol) -> tuple[str, ...]:
    """The sampler names usable with ``protocol`` (``all`` dropped for ``linspace`` protocols).

    Raises:
        ConfigError: an unknown name, or ``uniform-K`` with ``K < 1``.
    """
    kept = []
    for name in names:
        m = _UNIFORM.fullmatch(name)
        if m and int(m.group(1)) < 1 or not (m or name in ("one", "all", "beats")):
            raise ConfigError(f"unknown clip sampler {name!r}; choose from one, uniform-K (K >= 1), all, beats")
        if name == "all" and protocol.period is None:
            continue
        kept.append(name)
    return tuple(dict.fromkeys(kept))


def sampler_clips(name: str, protocol: Protocol, video: np.ndarray, fps: float) -> tuple[list[np.ndarray], str | None]:
    """The clips of sampler ``name`` for ``video (N, H, W, C)`` uint8 at ``fps``: ``(clips, note)``, each
    clip ``(T,)`` int64; ``note`` is the beats fallback reason (else None)."""
    n = len(video)
    if name == "one":
        return [protocol.frame_indices(n, start=0)], None
    if name == "all":
        return [protocol.frame_indices(n, start=s) for s in range(protocol.num_starts(n))], None
    if name == "beats":
        from echobench.evaluation.beats import beat_clips

        return beat_clips(protocol, video, fps)
    k = int(_UNIFORM.fullmatch(name).group(1))
    if protocol.period is not None:
        starts = np.unique(np.round(np.linspace(0, protocol.num_starts(n) - 1, k)).astype(np.int64))
        return [protocol.frame_indices(n, start=int(s)) for s in starts], None
    base = np.linspace(0, n - 1, protocol.frames)
    step = (n - 1) / max(1, protocol.frames - 1)
    return [np.minimum(np.floor(base + j * step / k), n - 1).astype(np.int64) for j in range(k)], None
