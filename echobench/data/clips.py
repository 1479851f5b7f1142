"""Clips for training and evaluation: decode once, sample by protocol, batch as uint8.

A :class:`ClipDataset` item is a dict:

- ``clip``: ``(T, H, W, 3)`` uint8, the sampled frames at the file's resolution (zero frames where a
  short video is padded);
- ``frame_indices``: ``(T,)`` int64 source-frame indices;
- ``target``: float32 training target (protocol-encoded, e.g. EF/100);
- ``index``: position of the video in the dataset's record list.

Resizing, normalisation and flips happen on the batch, on the device, in
:func:`echobench.data.transforms.prepare_clips`, so the loader only moves uint8.
Clips of protocols whose training clip never changes (``echovisionfm``) are decoded once by
:func:`decode_clips` and kept in memory; the others decode the sampled frames on every access.

Mixed frame sizes (EchoNet-Dynamic's release has six 768x1024 / 768x1040 videos among 112x112):
a batch needs one frame size, so :func:`decode_clips` takes the dataset's most common frame size
(:func:`common_frame_size`) and every clip of another size is resized to it by
:func:`fit_frame_size` (the one resize every loader uses: fine-tuning, all-clips evaluation, TRAIN
statistics and pre-training), counted as a note. A dataset of one size is never resized here.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from echobench.data.echonet import VideoRecord
from echobench.data.video import common_frame_size, read_frames, read_video
from echobench.errors import DataError
from echobench.protocols import Protocol


def take_frames(video: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Gather frames ``indices`` from ``video (N, H, W, C)``; indices >= N give zero frames (padding).

    Returns ``(T, H, W, C)`` uint8.
    """
    n = video.shape[0]
    out = np.zeros((len(indices),) + video.shape[1:], dtype=video.dtype)
    inside = indices < n
    out[inside] = video[indices[inside]]
    return out


