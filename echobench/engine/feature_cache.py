"""Frozen-backbone features, extracted once and kept on disk (the frozen-probe track at speed).

With a frozen backbone every probe sees the same :class:`~echobench.contract.features.Features` for
a clip, so they are computed once per identity and stored as safetensors; probes then train on the
tensors (:mod:`echobench.engine.probe_grid`) and never run the backbone. One file per
(identity, split, clip sampler) under the cache folder (``--cache``, else ``$ECHOBENCH_CACHE``, else
``<results>/feature-cache``), ``<key>.safetensors``, written atomically
(:func:`echobench.atomic.atomic_save_safetensors`). The key hashes everything that changes a
feature: the backbone (name, variant, preset, options, plugin version), its weights (file SHA-256;
for a random init the seed, since the init depends on it), the protocol tag, the dataset hash, the
common frame size and TRAIN mean/std (``echonet``), the split, the clip sampler, the flip variants
and the stored dtype.

Contents (``M`` clips of a split): ``tokens (M, L, D)`` (float32, or float16 with
``dtype="float16"``), ``frame_indices (M, T)`` int64, ``video (M,)`` int64 (position of the clip's
video in the split), ``variant (M,)`` int64 (flip variant: bit 0 horizontal, bit 1 vertical, as
:func:`echobench.data.transforms.prepare_clips` flips them); the token grid in the metadata.

What is stored: every token, so every probe (linear on the mean, attentive, max-pool, STFF-Net) gets
exactly the Features the uncached frozen run gives it. For a protocol with training flips
(``echovisionfm``) a TRAIN clip is stored in its four flip variants, so a probe step draws the same
flips as :func:`echobench.engine.loop.fit` and reaches the same VAL score. Size: the tiny preset is
1568 x 64 per clip (0.4 MB in float32); ViT-B at 224 px is 1568 x 768, 2.4 MB per clip in float16,
so EchoNet-Dynamic's 7,465 TRAIN videos x 4 flip variants is ~72 GB: at that scale use
``dtype="float16"`` (half the bytes; the probes compute in float32) and a cache folder on a large
disk, or a protocol without training flips (one variant, ~18 GB).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from echobench.atomic import atomic_save_safetensors
from echobench.contract.features import Features
from echobench.data.clips import take_frames
from echobench.data.transforms import prepare_clips
from echobench.protocols import Protocol

FORMAT = "1"  # bump when the file layout or the extraction changes
FLIP_VARIANTS = 4
_NO_FLIP, _FLIP = 0.75, 0.25  # flip draws that prepare_clips reads as "not flipped" / "flipped"
DTYPES = {"float32": torch.float32, "float16": torch.float16}


def cache_folder(results: Path, cache: Path | None = None) -> Path:
    """Where cached features live: ``cache``, else ``$ECHOBENCH_CACHE``, else ``<results>/feature-cache``."""
    if cache is not None:
        return Path(cache)
    env = os.environ.get("ECHOBENCH_CACHE")
    return Path(env) if env else Path(results) / "feature-cache"


@dataclass
class CachedFeatures:
    """One split's cached clips under one sampler (module docstring for the tensors)."""

    tokens: torch.Tensor
    frame_indices: torch.Tensor
    video: torch.Tensor
    variant: torch.Tensor
    grid: tuple[int, int, int]

    def features(self, rows: torch.Tensor, device: torch.device | str = "cpu") -> Features:
        """:class:`Features` of clip rows ``rows (B,)``: tokens in float32 on ``device``."""
        return Features(tokens=self.tokens[rows].to(device=device, dtype=torch.float32),
                        grid=self.grid, frame_indices=self.frame_indices[rows].to(device))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"tokens": self.tokens.contiguous(), "frame_indices": self.frame_indices, "video": self.video,
                "variant": self.variant}


def cache_key(identity: Mapping[str, Any]) -> str:
    """The file stem of one (identity, split, sampler): a stable hash of ``identity``."""
    from echobench.provenance import stable_hash

    return stable_hash({"format": FORMAT, **identity}, length=20)


