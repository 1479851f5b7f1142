"""Stage 2, task data: one dataset read, validated and decoded once for one (task label, protocol),
shared by every model and seed of a sweep (:func:`prepare_data` -> :class:`PreparedData`).

Decode once (issue 14 item 5): one pass (:func:`echobench.data.clips.decode_clips`) validates every
video and keeps, as uint8 (one channel for EchoNet's grey videos), what the run will read again:

- ``echonet`` (contiguous clips): every frame of every video. Training takes each epoch's random
  clip from them, prediction the clip at start 0, all-clips averaging every start, and the TEST beats
  (and robustness) pass the whole TEST videos; TRAIN mean/std come from the same pass (per-video
  histograms of the 128 sampled TRAIN videos). Each file is opened for decoding once per run.
- ``echovisionfm`` (linspace clips): TRAIN and VAL decode only their 16 clip frames (every packet is
  still demuxed and counted); TEST is decoded whole, its clip cached and its frames held for beats
  and robustness. Each file is opened for decoding once per run.

Over the budget: frames decoded whole beyond the decode budget
(:func:`echobench.data.clips.decode_budget`: ``ECHOBENCH_DECODE_BUDGET``, default a quarter of
physical memory; estimated from the records' frames x height x width, then counted) are kept on disk
(:func:`echobench.data.clips.spill_folder`: ``ECHOBENCH_SPILL_DIR``, default the temporary folder) and
read memory-mapped: still decoded once, the same numbers. Streaming fallback: with spilling off or
too little free disk, nothing but the cached linspace clips is held and each later use decodes the
file again: under ``echonet`` every
epoch's TRAIN/VAL clip (only its frames), the prediction clip, the all-clips pass and the beats
pass; under ``echovisionfm`` the TEST beats pass (and robustness). The run's log says which.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echobench.data.echonet import SPLITS
from echobench.experiment.config import ProgressFactory
from echobench.protocols import Protocol

STATS_VIDEOS = 128  # TRAIN videos sampled for mean/std (EchoNet-Dynamic get_mean_and_std, samples=128)


@dataclass
class PreparedData:
    """One dataset read and decoded for one (task label, protocol): reusable across models and seeds.

    ``clips``/``frame_indices``: the cached linspace clip ``(T, H, W, C)`` uint8 of each video (None
    for contiguous protocols); ``held``: every frame ``(N, H, W, C)`` uint8 of each video decoded whole
    and held (None per split when streamed, or for videos decoded only at their clip frames);
    ``streamed``: why frames are not held ("" when they are).
    """

    root: Path
    records: dict[str, list]  # split -> VideoRecord list
    clips: dict[str, list | None]
    frame_indices: dict[str, list | None]
    labels: dict[str, np.ndarray]  # natural units of the task label
    ef: dict[str, np.ndarray]
    stats: tuple[list[float], list[float]] | None
    skipped: Counter
    notes: Counter
    dataset_hash: str
    synthetic: bool
    frame_size: tuple[int, int] | None = None  # (height, width) every clip is given (DecodedClips.frame_size)
    dataset_spec: Any = None  # the DatasetSpec the folder was read as (echobench.data.resolve)
    held: dict[str, list | None] = field(default_factory=dict)
    streamed: str = ""
    # external validation datasets read and decoded for the runs sharing these data (a sweep's), by
    # (dataset name or None, folder, task name): :func:`echobench.experiment.evaluate.external_data`
    externals: dict[tuple[str | None, str, str], Any] = field(default_factory=dict)

    def dataset(self, split: str, targets: np.ndarray, protocol: Protocol, *, seed: int):
        """The :class:`~echobench.data.clips.ClipDataset` of ``split`` (random clip starts on TRAIN),
        ``targets`` ``(N,)`` protocol-encoded and aligned with ``records[split]``; its clips come from
        the cached clips, else the held frames, else the file (streamed)."""
        from echobench.data.clips import ClipDataset

        held = self.held.get(split)
        return ClipDataset(self.records[split], targets, protocol, train=split == "TRAIN", clips=self.clips[split],
                           frame_indices=self.frame_indices[split], seed=seed, frame_size=self.frame_size,
                           videos=held if held is not None and all(v is not None for v in held) else None)

    def videos(self, split: str) -> list[Callable[[], np.ndarray]]:
        """One loader per video of ``split``: ``videos[i]()`` -> every frame ``(N, H, W, 3)`` uint8 at the
        run's frame size (all-clips averaging, beats, robustness): the held frames, or (streamed) the
        file decoded again."""
        from echobench.data.clips import fit_frame_size
        from echobench.data.video import read_video

        held = self.held.get(split) or [None] * len(self.records[split])
        return [(lambda v=v: np.repeat(v, 3, axis=-1) if v.shape[-1] == 1 else v) if v is not None else
                (lambda p=r.path: fit_frame_size(read_video(p), self.frame_size))
                for r, v in zip(self.records[split], held)]


def decode_workers_of(cfg, fabric=None) -> int:
    """The decoding workers of a run (:func:`echobench.data.clips.decode_workers`): ``cfg.num_workers``
    when given, else the available cores shared by this node's processes (``fabric``'s, else the
    ``cfg.gpus`` / ``cfg.cpu_processes`` it will start)."""
    from echobench.data.clips import decode_workers

    if fabric is not None:
        from echobench.engine.devices import local_processes

        processes = local_processes(fabric)
    else:
        processes = max(1, getattr(cfg, "gpus", None) or 1, getattr(cfg, "cpu_processes", 1) or 1)
    return decode_workers(getattr(cfg, "num_workers", None), processes)


def _train_stats(train: list, counts: list, frame_size) -> tuple[list[float], list[float]]:
    """Per-channel TRAIN mean/std over the :data:`STATS_VIDEOS` videos drawn with seed 0 (protocol
    ``echonet`` version 2), from the decoding pass's histograms; a video resized to the run's frame
    size and not held is decoded again (its histogram was taken at the file's size)."""
    from echobench.data.clips import fit_frame_size
    from echobench.data.transforms import channel_counts, stats_from_counts
    from echobench.data.video import read_video

    total = np.zeros((3, 256), dtype=np.int64)
    for i in sorted(np.random.default_rng(0).permutation(len(train))[:STATS_VIDEOS]):
        if counts[i] is None:
            counts[i] = channel_counts(fit_frame_size(read_video(train[i].path), frame_size))
        total += counts[i]
    return stats_from_counts(total)


def prepare_data(root: Path, task, protocol: Protocol, *, progress: ProgressFactory | None = None,
                 log: Callable[[str], None] | None = None, stop: Callable[[], bool] | None = None,
                 dataset: str | None = None, workers: int | None = None) -> PreparedData:
    """Read ``root`` as ``dataset`` (None: detected; :func:`echobench.data.resolve.resolve_dataset`),
    drop (and count) videos without a usable label, and decode every video once (module docstring:
    what is held, and when it streams instead).

    Videos whose frame size differs from the dataset's most common one are resized to it
    (:func:`echobench.data.clips.decode_clips`) and counted in ``notes``.

    Args:
        stop: polled before each video is decoded (Ctrl-C in the CLI).
        workers: decoding worker processes (None: :func:`echobench.data.clips.decode_workers`).

    Raises:
        ConfigError: the dataset has no column for the task's label, or gives it in other units;
            ``ECHOBENCH_DECODE_BUDGET`` is not a size.
        DataError: the directory cannot be used, or a split has no usable videos.
        Interrupted (:class:`echobench.engine.loop.Interrupted`): ``stop()`` turned true while decoding.
    """
    from echobench.data.clips import decode_clips
    from echobench.data.echonet import require_splits
    from echobench.data.resolve import label_units, resolve_dataset, usable_label
    from echobench.provenance import dataset_hash

    log = log or (lambda _msg: None)
    spec, data = resolve_dataset(dataset, root, probe=True,
                                 progress=progress("probe videos", None) if progress else None)
    label_units(task, spec, data)
    skipped: Counter = Counter(data.report.skipped)
    kept = []
    for r in data.records:
        if not usable_label(r.label(task.label), task):
            skipped[f"{task.label} missing or not positive for task {task.name}"] += 1
            log(f"{r.path}: {task.label} missing; skipped for task {task.name}")
            continue
        kept.append(r)
    require_splits(kept, root, task=task.name, skipped=skipped)  # before any decoding
    mean_std = protocol.normalization == "train-mean-std"
    decoded = decode_clips(kept, protocol, progress=progress("decode videos", len(kept)) if progress else None,
                           stop=stop, whole=lambda r: r.split == "TEST", hold=True,
                           histograms=(lambda r: r.split == "TRAIN") if mean_std else None, workers=workers)
    skipped.update(decoded.skipped)
    for message in decoded.messages:
        log(message)
    if decoded.streamed:
        log(f"decode once: {decoded.streamed} (each use decodes the file again)")
    if decoded.spilled:
        log(f"decode once: {decoded.spilled}")
    by_split: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, r in enumerate(decoded.records):
        by_split[r.split].append(i)
    require_splits(decoded.records, root, task=task.name, skipped=skipped)  # videos that failed to decode
    records = {s: [decoded.records[i] for i in by_split[s]] for s in SPLITS}

    def split_of(values: list | None) -> dict[str, list | None]:
        return {s: [values[i] for i in by_split[s]] if values is not None else None for s in SPLITS}

    held = split_of(decoded.videos)
    stats = None
    if mean_std:
        stats = _train_stats(records["TRAIN"], split_of(decoded.counts)["TRAIN"], decoded.frame_size)
    return PreparedData(
        root=Path(root), records=records, clips=split_of(decoded.clips), frame_indices=split_of(decoded.frame_indices),
        labels={s: np.array([r.label(task.label) for r in records[s]], dtype=np.float64) for s in SPLITS},
        ef={s: np.array([r.label("EF") for r in records[s]], dtype=np.float64) for s in SPLITS},  # NaN: no EF
        stats=stats, skipped=skipped, notes=Counter(data.report.notes) + decoded.notes,
        dataset_hash=dataset_hash(root, [(r.file_name, r.num_frames) for r in decoded.records],
                                  labels={task.label: [(r.file_name, r.split, r.label(task.label))
                                                       for r in decoded.records]}),
        synthetic=(Path(root) / "SYNTHETIC.json").is_file(), frame_size=decoded.frame_size, dataset_spec=spec,
        held=held, streamed=decoded.streamed,
    )
