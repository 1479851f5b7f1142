"""A shard store of prepared clips for pre-training at scale (issue 15 item 1), in the WebDataset
format (``webdataset`` writes it; any WebDataset reader can read it).

Written by :func:`write_shards` (``echobench prepare shards PREPARED OUT``) from a folder prepared by
``echobench prepare dicom`` (or any folder of video files, :func:`~echobench.data.pretrain_clips.list_pretrain_videos`):

- ``OUT/shard-000000.tar``, ...: uncompressed tar shards of about ``shard_bytes`` each; each video is
  one sample ``<key>.u8`` (its decoded frames, raw uint8 ``(T, H, W, C)`` C-order, at the stored
  resolution, ``C = 1`` when every frame is grey, else 3) and ``<key>.json`` (shape, fps and the
  manifest row it came from: source, clip, status, frames, fps, source_frames, source_fps, height,
  width; provenance per sample);
- ``OUT/index.parquet``: one row per sample: key, shard, byte offset and size of its ``.u8`` member
  in the tar, frames, height, width, channels, and the manifest's columns;
- ``OUT/store.json``, written last (a store without it is incomplete): format, version, counts,
  the source folder, and what was skipped (reason -> count).

Read by :class:`ShardClipDataset`, the map-style twin of
:class:`~echobench.data.pretrain_clips.PretrainClipDataset`: the same keys ``(video index, sample
seed, position)`` give the same clip (same start frame, stride and flips, drawn from the same
seeds), read straight into the batch buffer with one ``preadv`` per run of consecutive frames (no
decode, no colour conversion, no copy after the read). So the sample order, DDP split and resumption are those of
:class:`~echobench.data.pretrain_clips.StepBatches`: the order is a function of ``(seed, epoch)``
alone, rank ``r`` of ``W`` takes its slice of each global batch (disjoint ranks whose union is the
epoch), DataLoader workers receive whole batches (worker-aware for free: a key addresses a clip,
wherever it is read), and a resumed run starts at its checkpoint's step with the same order. A grey
store gives ``C = 1`` clips: they travel to the device as one channel and are expanded to three
there (:func:`echobench.data.transforms.prepare_clips`). Resizing, flips and normalisation happen on
the device; each item carries the flips drawn for it (:func:`~echobench.data.pretrain_clips.flip_flags`).

Why WebDataset: plain tar shards that any WebDataset/tar tool reads, no server or index service, and
the pre-training loader's own position-addressed order kept intact (random access by byte offset).
``benchmarks/test_shard_store.py`` measures this store's clips/s per core against the AVI loader,
``benchmarks/test_store_libraries.py`` against litdata and mosaicml-streaming on the same clips
(16x112x112 grey, one core): read by byte offset this store read 1.04-1.19x as many clips per
CPU-second as litdata with ``batch_decode=False``, ~3x mosaicml-streaming and ~3x the ``webdataset``
library's own sequential reader; litdata's default ``batch_decode="auto"`` was 16-20x slower.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from echobench.data.pretrain_clips import (MANIFEST, VideoList, clip_indices, derive_seed, flip_flags,
                                           list_pretrain_videos)
from echobench.errors import ConfigError, DataError

STORE = "store.json"
INDEX = "index.parquet"
FORMAT = "echobench-shards"
VERSION = 1
SHARD_PATTERN = "shard-%06d.tar"
SHARD_BYTES = 1 << 30  # about 1 GiB per shard


def is_shard_store(root: str | os.PathLike) -> bool:
    """Whether ``root`` is a complete shard store (has ``store.json``)."""
    return (Path(root) / STORE).is_file()


@dataclass
class ShardReport:
    """What :func:`write_shards` wrote: samples, shards, bytes, channels, and what was skipped."""

    out: Path
    samples: int
    shards: int
    bytes: int
    channels: int
    skipped: Counter = field(default_factory=Counter)


def _manifest_rows(videos: VideoList) -> dict[Path, dict]:
    """The manifest row of each clip (provenance per sample); empty for a plain video folder."""
    if videos.source != "manifest":
        return {}
    import polars as pl

    table = pl.read_parquet(videos.root / MANIFEST)
    return {videos.root / str(r["clip"]): r for r in table.iter_rows(named=True) if r.get("clip")}


def _jsonable(value):
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def write_shards(prepared: str | os.PathLike, out: str | os.PathLike, *, shard_bytes: int = SHARD_BYTES,
                 progress: Callable[[int], None] | None = None) -> ShardReport:
    """Write the shard store of ``prepared`` (a ``prepare dicom`` folder or a folder of videos) to ``out``.

    Each video is decoded once (:func:`echobench.data.video.read_video`, ``(T, H, W, 3)`` uint8) and
    stored at its own resolution, one channel when its three channels are equal. A video that cannot
    be decoded is skipped and counted with its reason; the rest go on.

    Raises:
        DataError: ``prepared`` has no usable clip; ``out`` already holds a store or is not writable;
            no video could be decoded.
        ConfigError: ``shard_bytes`` < 1 MiB.
    """
    import webdataset as wds

    from echobench.atomic import atomic_write_parquet, atomic_write_text
    from echobench.data.video import read_video

    if shard_bytes < 1 << 20:
        raise ConfigError(f"shard size {shard_bytes} bytes is below 1 MiB")
    out = Path(out)
    if is_shard_store(out) or (out.is_dir() and any(out.glob("shard-*.tar"))):
        raise DataError(f"{out}: already holds a shard store (choose an empty folder)")
    videos = list_pretrain_videos(prepared)
    manifest = _manifest_rows(videos)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{out}: cannot create the store folder ({exc.strerror or exc})") from None
    skipped = Counter({f"{videos.source}: {k}": v for k, v in videos.skipped.items()})
    rows: list[dict] = []
    channels_seen: set[int] = set()
    with wds.ShardWriter(str(out / SHARD_PATTERN), maxcount=10**9, maxsize=shard_bytes, verbose=0,
                         encoder=False) as writer:
        for path in videos.paths:
            try:
                frames = read_video(path)
            except DataError as exc:
                skipped[f"not decodable ({str(exc).split(': ', 1)[-1][:80]})"] += 1
                if progress:
                    progress(1)
                continue
            grey = bool((frames[..., 0] == frames[..., 1]).all() and (frames[..., 0] == frames[..., 2]).all())
            data = np.ascontiguousarray(frames[..., :1] if grey else frames)
            key = f"{len(rows):09d}"
            source = {k: _jsonable(v)
                      for k, v in manifest.get(path, {"clip": str(path.relative_to(videos.root))}).items()}
            meta = {"shape": list(data.shape), "dtype": "uint8", "fps": source.get("fps"), "manifest": source}
            writer.write({"__key__": key, "u8": data.tobytes(), "json": json.dumps(meta).encode()})
            channels_seen.add(int(data.shape[-1]))
            rows.append({"key": key, "frames": int(data.shape[0]), "height": int(data.shape[1]),
                         "width": int(data.shape[2]), "channels": int(data.shape[3]),
                         "clip": str(source.get("clip")), "source": _jsonable(source.get("source")),
                         "fps": None if source.get("fps") is None else float(source["fps"])})
            if progress:
                progress(1)
    if not rows:
        raise DataError(f"{prepared}: no video could be decoded (skipped: {dict(skipped)})")
    offsets = _member_offsets(sorted(out.glob("shard-*.tar")))
    import polars as pl

    for row in rows:
        row["shard"], row["offset"], row["nbytes"] = offsets[row["key"]]
    index = pl.DataFrame(rows).select("key", "shard", "offset", "nbytes", "frames", "height", "width", "channels",
                                      "fps", "clip", "source")
    atomic_write_parquet(index, out / INDEX)
    shards = int(index["shard"].n_unique())
    total = int(index["nbytes"].sum())
    channels = max(channels_seen)
    atomic_write_text(out / STORE, json.dumps({
        "format": FORMAT, "version": VERSION, "samples": len(rows), "shards": shards, "bytes": total,
        "channels": channels, "source": str(Path(prepared).resolve()), "source_kind": videos.source,
        "skipped": dict(skipped)}, indent=2))
    return ShardReport(out=out, samples=len(rows), shards=shards, bytes=total, channels=channels, skipped=skipped)


def _member_offsets(shards: Sequence[Path]) -> dict[str, tuple[str, int, int]]:
    """``key -> (shard file name, data offset, size)`` of every ``.u8`` member (tar headers only)."""
    found: dict[str, tuple[str, int, int]] = {}
    for shard in shards:
        with tarfile.open(shard, "r:") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".u8"):
                    found[member.name[: -len(".u8")]] = (shard.name, member.offset_data, member.size)
    return found


@dataclass
class ShardStore:
    """An opened shard store: the per-sample arrays of ``index.parquet`` and ``store.json``'s fields."""

    root: Path
    info: dict
    shard: list[str]
    offset: np.ndarray  # (N,) int64 byte offset of each sample's frames in its shard
    shape: np.ndarray  # (N, 4) int64 (T, H, W, C)
    clips: list[str]  # the manifest's clip path of each sample (stable names for the run identity)

    @property
    def channels(self) -> int:
        return int(self.info["channels"])

    def video_list(self) -> VideoList:
        """The store as a :class:`~echobench.data.pretrain_clips.VideoList` (paths named by clip)."""
        from echobench.data.video import common_frame_size

        sizes = [(int(h), int(w)) for h, w in self.shape[:, 1:3]]
        return VideoList(root=self.root, paths=[self.root / c for c in self.clips],
                         frames=[int(t) for t in self.shape[:, 0]], source="shard store",
                         skipped=Counter(self.info.get("skipped", {})), frame_size=common_frame_size(sizes))


