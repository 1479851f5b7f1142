"""Unlabelled clips for self-supervised pre-training, addressed by ``(seed, step)`` alone.

Inputs (:func:`list_pretrain_videos`):

- a folder prepared by ``echobench prepare dicom SRC OUT``: ``OUT/manifest.parquet`` with columns
  ``source, clip, status, reason, frames, fps, source_frames, source_fps, height, width``; rows with
  ``status == "ok"`` and a ``clip`` path (relative to ``OUT``) are used, the others are counted by
  status;
- or any folder of video files (searched recursively, e.g. an EchoNet-Dynamic ``Videos/``): every
  file whose extension is a video container PyAV reads (:data:`VIDEO_SUFFIXES`: AVI, MP4, MOV, MKV,
  WebM, MPEG, ..., any letter case) is used; every other file is counted by its extension.

Sampling (VideoMAE, Tong et al. 2022, ``datasets.py`` / ``VideoMAE`` loader: contiguous clips of
``frames`` frames ``stride`` apart from a random start; only the sampled frames are decoded, by
:func:`echobench.data.video.read_frames`): a clip of a video with ``n`` frames uses
``start + stride * arange(frames)``; a video shorter than ``frames * stride`` gets the indices clamped
to its last frame (``short`` in the item, counted by the caller). Random horizontal and vertical flips
(one draw each per clip, p = 0.5) are drawn here (``flips`` in the item) and applied on the device
with the resize and normalisation (:func:`echobench.data.transforms.prepare_clips`). A batch needs one frame
size: the list's most common frame size (:attr:`VideoList.frame_size`, from the manifest's
``height``/``width`` or each file's stream header) is given to every clip of another size (a folder
of 224x224 and 112x112 videos) by :func:`echobench.data.clips.fit_frame_size`, the resize the
fine-tuning loaders use (``resized`` in the item, counted by the caller); the pretrainer's ``--size``
resize then happens on the device as before.

Determinism (resume and scale-out give the same run): the training stream is a sequence of global
positions ``p = step * global_batch + i``; the video at ``p`` is ``permutation(seed, epoch)[p % N]``
with ``epoch = p // N``, and every random draw of that sample (clip start, flips, and the pretrainer's
mask) comes from :func:`derive_seed` ``(seed, p)``. Rank ``r`` of ``W`` processes takes positions
``i in [r * B/W, (r + 1) * B/W)`` of each global batch, so any ``W`` sees the same global batch.

A video that cannot be decoded is replaced by the next decodable one in list order (a deterministic
choice); the item names the failures so the caller counts and reports them.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from echobench.data.manifest import MANIFEST, MANIFEST_COLUMNS, read_manifest
from echobench.data.video import VIDEO_SUFFIXES
from echobench.errors import ConfigError, DataError


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (numpy ``SeedSequence``), e.g. ``derive_seed(seed, position)``."""
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


@dataclass
class VideoList:
    """Videos usable for pre-training, and what was left out (``skipped``: reason -> count).

    ``frame_size``: the most common ``(height, width)`` of the videos (None when none is known).
    """

    root: Path
    paths: list[Path]
    frames: list[int | None]
    source: str  # "manifest" or "video folder"
    skipped: Counter = field(default_factory=Counter)
    frame_size: tuple[int, int] | None = None


def _read_manifest(root: Path) -> VideoList:
    from echobench.data.video import common_frame_size

    path = root / MANIFEST
    table = read_manifest(path)
    missing = [c for c in ("clip", "status") if c not in table.columns]
    if missing:
        raise DataError(f"{path}: manifest lacks column(s) {', '.join(missing)} "
                        f"(expected {', '.join(MANIFEST_COLUMNS)})")
    out = VideoList(root=root, paths=[], frames=[], source="manifest")
    has_frames = "frames" in table.columns
    has_size = "height" in table.columns and "width" in table.columns
    sizes: list[tuple[int, int]] = []
    for row in table.iter_rows(named=True):
        status = str(row["status"] or "").lower()
        if status != "ok":
            out.skipped[f"manifest status {status or 'missing'}"] += 1
            continue
        if not row["clip"]:
            out.skipped["manifest row ok but clip is empty"] += 1
            continue
        clip = root / str(row["clip"])
        if not clip.is_file():
            out.skipped["clip file missing"] += 1
            continue
        out.paths.append(clip)
        n = row["frames"] if has_frames else None
        out.frames.append(int(n) if n is not None else None)
        if has_size and row["height"] and row["width"]:
            sizes.append((int(row["height"]), int(row["width"])))
    out.frame_size = common_frame_size(sizes)
    return out


