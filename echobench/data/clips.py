"""Clips for training and evaluation: decode once, sample by protocol, batch as uint8.

A :class:`ClipDataset` item is a dict:

- ``clip``: ``(T, H, W, C)`` uint8, the sampled frames at the file's resolution, C = 1 when every cached clip
  is grey (moved to the device as one channel, made three there), else 3 (zero frames where a
  short video is padded);
- ``frame_indices``: ``(T,)`` int64 source-frame indices;
- ``target``: float32 training target (protocol-encoded, e.g. EF/100);
- ``index``: position of the video in the dataset's record list.

Resizing, normalisation and flips happen on the batch, on the device, in
:func:`echobench.data.transforms.prepare_clips`, so the loader only moves uint8.
Every video is decoded once per run by :func:`decode_clips` (the pass that also validates it):
clips of protocols whose training clip never changes (``echovisionfm``) are kept in memory, and so,
when asked (``hold=True``), is every frame of the videos decoded whole: in memory within the decode
budget (:func:`decode_budget`), beyond it in files under :func:`spill_folder` read memory-mapped; a
:class:`ClipDataset` then takes each epoch's clip from those frames. Videos not held (spilling off,
or no room on disk) are streamed: their sampled frames are decoded again on every access.

Mixed frame sizes (EchoNet-Dynamic's release has six 768x1024 / 768x1040 videos among 112x112):
a batch needs one frame size, so :func:`decode_clips` takes the dataset's most common frame size
(:func:`common_frame_size`) and every clip of another size is resized to it by
:func:`fit_frame_size` (the one resize every loader uses: fine-tuning, all-clips evaluation, TRAIN
statistics and pre-training), counted as a note. A dataset of one size is never resized here.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from echobench.data.echonet import VideoRecord
from echobench.data.video import common_frame_size, read_frames, read_video
from echobench.errors import DataError, EchobenchError
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
    videos: list[np.ndarray | None] | None = None  # hold=True: every frame (N, H, W, C), at frame_size
    counts: list[np.ndarray | None] | None = None  # histograms=: (3, 256) channel counts, at frame_size
    streamed: str = ""  # hold=True but frames not held: why (the decode budget)
    spilled: str = ""  # hold=True and frames over the budget held in a file (memory-mapped): where, how much


BUDGET_ENV = "ECHOBENCH_DECODE_BUDGET"
BUDGET_FRACTION = 0.25  # of physical memory, when ECHOBENCH_DECODE_BUDGET is not set


def decode_budget() -> int:
    """Bytes of decoded uint8 frames a run may hold in memory: ``ECHOBENCH_DECODE_BUDGET`` (bytes, or
    with a ``K``/``M``/``G`` suffix, powers of 1024; ``0`` streams always), else a quarter of the
    machine's physical memory.

    Raises:
        ConfigError: ``ECHOBENCH_DECODE_BUDGET`` is not a size.
    """
    from echobench.errors import ConfigError

    text = os.environ.get(BUDGET_ENV, "").strip()
    if not text:
        try:
            return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * BUDGET_FRACTION)
        except (ValueError, OSError, AttributeError):  # no sysconf: hold up to 4 GiB
            return 4 << 30
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1].upper(), 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"{BUDGET_ENV}={text!r}: expected a size in bytes, e.g. 8G or 500M")
    return int(value)


SPILL_ENV = "ECHOBENCH_SPILL_DIR"


def spill_folder() -> Path | None:
    """Where :func:`decode_clips` keeps frames over the decode budget: ``ECHOBENCH_SPILL_DIR`` (``off``:
    nowhere, such frames are streamed), else the system's temporary folder (``TMPDIR``)."""
    import tempfile

    text = os.environ.get(SPILL_ENV, "").strip()
    if text.lower() in {"off", "0", "no", "none"}:
        return None
    return Path(text or tempfile.gettempdir())


class _Spill:
    """Frames over the decode budget, each video one ``.npy`` file in a private temporary folder under
    ``base``, given back memory-mapped read-only (the page cache holds what is read often). A file is
    unlinked as soon as it is mapped, so its space returns when the last process mapping it (this one
    and the DataLoader workers it forks) ends, however it ends (a SIGKILL leaves nothing behind)."""

    def __init__(self, base: Path, need: int) -> None:
        import shutil
        import tempfile

        self.base, self.folder, self.bytes, self.videos = base, None, 0, 0
        try:
            free = shutil.disk_usage(base).free
        except OSError as exc:
            self.refused = f"{base}: cannot be used ({exc.strerror or exc})"
            return
        self.refused = (f"{base} has {_gib(free)} free, {_gib(need)} needed" if free < need * 1.05 + (1 << 30)
                        else "")
        if not self.refused:
            try:
                self.folder = tempfile.TemporaryDirectory(prefix="echobench-decoded-", dir=base)
            except OSError as exc:
                self.refused = f"{base}: cannot be used ({exc.strerror or exc})"

    def keep(self, video: np.ndarray) -> np.ndarray:
        """``video`` written to the folder and mapped back read-only (the same array)."""
        path = Path(self.folder.name) / f"{self.videos:07d}.npy"
        try:
            np.save(path, video)
        except OSError as exc:
            raise DataError(f"{path}: cannot keep decoded frames over the decode budget here "
                            f"({exc.strerror or exc}); set {SPILL_ENV} to a folder with room, or to off") from None
        mapped = np.load(path, mmap_mode="r")
        try:
            path.unlink()
        except OSError:  # (Windows: a mapped file stays until the folder is cleaned up at exit)
            pass
        self.bytes, self.videos = self.bytes + video.nbytes, self.videos + 1
        return mapped