def open_store(root: str | os.PathLike) -> ShardStore:
    """Open the shard store at ``root``.

    Raises:
        DataError: no ``store.json`` (not a store, or an incomplete one), another format or version,
            an unreadable index, or a shard file missing.
    """
    import polars as pl

    root = Path(root)
    try:
        info = json.loads((root / STORE).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{root / STORE}: not a readable shard store ({exc})") from None
    if info.get("format") != FORMAT or info.get("version") != VERSION:
        raise DataError(f"{root / STORE}: format {info.get('format')}@{info.get('version')}, "
                        f"expected {FORMAT}@{VERSION}")
    try:
        index = pl.read_parquet(root / INDEX)
    except Exception as exc:  # polars raises several error types for corrupt files
        raise DataError(f"{root / INDEX}: cannot read the store index ({type(exc).__name__})") from None
    missing = sorted(s for s in set(index["shard"].to_list()) if not (root / s).is_file())
    if missing:
        raise DataError(f"{root}: shard file(s) missing: {', '.join(missing[:3])}")
    return ShardStore(root=root, info=info, shard=index["shard"].to_list(), offset=index["offset"].to_numpy(),
                      shape=index.select("frames", "height", "width", "channels").to_numpy().astype(np.int64),
                      clips=index["clip"].to_list())


class ShardClipDataset:
    """Map-style dataset over a :class:`ShardStore`; items exactly as
    :class:`~echobench.data.pretrain_clips.PretrainClipDataset` gives them, except ``clip`` is
    ``(frames, H, W, C)`` uint8 with ``C`` the store's channels (1 for a grey store).

    A DataLoader with a batch sampler calls :meth:`__getitems__`, which reads a whole batch straight
    into one ``(B, frames, H, W, C)`` uint8 buffer (in shared memory inside a DataLoader worker, as
    torch's default collate does): each run of consecutive drawn frames is one ``preadv`` into its
    places in the batch, so nothing is copied after the read; use
    :func:`~echobench.data.pretrain_clips.collate_clips` as the loader's ``collate_fn``.

    Args:
        frame_size: ``(height, width)`` every clip is given (:attr:`VideoList.frame_size`); a sample
            of another size is resized (:func:`echobench.data.clips.fit_frame_size`) and marked
            ``resized``. None: a batch takes its first sample's size.

    Shard files are opened lazily, once per process (so each DataLoader worker has its own).
    """

    def __init__(self, store: ShardStore, *, frames: int = 16, stride: int = 2, flips: bool = True,
                 frame_size: tuple[int, int] | None = None) -> None:
        if frames < 1 or stride < 1:
            raise ConfigError(f"clip of {frames} frames with stride {stride} is not possible")
        self.store, self.frames, self.stride, self.flips, self.frame_size = store, frames, stride, flips, frame_size
        self._files: dict[str, int] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.store.shard)

    def _fd(self, shard: str) -> int:
        if self._pid != os.getpid():  # a forked worker: its own descriptors
            self._files, self._pid = {}, os.getpid()
        if shard not in self._files:
            try:
                self._files[shard] = os.open(self.store.root / shard, os.O_RDONLY)
            except OSError as exc:
                raise DataError(f"{self.store.root / shard}: cannot open shard ({exc.strerror or exc})") from None
        return self._files[shard]

    def read_clip(self, index: int, indices: np.ndarray) -> np.ndarray:
        """Frames ``indices`` (sorted or not, repeats allowed) of sample ``index`` as
        ``(len(indices), H, W, C)`` uint8: one ``preadv`` per run of consecutive frames, straight into place."""
        _, h, w, c = (int(v) for v in self.store.shape[index])
        out = np.empty((len(indices), h, w, c), np.uint8)
        self._read_into(index, np.asarray(indices), out)
        return out

    def _read_into(self, index: int, indices: np.ndarray, dest: np.ndarray) -> None:
        """Read frames ``indices`` of sample ``index`` into ``dest (len(indices), H, W, C)`` (C-contiguous)."""
        _, h, w, c = (int(v) for v in self.store.shape[index])
        frame = h * w * c
        base = int(self.store.offset[index])
        fd = self._fd(self.store.shard[index])
        slot: dict[int, int] = {}  # frame -> the first position that holds it
        for k, f in enumerate(indices.tolist()):
            slot.setdefault(f, k)
        frames = sorted(slot)
        if not hasattr(os, "preadv"):  # (macOS before 11) one read of the span, then a copy
            lo, hi = frames[0], frames[-1]
            data = os.pread(fd, (hi - lo + 1) * frame, base + lo * frame)
            if len(data) != (hi - lo + 1) * frame:
                self._truncated(index)
            dest[...] = np.frombuffer(data, np.uint8).reshape(hi - lo + 1, h, w, c)[indices - lo]
            return
        run: list[int] = []
        for f in [*frames, None]:  # one vectored read per run of consecutive frames, at most IOV_MAX buffers
            if run and (f is None or f != run[-1] + 1 or len(run) == _IOV_MAX):
                if os.preadv(fd, [dest[slot[g]] for g in run], base + run[0] * frame) != len(run) * frame:
                    self._truncated(index)
                run = []
            if f is not None:
                run.append(f)
        for k, f in enumerate(indices.tolist()):  # a short clip repeats its last frame
            if k != slot[f]:
                dest[k] = dest[slot[f]]

    def _truncated(self, index: int):
        raise DataError(f"{self.store.root / self.store.shard[index]}: sample {index} is truncated")

    def __getitems__(self, keys: Sequence[tuple[int, int, int]]) -> dict:
        """The batch of ``keys`` (a list of ``(video index, sample seed, position)``): the items of
        :meth:`__getitem__` stacked, as torch's default collate would give them."""
        import torch

        from echobench.data.clips import fit_frame_size

        draws = [clip_indices(int(self.store.shape[index, 0]), self.frames, self.stride,
                              np.random.default_rng(derive_seed(sample_seed, 1))) for index, sample_seed, _ in keys]
        size = (tuple(self.frame_size) if self.frame_size is not None
                else tuple(int(v) for v in self.store.shape[keys[0][0], 1:3]))
        channels = self.store.channels
        clip = _batch_tensor((len(keys), self.frames, *size, channels))
        out = clip.numpy()
        resized = []
        for i, ((index, _, _), (indices, _)) in enumerate(zip(keys, draws)):
            _, h, w, c = (int(v) for v in self.store.shape[index])
            resized.append((h, w) != size)
            if not resized[-1] and c == channels:
                self._read_into(index, indices, out[i])
            else:  # another frame size, or a grey sample in a colour store
                frames = fit_frame_size(self.read_clip(index, indices), size)
                out[i] = np.repeat(frames, channels // c, axis=-1) if c != channels else frames
        return {
            "clip": clip,
            "flips": torch.tensor([flip_flags(seed, self.flips) for _, seed, _ in keys], dtype=torch.bool),
            "frame_indices": torch.from_numpy(np.stack([indices for indices, _ in draws])),
            "seed": torch.tensor([sample_seed for _, sample_seed, _ in keys], dtype=torch.int64),
            "position": torch.tensor([position for _, _, position in keys], dtype=torch.int64),
            "video": torch.tensor([index for index, _, _ in keys], dtype=torch.int64),
            "short": torch.tensor([short for _, short in draws], dtype=torch.bool),
            "resized": torch.tensor(resized, dtype=torch.bool),
            "failed": [json.dumps([])] * len(keys),
        }

    def __getitem__(self, key: tuple[int, int, int]) -> dict:
        return {name: value[0] for name, value in self.__getitems__([key]).items()}


_IOV_MAX = (os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") and "SC_IOV_MAX" in os.sysconf_names else 0) or 1024
_IOV_MAX = _IOV_MAX if _IOV_MAX > 0 else 1024  # (-1: no stated limit; POSIX guarantees at least 16, Linux 1024)


def _batch_tensor(shape: tuple[int, ...]):
    """An uninitialised uint8 tensor of ``shape``; inside a DataLoader worker in shared memory, as torch's
    default collate allocates its batches (``torch/utils/data/_utils/collate.py``), so handing the batch
    to the main process copies nothing."""
    import torch
    from torch.utils.data import get_worker_info

    if get_worker_info() is None:
        return torch.empty(shape, dtype=torch.uint8)
    elem = torch.empty(0, dtype=torch.uint8)
    return elem.new(elem._typed_storage()._new_shared(int(np.prod(shape)))).view(shape)


def pretrain_data(root: str | os.PathLike) -> tuple[VideoList, Callable[..., object]]:
    """What ``pretrain --data ROOT`` reads: the video list, and a factory ``(frames=, stride=, flips=,
    frame_size=) -> dataset`` (a :class:`ShardClipDataset` for a shard store, else the AVI loader
    :class:`~echobench.data.pretrain_clips.PretrainClipDataset`)."""
    if is_shard_store(root):
        store = open_store(root)
        return store.video_list(), lambda **kw: ShardClipDataset(store, **kw)
    from echobench.data.pretrain_clips import PretrainClipDataset

    videos = list_pretrain_videos(root)
    return videos, lambda **kw: PretrainClipDataset(videos.paths, **kw)


__all__ = ["ShardClipDataset", "ShardReport", "ShardStore", "is_shard_store", "open_store", "pretrain_data",
           "write_shards"]
