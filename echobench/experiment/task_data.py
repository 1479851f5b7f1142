"""Stage 2, task data: one dataset read and decoded for one (task label, protocol), shared by every
model and seed of a sweep (:func:`prepare_data` -> :class:`PreparedData`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from echobench.data.echonet import SPLITS
from echobench.experiment.config import ProgressFactory
from echobench.protocols import Protocol

STATS_VIDEOS = 128  # TRAIN videos sampled for mean/std (EchoNet-Dynamic get_mean_and_std, samples=128)


@dataclass
class PreparedData:
    """One dataset read and decoded for one (task label, protocol): reusable across models and seeds."""

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

    def dataset(self, split: str, targets: np.ndarray, protocol: Protocol, *, seed: int):
        """The :class:`~echobench.data.clips.ClipDataset` of ``split`` (random clip starts on TRAIN),
        ``targets`` ``(N,)`` protocol-encoded and aligned with ``records[split]``."""
        from echobench.data.clips import ClipDataset

        return ClipDataset(self.records[split], targets, protocol, train=split == "TRAIN", clips=self.clips[split],
                           frame_indices=self.frame_indices[split], seed=seed, frame_size=self.frame_size)

    def videos(self, split: str) -> list:
        """One loader per video of ``split``: ``videos[i]()`` -> every frame ``(N, H, W, C)`` uint8 at the
        run's frame size (all-clips averaging, beats, robustness)."""
        from echobench.data.clips import fit_frame_size
        from echobench.data.video import read_video

        return [lambda p=r.path: fit_frame_size(read_video(p), self.frame_size) for r in self.records[split]]


def prepare_data(root: Path, task, protocol: Protocol, *, progress: ProgressFactory | None = None,
                 log: Callable[[str], None] | None = None, stop: Callable[[], bool] | None = None,
                 dataset: str | None = None) -> PreparedData:
    """Read ``root`` as ``dataset`` (None: detected; :func:`echobench.data.resolve.resolve_dataset`),
    drop (and count) videos without a usable label, decode the protocol's clips.

    Videos whose frame size differs from the dataset's most common one are resized to it
    (:func:`echobench.data.clips.decode_clips`) and counted in ``notes``.

    Args:
        stop: polled before each video is decoded (Ctrl-C in the CLI).

    Raises:
        ConfigError: the dataset has no column for the task's label, or gives it in other units.
        DataError: the directory cannot be used, or a split has no usable videos.
        Interrupted (:class:`echobench.engine.loop.Interrupted`): ``stop()`` turned true while decoding.
    """
    from echobench.data.clips import decode_clips, fit_frame_size
    from echobench.data.echonet import require_splits
    from echobench.data.resolve import label_units, resolve_dataset, usable_label
    from echobench.data.transforms import channel_stats
    from echobench.data.video import read_video
    from echobench.provenance import dataset_hash

    log = log or (lambda _msg: None)
    spec, data = resolve_dataset(dataset, root, probe=True, progress=progress("probe videos", None) if progress else None)
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
    decoded = decode_clips(kept, protocol, progress=progress("decode videos", len(kept)) if progress else None,
                           stop=stop)
    skipped.update(decoded.skipped)
    for message in decoded.messages:
        log(message)
    by_split: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, r in enumerate(decoded.records):
        by_split[r.split].append(i)
    require_splits(decoded.records, root, task=task.name, skipped=skipped)  # videos that failed to decode
    records = {s: [decoded.records[i] for i in by_split[s]] for s in SPLITS}
    cached = decoded.clips is not None
    stats = None
    if protocol.normalization == "train-mean-std":
        train = records["TRAIN"]
        sample = np.random.default_rng(0).permutation(len(train))[:STATS_VIDEOS]
        stats = channel_stats(fit_frame_size(read_video(train[i].path), decoded.frame_size)  # one video at a time
                              for i in sorted(sample))
    return PreparedData(
        root=Path(root), records=records,
        clips={s: [decoded.clips[i] for i in by_split[s]] if cached else None for s in SPLITS},
        frame_indices={s: [decoded.frame_indices[i] for i in by_split[s]] if cached else None for s in SPLITS},
        labels={s: np.array([r.label(task.label) for r in records[s]], dtype=np.float64) for s in SPLITS},
        ef={s: np.array([r.label("EF") for r in records[s]], dtype=np.float64) for s in SPLITS},  # NaN: no EF
        stats=stats, skipped=skipped, notes=Counter(data.report.notes) + decoded.notes,
        dataset_hash=dataset_hash(root, [(r.file_name, r.num_frames) for r in decoded.records],
                                  labels={task.label: [(r.file_name, r.split, r.label(task.label)) for r in decoded.records]}),
        synthetic=(Path(root) / "SYNTHETIC.json").is_file(), frame_size=decoded.frame_size, dataset_spec=spec,
    )