def _spill_or_why(base: Path | None, need: int) -> tuple[_Spill | None, str]:
    """A spill folder under ``base`` with room for ``need`` bytes, or None and why not (for the log)."""
    if base is None:
        return None, f"; not spilled to disk ({SPILL_ENV}=off)"
    disk = _Spill(base, need)
    return (None, f"; not spilled to disk: {disk.refused}") if disk.refused else (disk, "")


def _gib(n: float) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def _compact(clip: np.ndarray) -> np.ndarray:
    """Keep one channel when all three are equal (EchoNet's grey-in-RGB), to save memory."""
    if (clip.shape[-1] == 3 and np.array_equal(clip[..., 0], clip[..., 1])
            and np.array_equal(clip[..., 0], clip[..., 2])):
        return np.ascontiguousarray(clip[..., :1])
    return clip


class _DecodeJobs(Dataset):
    """Item ``i``: what :func:`decode_clips` needs of ``records[i]``, decoded here or in a worker:
    ``{"error": message}`` for a video that cannot be decoded, else ``video`` (every frame, compacted,
    when ``keep`` and decoded whole, else None), ``clip`` and ``indices`` (compacted; cached
    protocols), ``counts`` (channel counts when asked), ``frames`` (decoded length, None when only
    the clip was decoded) and ``size`` (``(H, W)``)."""

    def __init__(self, records: list[VideoRecord], protocol: Protocol, *, whole: list[bool], cache: bool,
                 keep: bool, counts: list[bool]) -> None:
        import multiprocessing

        self.records, self.protocol, self.whole, self.cache, self.counts = records, protocol, whole, cache, counts
        self._keep = multiprocessing.RawValue("b", keep)  # shared with forked workers: turned off, they stop sending

    @property
    def keep(self) -> bool:
        return bool(self._keep.value)

    @keep.setter
    def keep(self, value: bool) -> None:
        self._keep.value = bool(value)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        from echobench.data.transforms import channel_counts

        record = self.records[i]
        try:
            if self.whole[i]:
                video = read_video(record.path)
                indices = self.protocol.frame_indices(len(video)) if self.cache else None
                clip = take_frames(video, indices) if self.cache else None
            else:
                video = None
                clip, indices = read_frames(record.path, self.protocol.frame_indices)
        except DataError as exc:
            return {"error": str(exc)}
        except EchobenchError as exc:  # raised again in the caller's process: one line, not a worker traceback
            return {"raise": exc}
        return {"video": _compact(video) if video is not None and self.keep else None,
                "clip": _compact(clip) if self.cache else None, "indices": indices,
                "counts": channel_counts(video) if self.counts[i] and video is not None else None,
                "frames": None if video is None else len(video),
                "size": tuple((video if video is not None else clip).shape[1:3])}


def _as_is(item):
    return item


WORKER_TIMEOUT_S = 600
"""Seconds :func:`decode_clips` waits for a worker's next video before decoding the rest itself."""


def decode_workers(requested: int | None = None, processes: int = 1) -> int:
    """Worker processes for :func:`decode_clips`: ``requested`` (``--num-workers``) when given, else
    this machine's available cores (:func:`echobench.engine.devices.available_cores`) shared by the
    ``processes`` of this node that each decode (DDP ranks); 0 (decode in this process) when that
    leaves one core, or where processes start by ``spawn`` (macOS, Windows: they would re-import the
    caller's script). Decoding happens before the first step, so it does not compete with training."""
    if requested is not None:
        return max(0, int(requested))
    import multiprocessing

    from echobench.engine.devices import available_cores

    method = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
    if method != "fork":
        return 0  # (spawn: macOS, Windows) workers would re-import the caller's script; --num-workers asks
    share = available_cores() // max(1, processes)
    return share if share > 1 else 0