def fit_frame_size(frames: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize ``frames (T, H, W, C)`` uint8 to ``size = (height, width)``; unchanged when already
    that size (or ``size`` is None).

    Bilinear with antialiasing (``torch.nn.functional.interpolate(..., antialias=True)``, so a
    768x1024 frame shrunk to 112x112 does not alias), rounded back to uint8; the aspect ratio
    follows ``size`` (as the protocols' own resize, :func:`echobench.data.transforms.prepare_clips`).

    Returns ``(T, height, width, C)`` uint8.
    """
    if size is None or tuple(frames.shape[1:3]) == tuple(size):
        return frames
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=tuple(int(v) for v in size), mode="bilinear", align_corners=False, antialias=True)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def resized_note(size: tuple[int, int]) -> str:
    """The note (reason) counted for a video resized to the dataset's frame size."""
    return f"frame size differs from the dataset's {size[0]}x{size[1]} (resized to it)"


@dataclass
class DecodedClips:
    """Result of :func:`decode_clips`: usable records, their cached clips, and what was skipped.

    ``frame_size`` is the dataset's ``(height, width)`` (:func:`common_frame_size` of the decoded
    videos); cached clips are already at it, and :class:`ClipDataset` must be given it.
    """

    records: list[VideoRecord]
    clips: list[np.ndarray] | None  # (T, H, W, C) uint8 per record, C = 1 for grey videos; None if not cached
    frame_indices: list[np.ndarray] | None
    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)
    frame_size: tuple[int, int] | None = None


def _compact(clip: np.ndarray) -> np.ndarray:
    """Keep one channel when all three are equal (EchoNet's grey-in-RGB), to save memory."""
    if (clip.shape[-1] == 3 and np.array_equal(clip[..., 0], clip[..., 1])
            and np.array_equal(clip[..., 0], clip[..., 2])):
        return np.ascontiguousarray(clip[..., :1])
    return clip


def decode_clips(records: Sequence[VideoRecord], protocol: Protocol, *,
                 progress: Callable[[int], None] | None = None,
                 stop: Callable[[], bool] | None = None) -> DecodedClips:
    """Decode every video once: validate it, and cache its clip when the protocol's clip is fixed.

    An undecodable video is skipped and counted with its one-line reason, never fatal; a video
    shorter than one clip is kept, padded, and counted in ``notes``; a video whose frame size
    differs from the dataset's most common one is kept, its clip resized (:func:`fit_frame_size`),
    and counted in ``notes``.

    Args:
        stop: polled before each video (Ctrl-C in the CLI); when true, decoding stops at once.

    Raises:
        Interrupted (:class:`echobench.engine.loop.Interrupted`): ``stop()`` turned true.
    """
    cache = protocol.deterministic_train_clip
    result = DecodedClips(records=[], clips=[] if cache else None, frame_indices=[] if cache else None)
    sizes: list[tuple[int, int]] = []
    for done, record in enumerate(records):
        if stop is not None and stop():
            from echobench.engine.loop import Interrupted

            raise Interrupted(f"stopped while decoding videos ({done} of {len(records)} decoded; "
                              "nothing was trained yet)")
        try:
            video = read_video(record.path)
        except DataError as exc:
            result.skipped["video could not be decoded"] += 1
            result.messages.append(str(exc))
            if progress:
                progress(1)
            continue
        if protocol.needs_padding(len(video)):
            result.notes[f"video shorter than one {protocol.name} clip (zero-padded)"] += 1
            result.messages.append(f"{record.path}: {len(video)} frames, shorter than one clip of "
                                   f"{protocol.frames}x{protocol.period}; padded with zero frames")
        result.records.append(record)
        sizes.append(tuple(video.shape[1:3]))
        if cache:
            indices = protocol.frame_indices(len(video))
            result.clips.append(_compact(take_frames(video, indices)))
            result.frame_indices.append(indices)
        if progress:
            progress(1)
    result.frame_size = size = common_frame_size(sizes)
    for i, (record, shape) in enumerate(zip(result.records, sizes)):
        if shape != size:
            result.notes[resized_note(size)] += 1
            result.messages.append(f"{record.path}: frames are {shape[0]}x{shape[1]}, the dataset's are "
                                   f"{size[0]}x{size[1]}; resized to {size[0]}x{size[1]}")
            if cache:
                result.clips[i] = fit_frame_size(result.clips[i], size)
    return result


class ClipDataset(Dataset):
    """Torch dataset of protocol clips for a list of videos (see module docstring for items).

    Args:
        records: the videos.
        targets: ``(N,)`` protocol-encoded training targets, aligned with ``records``.
        protocol: sampling protocol.
        train: random clip start (contiguous protocols); flips are applied later on the batch.
        clips, frame_indices: cached clips from :func:`decode_clips` (required for linspace protocols).
        seed: base seed for random clip starts (combined with the epoch and index).
        start: fixed clip start for evaluation of contiguous protocols (default 0).
        frame_size: ``(height, width)`` every clip is given (:func:`fit_frame_size`; the
            dataset's, ``DecodedClips.frame_size``); None keeps each file's size.
    """

    def __init__(self, records: Sequence[VideoRecord], targets: np.ndarray, protocol: Protocol, *,
                 train: bool, clips: Sequence[np.ndarray] | None = None,
                 frame_indices: Sequence[np.ndarray] | None = None, seed: int = 0, start: int = 0,
                 frame_size: tuple[int, int] | None = None) -> None:
        if protocol.deterministic_train_clip and clips is None:
            raise ValueError(f"protocol {protocol.name} needs decoded clips (decode_clips)")
        self.records = list(records)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.protocol = protocol
        self.train = train
        self.clips = clips
        self.cached_indices = frame_indices
        self.seed = seed
        self.start = start
        self.frame_size = frame_size
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def sample_indices(self, i: int, n_frames: int) -> np.ndarray:
        """Source-frame indices ``(T,)`` of item ``i`` in a video of ``n_frames`` (deterministic per
        seed, epoch and item: a random start in training, ``start`` otherwise)."""
        if self.train:
            return self.protocol.frame_indices(n_frames, rng=np.random.default_rng((self.seed, self.epoch, i)))
        return self.protocol.frame_indices(n_frames, start=self.start)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self.clips is not None:
            clip, indices = self.clips[i], self.cached_indices[i]
        else:  # decode only the sampled frames (read_frames); same clip as take_frames(read_video(...))
            clip, indices = read_frames(self.records[i].path, functools.partial(self.sample_indices, i))
        clip = fit_frame_size(clip, self.frame_size)
        if clip.shape[-1] == 1:
            clip = np.repeat(clip, 3, axis=-1)
        return {
            "clip": torch.from_numpy(np.ascontiguousarray(clip)),
            "frame_indices": torch.from_numpy(np.asarray(indices, dtype=np.int64)),
            "target": torch.tensor(self.targets[i]),
            "index": torch.tensor(i),
        }