def _list_folder(root: Path) -> VideoList:
    from echobench.data.video import common_frame_size, frame_size

    out = VideoList(root=root, paths=[], frames=[], source="video folder")
    sizes: list[tuple[int, int]] = []
    for path in sorted(root.rglob("*")):
        try:
            if path.is_dir():
                continue
            regular = path.is_file()
        except OSError:  # a symlink loop, an unreadable entry
            regular = False
        if path.name.startswith("."):
            out.skipped["hidden file"] += 1
        elif not regular:
            out.skipped["not a regular file"] += 1
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            out.paths.append(path)
            out.frames.append(None)
            try:
                size = frame_size(path)
            except DataError:
                size = None  # counted when its clip is drawn (replaced by the next decodable one)
            if size is not None:
                sizes.append(size)
        else:
            out.skipped[f"not a video file ({path.suffix.lower() or 'no extension'})"] += 1
    out.frame_size = common_frame_size(sizes)
    return out


def list_pretrain_videos(root: str | os.PathLike) -> VideoList:
    """List the clips of a prepared folder (``manifest.parquet``) or of a folder of video files
    (any container of :data:`VIDEO_SUFFIXES`; other files are counted in ``skipped`` by extension).

    Returns:
        :class:`VideoList` in a stable order (manifest order; sorted paths for a plain folder).

    Raises:
        DataError: ``root`` missing or not a folder; unreadable manifest or one lacking ``clip``/
            ``status``; no usable clip at all (the message says what was found).
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: data folder not found")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected a prepared folder with {MANIFEST} or a folder of video files)")
    if (root / MANIFEST).is_file():
        videos = _read_manifest(root)
        if not videos.paths:
            raise DataError(f"{root / MANIFEST}: no usable clip (skipped: {dict(videos.skipped) or 'no rows'})")
        return videos
    videos = _list_folder(root)
    if not videos.paths:
        found = f" (found: {dict(videos.skipped)})" if videos.skipped else ""
        raise DataError(f"{root}: no {MANIFEST} and no video files{found}; expected the output of "
                        f"`echobench prepare dicom` or a folder of video clips (.avi, .mp4, ...)")
    return videos


def clip_indices(n_frames: int, frames: int, stride: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Frame indices ``(frames,)`` int64 of one clip from a random start, and whether it is short.

    A video with fewer than ``frames * stride`` frames starts at 0 and its indices are clamped to
    ``n_frames - 1`` (the last frame repeats); ``short`` is then True.
    """
    span = (frames - 1) * stride + 1
    short = n_frames < frames * stride
    start = int(rng.integers(0, n_frames - span + 1)) if n_frames >= span else 0
    return np.minimum(start + stride * np.arange(frames, dtype=np.int64), n_frames - 1), short


@functools.lru_cache(maxsize=4)
def _epoch_order(seed: int, epoch: int, n_videos: int) -> np.ndarray:
    return np.random.default_rng(derive_seed(seed, epoch, 0x5EED)).permutation(n_videos)


def sample_key(seed: int, position: int, n_videos: int) -> tuple[int, int]:
    """The ``(video index, sample seed)`` at global stream ``position`` (see the module docstring)."""
    epoch, within = divmod(int(position), n_videos)
    return int(_epoch_order(int(seed), epoch, int(n_videos))[within]), derive_seed(seed, position)


class StepBatches:
    """Batch sampler: for each step in ``[start_step, total_steps)``, this rank's keys of the global batch.

    Yields lists of ``(video index, sample seed, position)``; see the module docstring.

    Raises:
        ConfigError: ``global_batch`` not divisible by ``world_size``.
    """

    def __init__(self, *, n_videos: int, seed: int, global_batch: int, rank: int, world_size: int,
                 start_step: int, total_steps: int) -> None:
        if global_batch % world_size:
            raise ConfigError(f"--batch-size {global_batch} is the global batch and must be divisible by the "
                              f"{world_size} processes")
        self.n_videos, self.seed, self.global_batch = n_videos, seed, global_batch
        self.local = global_batch // world_size
        self.rank, self.start_step, self.total_steps = rank, start_step, total_steps

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        for step in range(self.start_step, self.total_steps):
            first = step * self.global_batch + self.rank * self.local
            yield [(*sample_key(self.seed, p, self.n_videos), p) for p in range(first, first + self.local)]