def decode_clips(records: Sequence[VideoRecord], protocol: Protocol, *,
                 progress: Callable[[int], None] | None = None,
                 stop: Callable[[], bool] | None = None,
                 whole: Callable[[VideoRecord], bool] | None = None, hold: bool = False,
                 budget: int | None = None,
                 histograms: Callable[[VideoRecord], bool] | None = None,
                 workers: int | None = None, spill: Path | str | None | bool = True) -> DecodedClips:
    """Decode every video once: validate it, cache its clip when the protocol's clip is fixed, and
    optionally hold all its frames.

    An undecodable video is skipped and counted with its one-line reason, never fatal; a video
    shorter than one clip is kept, padded, and counted in ``notes``; a video whose frame size
    differs from the dataset's most common one is kept, its clip (and held frames) resized
    (:func:`fit_frame_size`), and counted in ``notes``.

    Args:
        stop: polled before each video and once after the last (Ctrl-C in the CLI); when true,
            decoding stops at once.
        whole: which videos are decoded frame by frame in full (:func:`~echobench.data.video.read_video`,
            every frame checked); under a linspace protocol the others decode only their clip's frames
            (:func:`~echobench.data.video.read_frames`; every packet is still demuxed and counted).
            Default: every video whole. Under a contiguous protocol every video is decoded whole.
        hold: keep every frame of the videos decoded whole in ``videos`` (``(N, H, W, C)`` uint8, one
            channel for grey videos), as long as their bytes stay within ``budget`` (default
            :func:`decode_budget`): estimated first from the records' frames x height x width (one
            byte per pixel, EchoNet's grey), then counted while decoding (colour videos take three).
            Over budget, the frames of the further videos are kept in files under ``spill`` and held
            memory-mapped (``spilled`` says where and how much), the same arrays to every reader;
            without ``spill``, or with too little free disk for the estimate, nothing is held
            (``videos`` is None) and ``streamed`` says why.
        spill: the folder for frames over the budget (default :func:`spill_folder`; None: none).
        histograms: which videos get their ``(3, 256)`` channel counts in ``counts``
            (:func:`~echobench.data.transforms.channel_counts`, for TRAIN mean/std); they must be
            decoded whole.
        workers: decode in this many worker processes (a DataLoader over the videos, results taken
            in order: the same result as ``0``, this process alone); None: :func:`decode_workers`.

    Raises:
        Interrupted (:class:`echobench.engine.loop.Interrupted`): ``stop()`` turned true.
    """
    from echobench.data.transforms import channel_counts

    cache = protocol.deterministic_train_clip
    decoded_whole = whole if whole is not None and cache else (lambda _record: True)
    result = DecodedClips(records=[], clips=[] if cache else None, frame_indices=[] if cache else None,
                          counts=[] if histograms else None)
    held: list[np.ndarray | None] | None = [] if hold else None
    limit = decode_budget() if hold and budget is None else budget
    disk: _Spill | None = None  # frames over the budget, memory-mapped from files (module docstring)
    base = spill_folder() if spill is True else (Path(spill) if spill else None)
    remaining = 0  # bytes still to decode whole (estimated): what a spill folder must have room for
    why = ""
    if held is not None:
        remaining = estimate = sum(r.num_frames * r.frame_height * r.frame_width
                                   for r in records if decoded_whole(r))
        if estimate > limit:
            disk, why = _spill_or_why(base, estimate - limit)
            if disk is None:
                held, result.streamed = None, (f"frames of {_gib(estimate)} (estimated) exceed the decode budget "
                                               f"of {_gib(limit)} ({BUDGET_ENV}){why}; streamed")
    held_bytes = 0
    sizes: list[tuple[int, int]] = []

    def stopped(done: int) -> None:
        if stop is not None and stop():
            from echobench.engine.loop import Interrupted

            raise Interrupted(f"stopped while decoding videos ({done} of {len(records)} decoded; "
                              "nothing was trained yet)")

    jobs = _DecodeJobs(list(records), protocol, whole=[decoded_whole(r) for r in records], cache=cache,
                       keep=held is not None,
                       counts=[bool(histograms and histograms(r)) for r in records])
    workers = decode_workers() if workers is None else workers
    if workers > 0 and len(records) > 1:
        from torch.utils.data import DataLoader

        from echobench.engine.devices import init_worker

        decoded = iter(DataLoader(jobs, batch_size=None, num_workers=min(workers, len(records)),
                                  collate_fn=_as_is, worker_init_fn=init_worker, timeout=WORKER_TIMEOUT_S))
    else:
        decoded = (jobs[i] for i in range(len(jobs)))
    for done, record in enumerate(records):
        stopped(done)
        try:
            one = next(decoded)
        except RuntimeError as exc:  # a worker died (killed for memory) or stopped answering: go on here
            if workers <= 0:
                raise
            result.messages.append(f"decoding workers failed ({str(exc).splitlines()[0][:160]}); the other "
                                   f"{len(records) - done} videos are decoded in this process")
            del decoded  # (shuts the workers down)
            workers, decoded = 0, (jobs[i] for i in range(done, len(jobs)))
            one = next(decoded)
        if "raise" in one:
            raise one["raise"]
        if "error" in one:
            result.skipped["video could not be decoded"] += 1
            result.messages.append(one["error"])
            if progress:
                progress(1)
            continue
        video, clip, indices = one["video"], one["clip"], one["indices"]
        if one["frames"] is not None and protocol.needs_padding(one["frames"]):
            result.notes[f"video shorter than one {protocol.name} clip (zero-padded)"] += 1
            result.messages.append(f"{record.path}: {one['frames']} frames, shorter than one clip of "
                                   f"{protocol.frames}x{protocol.period}; padded with zero frames")
        result.records.append(record)
        sizes.append(one["size"])
        if cache:
            result.clips.append(clip)
            result.frame_indices.append(indices)
        if result.counts is not None:
            result.counts.append(one["counts"])
        if held is not None:
            remaining -= record.num_frames * record.frame_height * record.frame_width if decoded_whole(record) else 0
            if video is not None and held_bytes + video.nbytes > limit:
                if disk is None:  # the estimate was low (colour videos take three bytes a pixel)
                    disk, why = _spill_or_why(base, 3 * max(remaining, 0) + video.nbytes)
                if disk is not None:
                    video = disk.keep(video)  # over the budget: on disk, memory-mapped
            if video is not None and not isinstance(video, np.memmap):
                held_bytes += video.nbytes
            held.append(video)
            if held_bytes > limit:
                held, result.streamed = None, (f"decoded frames exceed the decode budget of {_gib(limit)} "
                                               f"({BUDGET_ENV}) after {done + 1} videos{why}; streamed")
                jobs.keep = False  # (the workers see it too: whole videos in flight are dropped here)
        if progress:
            progress(1)
    stopped(len(records))
    result.frame_size = size = common_frame_size(sizes)
    for i, (record, shape) in enumerate(zip(result.records, sizes)):
        if shape != size:
            result.notes[resized_note(size)] += 1
            result.messages.append(f"{record.path}: frames are {shape[0]}x{shape[1]}, the dataset's are "
                                   f"{size[0]}x{size[1]}; resized to {size[0]}x{size[1]}")
            if cache:
                result.clips[i] = fit_frame_size(result.clips[i], size)
            if held is not None and held[i] is not None:
                held[i] = fit_frame_size(held[i], size)
            if result.counts is not None and result.counts[i] is not None:  # counted at the file's size
                result.counts[i] = channel_counts(held[i]) if held is not None and held[i] is not None else None
    result.videos = held
    if disk is not None:
        if disk.videos and held is not None:
            result.spilled = (f"frames of {disk.videos} videos ({_gib(disk.bytes)}) over the decode budget of "
                              f"{_gib(limit)} ({BUDGET_ENV}) kept on disk under {disk.base} ({SPILL_ENV}), read "
                              f"memory-mapped")
        disk.folder.cleanup()  # (its files are unlinked already: their space returns with the mappings)
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
        videos: every frame ``(N, H, W, C)`` uint8 of each video, held in memory
            (``DecodedClips.videos``): clips are taken from them instead of decoding the file.
    """

    def __init__(self, records: Sequence[VideoRecord], targets: np.ndarray, protocol: Protocol, *,
                 train: bool, clips: Sequence[np.ndarray] | None = None,
                 frame_indices: Sequence[np.ndarray] | None = None, seed: int = 0, start: int = 0,
                 frame_size: tuple[int, int] | None = None,
                 videos: Sequence[np.ndarray] | None = None) -> None:
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
        self.videos = videos
        self.epoch = 0
        # grey cached clips travel to the device as one channel (prepare_clips makes them three there);
        # clips decoded per item are RGB, and a mix of grey and colour cached clips is sent as RGB
        self.channels = 1 if clips is not None and all(c.shape[-1] == 1 for c in clips) else 3

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
        elif self.videos is not None:  # held frames: the same clip as decoding its frames (read_frames)
            indices = self.sample_indices(i, len(self.videos[i]))
            clip = take_frames(self.videos[i], indices)
        else:  # decode only the sampled frames (read_frames); same clip as take_frames(read_video(...))
            clip, indices = read_frames(self.records[i].path, functools.partial(self.sample_indices, i))
        clip = fit_frame_size(clip, self.frame_size)
        if clip.shape[-1] < self.channels:  # a grey clip among colour ones (one batch, one shape)
            clip = np.repeat(clip, self.channels, axis=-1)
        return {
            "clip": torch.from_numpy(np.ascontiguousarray(clip)),
            "frame_indices": torch.from_numpy(np.asarray(indices, dtype=np.int64)),
            "target": torch.tensor(self.targets[i]),
            "index": torch.tensor(i),
        }