def load(folder: Path, key: str) -> CachedFeatures | None:
    """The cached features ``<folder>/<key>.safetensors``, or None when absent or unreadable (then
    they are extracted again and the file replaced)."""
    from safetensors import safe_open

    path = Path(folder) / f"{key}.safetensors"
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            t = {name: fh.get_tensor(name) for name in ("tokens", "frame_indices", "video", "variant")}
        return CachedFeatures(**t, grid=tuple(json.loads(meta["grid"])))
    except Exception:  # noqa: BLE001 - a truncated or foreign file: extract again
        return None


def save(folder: Path, key: str, features: CachedFeatures, identity: Mapping[str, Any]) -> Path:
    """Write ``features`` as ``<folder>/<key>.safetensors`` atomically (identity in the metadata).

    Raises:
        WriteError: the file cannot be written.
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    meta = {"grid": json.dumps(list(features.grid)), "identity": json.dumps(dict(identity), default=str)}
    return atomic_save_safetensors(features.tensors(), Path(folder) / f"{key}.safetensors", metadata=meta)


def extract(fabric, backbone: torch.nn.Module, videos: Sequence[Callable[[], np.ndarray]],
            clips: Callable[[int, np.ndarray], Mapping[str, list[np.ndarray]]], protocol: Protocol, *,
            samplers: Sequence[str], flips: bool = False, batch_size: int = 8,
            stats: tuple[Sequence[float], Sequence[float]] | None = None, dtype: str = "float32",
            advance: Callable[[int], None] | None = None) -> dict[str, CachedFeatures]:
    """Run the frozen ``backbone`` once over every clip of every video, per sampler.

    Args:
        videos: one loader per video returning ``(N, H, W, C)`` uint8 frames (each decoded once).
        clips: ``clips(v, video) -> {sampler: [(T,) index arrays]}`` for video ``v``.
        samplers: the samplers to extract (keys of what ``clips`` returns).
        flips: also store each clip's four flip variants (TRAIN under a protocol with flips).
        batch_size: clips per forward pass.
        stats: TRAIN mean/std (``train-mean-std`` protocols).
        dtype: ``"float32"`` or ``"float16"`` tokens on disk.
        advance: called with 1 after each video.

    Returns:
        ``{sampler: CachedFeatures}``; the backbone runs in eval mode without gradients.
    """
    backbone.eval()
    variants = range(FLIP_VARIANTS) if flips else range(1)
    parts: dict[str, list[tuple[torch.Tensor, torch.Tensor, int, int]]] = {s: [] for s in samplers}
    pending: list[tuple[str, np.ndarray, np.ndarray, int, int]] = []  # (sampler, frames, indices, video, variant)
    grid: list[tuple[int, int, int]] = []

    def flush() -> None:
        if not pending:
            return
        frames = np.stack([p[1] for p in pending])
        if frames.shape[-1] == 1:
            frames = np.repeat(frames, 3, axis=-1)
        draws = torch.tensor([[_FLIP if p[4] & 1 else _NO_FLIP, _FLIP if p[4] & 2 else _NO_FLIP] for p in pending])
        x = prepare_clips(fabric.to_device(torch.from_numpy(frames)), protocol, train=flips,
                          mean=stats[0] if stats else None, std=stats[1] if stats else None, flip_draws=draws)
        ind = torch.from_numpy(np.stack([p[2] for p in pending]))
        with torch.no_grad():
            out = backbone(x, fabric.to_device(ind))
        grid[:] = [tuple(out.grid)]
        tokens = out.tokens.detach().to("cpu", DTYPES[dtype])
        for i, (sampler, _, _, v, variant) in enumerate(pending):
            parts[sampler].append((tokens[i], ind[i], v, variant))
        pending.clear()

    for v, load_video in enumerate(videos):
        video = load_video()
        chosen = clips(v, video)
        for sampler in samplers:
            for indices in chosen[sampler]:
                frames = take_frames(video, np.asarray(indices, dtype=np.int64))
                for variant in variants:
                    pending.append((sampler, frames, np.asarray(indices, dtype=np.int64), v, variant))
                    if len(pending) >= batch_size:
                        flush()
        if advance:
            advance(1)
    flush()
    return {s: CachedFeatures(tokens=torch.stack([p[0] for p in parts[s]]),
                              frame_indices=torch.stack([p[1] for p in parts[s]]),
                              video=torch.tensor([p[2] for p in parts[s]], dtype=torch.int64),
                              variant=torch.tensor([p[3] for p in parts[s]], dtype=torch.int64), grid=grid[0])
            for s in samplers}
