"""Clip-loader throughput: our :class:`echobench.data.clips.ClipDataset` against an EchoNet-Dynamic-style
loader, on the same files and the same sampled clips.

The baseline follows EchoNet-Dynamic's ``echonet/utils/__init__.py:loadvideo`` and
``echonet/datasets/echo.py:Echo.__getitem__`` (read, not copied): open the AVI with
``cv2.VideoCapture``, read and convert *every* frame (``BGR -> RGB``) into a ``(F, H, W, 3)`` array,
then pick the clip's frames (zero frames past the end). Ours decodes only the sampled frames'
packets (:func:`echobench.data.video.read_frames`). Both sample the clip with the same protocol and
the same random start per video, so each timed item is one identical ``(T, H, W, 3)`` uint8 clip
(the largest pixel difference is recorded: OpenCV's bundled FFmpeg may round colour conversion
differently).

Clips are contiguous ``frames`` at period 2 (the ``echonet`` protocol with ``T = frames``), a
random start per video as in training. Per round, every file is loaded by both loaders back to
back; clips/s is files / summed time; the ratio is the per-round median.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from echobench.bench.timing import median, median_ratio
from echobench.data.clips import ClipDataset, take_frames
from echobench.data.echonet import VideoRecord
from echobench.errors import ConfigError, DataError
from echobench.protocols import Protocol, get_protocol


def bench_protocol(frames: int) -> Protocol:
    """The ``echonet`` protocol with ``frames`` per clip (period 2, random start in training)."""
    return dataclasses.replace(get_protocol("echonet"), frames=frames)


def opencv_whole_video(path: str | Path) -> np.ndarray:
    """EchoNet-Dynamic-style decode: every frame of ``path`` with OpenCV, as ``(F, H, W, 3)`` uint8 RGB.

    Raises:
        ConfigError: OpenCV is not installed (``pip install 'echobench[bench]'``).
        DataError: the file cannot be opened or has no frames.
    """
    try:
        import cv2
    except ImportError as exc:
        raise ConfigError("the OpenCV baseline loader needs opencv (pip install 'echobench[bench]')") from exc
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(f"{path}: OpenCV cannot open the video")
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise DataError(f"{path}: OpenCV decoded no frames")
    return np.stack(frames)


@dataclass
class LoaderThroughput:
    """Clips/s of our loader and the whole-video OpenCV loader on ``videos`` files (``skipped`` of
    them unreadable by either, counted, not timed), the per-round median ratio ours/OpenCV, the mean
    frames per video, and the largest pixel difference between the two loaders' clips."""

    videos: int
    frames: int
    skipped: int = 0
    mean_video_frames: float = math.nan
    ours_clips_per_s: float = math.nan
    opencv_clips_per_s: float = math.nan
    ratio: float = math.nan
    max_abs_diff: float = math.nan
    messages: list[str] = dataclasses.field(default_factory=list)


def _records(paths: Sequence[Path]) -> list[VideoRecord]:
    return [VideoRecord(file_name=Path(p).stem, path=Path(p), split="TRAIN", fps=50.0,
                        num_frames=0, frame_height=0, frame_width=0, traced_frames=()) for p in paths]


def bench_loader(paths: Sequence[str | Path], *, frames: int = 16, repeats: int = 5, seed: int = 0) -> LoaderThroughput:
    """Time both loaders on ``paths`` (see module docstring).

    A file either loader cannot read is skipped and counted (its one-line reason in ``messages``).

    Raises:
        ConfigError: no readable file, or OpenCV missing.
    """
    import time

    protocol = bench_protocol(frames)
    dataset = ClipDataset(_records([Path(p) for p in paths]), np.zeros(len(paths)), protocol, train=True, seed=seed)
    result = LoaderThroughput(videos=len(paths), frames=frames)

    def opencv_item(i: int) -> np.ndarray:  # same clip as ours: same protocol, same per-item random start
        video = opencv_whole_video(dataset.records[i].path)
        return take_frames(video, dataset.sample_indices(i, len(video)))

    usable, lengths, diffs = [], [], []
    for i in range(len(dataset)):
        try:
            ours = dataset[i]["clip"].numpy()
            video = opencv_whole_video(dataset.records[i].path)
        except DataError as exc:
            result.skipped += 1
            result.messages.append(str(exc))
            continue
        theirs = take_frames(video, dataset.sample_indices(i, len(video)))
        usable.append(i)
        lengths.append(len(video))
        diffs.append(int(np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).max()))
    if not usable:
        raise ConfigError(f"no readable video among {len(paths)} files for the loader benchmark")
    ours_t: list[float] = []
    theirs_t: list[float] = []
    for r in range(repeats):
        total = {"ours": 0.0, "opencv": 0.0}
        for k, i in enumerate(usable):
            order = ("ours", "opencv") if (r + k) % 2 == 0 else ("opencv", "ours")
            for name in order:
                start = time.perf_counter()
                dataset[i] if name == "ours" else opencv_item(i)
                total[name] += time.perf_counter() - start
        ours_t.append(total["ours"])
        theirs_t.append(total["opencv"])
    n = len(usable)
    result.mean_video_frames = float(np.mean(lengths))
    result.max_abs_diff = float(max(diffs))
    result.ours_clips_per_s = n / median(ours_t)
    result.opencv_clips_per_s = n / median(theirs_t)
    result.ratio = median_ratio(theirs_t, ours_t)
    return result
