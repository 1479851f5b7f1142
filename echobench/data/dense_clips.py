"""Clips for the dense tasks (segmentation, ED/ES frames): every clip holds the traced ED and ES frames.

Clip rule (``dense-clip@1``, part of the dense tasks' protocol; :func:`dense_frame_indices`): the clip
has the protocol's ``T`` frames at a fixed step ``s`` -- the protocol's ``period`` (1 for protocols
that spread ``linspace`` over the whole video), raised to ``ceil(|ES - ED| / (T - 1))`` when ED and
ES would not otherwise fit -- starting at ``start``, drawn uniformly among the starts whose window
``start + s * [0, T)`` contains both frames (and, when possible, stays inside the video). The
sampled frames nearest ED and ES are then replaced by ED and ES themselves, so both are in the clip
exactly (at most ``s / 2`` frames from the regular grid). Training draws ``start`` from
``(seed, epoch, video)``; VAL and TEST from ``(0, video)`` alone, fixed for every model, so the ED/ES
positions within a clip vary from video to video and cannot be learned as a constant.

A :class:`DenseClipDataset` item: ``clip (T, H, W, 3)`` uint8, ``frame_indices (T,)`` int64,
``positions (2,)`` int64 (the clip positions of ED and ES), ``masks (2, H, W)`` uint8 (the traced ED
and ES cavity masks, zeros when the task has none), ``index``.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from echobench.contract.dataset import VideoRecord
from echobench.data.clips import fit_frame_size
from echobench.data.video import read_frames
from echobench.protocols import Protocol

CLIP_RULE = "dense-clip@1"
EVAL_SEED = 0


def dense_step(protocol: Protocol, ed: int, es: int) -> int:
    """The clip's frame step: the protocol's period (1 for linspace protocols), raised so ED and ES fit."""
    step = protocol.period or 1
    return max(step, math.ceil(abs(es - ed) / max(1, protocol.frames - 1)))


def dense_frame_indices(protocol: Protocol, n_frames: int, ed: int, es: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Source-frame indices ``(T,)`` of a clip holding ED and ES, and their clip positions ``(2,)``
    (ED first). Indices ``>= n_frames`` are padding frames.

    Raises:
        ValueError: ED or ES outside ``[0, n_frames)``, or ED == ES.
    """
    if not (0 <= ed < n_frames and 0 <= es < n_frames) or ed == es:
        raise ValueError(f"ED {ed} and ES {es} must be distinct frames of a {n_frames}-frame video")
    t, step = protocol.frames, dense_step(protocol, ed, es)
    first, last = min(ed, es), max(ed, es)
    lo, hi = max(0, last - (t - 1) * step), first
    inside = min(hi, n_frames - 1 - (t - 1) * step)  # windows that need no padding, when there are any
    start = int(rng.integers(lo, (inside if inside >= lo else hi) + 1))
    indices = start + step * np.arange(t, dtype=np.int64)
    pos_ed = int(np.argmin(np.abs(indices - ed)))
    indices[pos_ed] = ed
    distance = np.abs(indices - es).astype(np.float64)
    distance[pos_ed] = np.inf
    pos_es = int(np.argmin(distance))
    indices[pos_es] = es
    return indices, np.array([pos_ed, pos_es], dtype=np.int64)


class DenseClipDataset(Dataset):
    """Clips of :func:`dense_frame_indices` with their ED/ES positions and masks (module docstring).

    Args:
        records: videos with ``ed_frame`` and ``es_frame``.
        protocol: gives ``T`` and the period.
        train: draw the clip start from ``(seed, epoch, i)``; else from ``(EVAL_SEED, i)``.
        masks: ``(2, H, W)`` bool per record (ED, ES), aligned with ``records``; None: zeros.
        frame_size: ``(height, width)`` every clip (and mask) is given.
    """

    def __init__(self, records: Sequence[VideoRecord], protocol: Protocol, *, train: bool,
                 masks: Sequence[np.ndarray] | None, frame_size: tuple[int, int], seed: int = 0) -> None:
        self.records, self.protocol, self.train = list(records), protocol, train
        self.masks, self.frame_size, self.seed = masks, tuple(frame_size), seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng((self.seed, self.epoch, i) if self.train else (EVAL_SEED, i))

    def sample(self, i: int, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """Clip indices and ED/ES positions of item ``i`` (deterministic, see :meth:`rng`)."""
        r = self.records[i]
        return dense_frame_indices(self.protocol, n_frames, r.ed_frame, r.es_frame, self.rng(i))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        positions = {}

        def select(n: int) -> np.ndarray:
            indices, positions["p"] = self.sample(i, n)
            return indices

        clip, indices = read_frames(self.records[i].path, select)
        clip = fit_frame_size(clip, self.frame_size)
        if clip.shape[-1] == 1:
            clip = np.repeat(clip, 3, axis=-1)
        masks = (self.masks[i] if self.masks is not None
                 else np.zeros((2, *self.frame_size), dtype=bool)).astype(np.uint8)
        return {"clip": torch.from_numpy(np.ascontiguousarray(clip)),
                "frame_indices": torch.from_numpy(np.asarray(indices, dtype=np.int64)),
                "positions": torch.from_numpy(positions["p"]), "masks": torch.from_numpy(masks),
                "index": torch.tensor(i)}


def phase_masks(masks: Mapping[int, np.ndarray], record: VideoRecord, frame_size: tuple[int, int]) -> np.ndarray | None:
    """``(2, H, W)`` bool ED and ES masks of ``record`` from its ``{frame: mask}``, resized (nearest)
    to ``frame_size``; None when either phase has no mask."""
    if record.ed_frame not in masks or record.es_frame not in masks:
        return None
    pair = np.stack([masks[record.ed_frame], masks[record.es_frame]]).astype(np.float32)
    if pair.shape[1:] != tuple(frame_size):
        x = torch.nn.functional.interpolate(torch.from_numpy(pair)[None], size=tuple(frame_size), mode="nearest")
        pair = x[0].numpy()
    return pair > 0.5