class PretrainClipDataset:
    """Map-style dataset; an item is addressed by a key ``(video index, sample seed, position)``.

    Item (a dict of tensors, batched by the default collate):

    - ``clip``: ``(frames, H, W, 3)`` uint8 as stored (not flipped); resizing and flips happen on the device;
    - ``flips``: ``(2,)`` bool, flip this clip horizontally / vertically (:func:`flip_flags`);
    - ``frame_indices``: ``(frames,)`` int64 source-frame indices;
    - ``seed``: int64 sample seed (for the pretrainer's mask); ``position``: int64 stream position;
    - ``video``: int64 index of the video actually used; ``short``: bool, indices were clamped;
    - ``resized``: bool, the video's frames were not ``frame_size`` and were resized to it;
    - ``failed``: JSON list of ``[video index, reason]`` that could not be decoded before this one.

    Args:
        frame_size: ``(height, width)`` every clip is given (:attr:`VideoList.frame_size`; None:
            each file's own size).

    Raises (from ``__getitem__``):
        DataError: no video of the list can be decoded.
    """

    def __init__(self, paths: Sequence[Path], *, frames: int = 16, stride: int = 2, flips: bool = True,
                 frame_size: tuple[int, int] | None = None) -> None:
        if frames < 1 or stride < 1:
            raise ConfigError(f"clip of {frames} frames with stride {stride} is not possible")
        self.paths = list(paths)
        self.frames, self.stride, self.flips, self.frame_size = frames, stride, flips, frame_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: tuple[int, int, int]) -> dict:
        from echobench.data.video import read_frames

        index, sample_seed, position = key
        draws = derive_seed(sample_seed, 1)
        lengths: list[int] = []

        def select(n: int) -> np.ndarray:  # deterministic: read_frames may call it twice
            lengths.append(n)
            return clip_indices(n, self.frames, self.stride, np.random.default_rng(draws))[0]

        failed: list[list] = []
        for k in range(len(self.paths)):
            candidate = (index + k) % len(self.paths)
            try:
                clip, indices = read_frames(self.paths[candidate], select)
                break
            except DataError as exc:
                failed.append([candidate, str(exc)])
        else:
            raise DataError(f"{self.paths[0].parent}: none of the {len(self.paths)} clips can be decoded")
        short = lengths[-1] < self.frames * self.stride
        return clip_item(clip, indices, key=(candidate, sample_seed, position), short=short, failed=failed,
                         frame_size=self.frame_size, flips=self.flips)


def flip_flags(sample_seed: int, flips: bool) -> tuple[bool, bool]:
    """Whether a sample is flipped ``(horizontally, vertically)``: one draw each, p = 0.5, from
    ``derive_seed(sample seed, 2)`` (VideoMAE's random flips); both False when ``flips`` is off."""
    if not flips:
        return False, False
    hflip, vflip = np.random.default_rng(derive_seed(sample_seed, 2)).random(2) < 0.5
    return bool(hflip), bool(vflip)


def clip_item(clip: np.ndarray, indices: np.ndarray, *, key: tuple[int, int, int], short: bool, failed: list,
              frame_size: tuple[int, int] | None, flips: bool) -> dict:
    """The dataset item of :class:`PretrainClipDataset` for a decoded clip ``(frames, H, W, C)`` uint8 of
    video ``key[0]``: fitted to ``frame_size``, with its :func:`flip_flags` (applied on the device)."""
    import torch

    from echobench.data.clips import fit_frame_size

    video, sample_seed, position = key
    resized = frame_size is not None and tuple(clip.shape[1:3]) != tuple(frame_size)
    return {
        "clip": torch.from_numpy(np.ascontiguousarray(fit_frame_size(clip, frame_size))),
        "flips": torch.tensor(flip_flags(sample_seed, flips)),
        "frame_indices": torch.from_numpy(indices),
        "seed": torch.tensor(sample_seed, dtype=torch.int64),
        "position": torch.tensor(position, dtype=torch.int64),
        "video": torch.tensor(video, dtype=torch.int64),
        "short": torch.tensor(bool(short)),
        "resized": torch.tensor(bool(resized)),
        "failed": json.dumps(failed),
    }


def collate_clips(batch: list | dict) -> dict:
    """The DataLoader ``collate_fn`` of the pre-training datasets: a list of items (from
    ``__getitem__``) is stacked by torch's default collate; a batch the dataset built itself (a dict
    from ``__getitems__``, as :class:`~echobench.data.shards.ShardClipDataset` reads a batch straight
    into one buffer) is passed on as it is."""
    if isinstance(batch, dict):
        return batch
    from torch.utils.data import default_collate

    return default_collate(batch)


def steps_for_epochs(epochs: float, n_videos: int, global_batch: int) -> int:
    """Optimizer steps that show every video ``epochs`` times on average: ``ceil(epochs * N / B)``."""
    return max(1, math.ceil(epochs * n_videos / global_batch))


__all__ = ["MANIFEST", "MANIFEST_COLUMNS", "VIDEO_SUFFIXES", "PretrainClipDataset", "StepBatches", "VideoList",
           "clip_indices", "clip_item", "collate_clips", "derive_seed", "flip_flags", "list_pretrain_videos",
           "sample_key", "steps_for_epochs"]
