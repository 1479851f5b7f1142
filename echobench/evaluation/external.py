"""External validation (issue 17 item 3; DESIGN §9): train and select on dataset A, then score
dataset B with no retraining, under the same protocol, A's TRAIN normalisation (mean/std of the
``echonet`` protocol) and A's frame size, one clip per video; the constant predictor is A's TRAIN
mean (or prevalence), since nothing of B is fitted.

Which rows of B are scored (:data:`EXTERNAL_RULE`, versioned as :data:`EXTERNAL_VERSION`): B's TEST
split when B has TEST videos with a usable label for the task, else every labelled video of B
(recorded with split ``"ALL"``). The pairing is refused with one line naming both datasets when
B lacks the task's label or gives it in other units than A.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from echobench.contract.specs import DatasetSpec, TaskSpec
from echobench.errors import ConfigError, DataError

EXTERNAL_VERSION = "1"
EXTERNAL_RULE = ("scored rows: the evaluation dataset's TEST split if it has TEST videos with the task's label, "
                 "else all its labelled videos (split ALL); one clip per video; no retraining; the training "
                 "dataset's TRAIN normalisation and frame size")
ALL = "ALL"


@dataclass
class ExternalData:
    """One evaluation dataset read and decoded for one (task label, protocol)."""

    spec: DatasetSpec
    root: Path
    split: str  # "TEST" or "ALL" (EXTERNAL_RULE)
    records: list
    clips: list | None
    frame_indices: list | None
    labels: np.ndarray  # natural units of the task label
    ef: np.ndarray  # EF in % (NaN where the dataset has none)
    dataset_hash: str
    synthetic: bool
    skipped: Counter = field(default_factory=Counter)


def parse_eval_data(values: list[str] | tuple[str, ...], *, registry=None) -> tuple[tuple[str | None, Path], ...]:
    """``--eval-data`` values (``PATH`` or ``DATASET=PATH``) as ``(dataset name or None, path)``.
    The text before the first ``=`` is a dataset name only when it names a registered dataset
    (a path may contain ``=``).

    Raises:
        UnknownNameError: ``NAME=PATH`` whose NAME looks like a dataset name (no ``/``) but is not
            registered (with a did-you-mean).
    """
    from echobench.registry import get_registry

    registry = registry or get_registry()
    out = []
    for value in values:
        name, sep, path = value.partition("=")
        if sep and name and "/" not in name and os.sep not in name and not Path(value).exists():
            registry.get("dataset", name)  # unknown names: did-you-mean
            out.append((name, Path(path)))
        else:
            out.append((None, Path(value)))
    return tuple(out)


def check_pairing(task: TaskSpec, trained_on: DatasetSpec, spec: DatasetSpec, data) -> None:
    """Refuse scoring dataset ``spec`` (records ``data``) with a model trained on ``trained_on`` for
    ``task`` unless the task's label is there in the same units.

    Raises:
        ConfigError: one line naming both datasets and the task.
    """
    from echobench.data.resolve import label_units

    trained_units = trained_on.labels.get(task.label, task.units)
    try:
        units = label_units(task, spec, data)
    except ConfigError as exc:
        raise ConfigError(f"external validation refused: model trained on {trained_on.name} for task {task.name}; "
                          f"{data.root} ({spec.name}): {exc}") from None
    if units != trained_units:
        raise ConfigError(f"external validation refused for task {task.name}: {task.label} is in {trained_units} in "
                          f"{trained_on.name} but in {units} in {spec.name} ({data.root})")


def check_external(entries, tasks: list[TaskSpec], trained_on: DatasetSpec, *, registry=None) -> None:
    """:func:`check_pairing` of every ``(dataset or None, folder)`` of ``--eval-data`` for every task,
    reading each folder without probing its videos (fail fast, before anything is trained).

    Raises:
        as :func:`check_pairing` and :func:`echobench.data.resolve.resolve_dataset`.
    """
    from echobench.data.resolve import resolve_dataset

    for name, root in entries:
        spec, data = resolve_dataset(name, root, probe=False, registry=registry)
        for task in tasks:
            check_pairing(task, trained_on, spec, data)


def prepare_external(name: str | None, root: str | os.PathLike, task: TaskSpec, protocol, *,
                     trained_on: DatasetSpec, progress: Callable[[str, int | None], Callable[[int], None]] | None = None,
                     log: Callable[[str], None] | None = None, workers: int | None = None) -> ExternalData:
    """Read ``root`` as dataset ``name`` (None: detected), check the pairing with ``trained_on``,
    pick the rows of :data:`EXTERNAL_RULE` and decode their clips (each video once; ``workers``: as
    :func:`echobench.data.clips.decode_clips`).

    Raises:
        ConfigError: the evaluation dataset lacks the task's label or gives it in other units than
            the training dataset (one line naming both).
        DataError: the folder cannot be used, or no video of it has a usable label.
    """
    from echobench.data.clips import decode_clips
    from echobench.data.resolve import resolve_dataset, usable_label
    from echobench.provenance import dataset_hash

    log = log or (lambda _msg: None)
    root = Path(root)
    spec, data = resolve_dataset(name, root, probe=True, progress=progress("probe videos", None) if progress else None)
    check_pairing(task, trained_on, spec, data)
    skipped: Counter = Counter(data.report.skipped)
    kept = [r for r in data.records if usable_label(r.label(task.label), task)]
    skipped[f"{task.label} missing or not positive for task {task.name}"] += len(data.records) - len(kept)
    test = [r for r in kept if r.split == "TEST"]
    chosen, split = (test, "TEST") if test else (kept, ALL)
    if not chosen:
        raise DataError(f"{root}: no video with a usable {task.label} to score for external validation")
    decoded = decode_clips(chosen, protocol, progress=progress(f"decode {spec.name} videos", len(chosen))
                           if progress else None, workers=workers)
    skipped.update(decoded.skipped)
    for message in decoded.messages:
        log(message)
    if not decoded.records:
        raise DataError(f"{root}: none of its {len(chosen)} videos to score could be decoded")
    records = decoded.records
    return ExternalData(
        spec=spec, root=root, split=split, records=records, clips=decoded.clips, frame_indices=decoded.frame_indices,
        labels=np.array([r.label(task.label) for r in records], dtype=np.float64),
        ef=np.array([r.label("EF") for r in records], dtype=np.float64),
        dataset_hash=dataset_hash(root, [(r.file_name, r.num_frames) for r in records],
                                  labels={task.label: [(r.file_name, r.split, r.label(task.label)) for r in records]}),
        synthetic=(root / "SYNTHETIC.json").is_file(), skipped=skipped)


def predict_external(fabric, model, ext: ExternalData, protocol, *, objective, batch_size: int, stats,
                     frame_size: tuple[int, int] | None, seed: int, num_workers: int | None,
                     advance: Callable[[int], None] | None = None) -> np.ndarray:
    """The model's outputs ``(N,)`` (natural units, or P(positive)) for ``ext``'s videos, one clip each,
    exactly as VAL/TEST of the training dataset are predicted (same loader, normalisation and size)."""
    from torch.utils.data import DataLoader

    from echobench.data.clips import ClipDataset
    from echobench.engine.devices import loader_options
    from echobench.engine.loop import eval_sampler, predict

    dataset = ClipDataset(ext.records, objective.targets(ext.labels), protocol, train=False, clips=ext.clips,
                          frame_indices=ext.frame_indices, seed=seed, frame_size=frame_size)
    loader = DataLoader(dataset, batch_size=-(-batch_size // fabric.world_size), shuffle=False,
                        sampler=eval_sampler(dataset, fabric), **loader_options(fabric, num_workers))
    loader = fabric.setup_dataloaders(loader, use_distributed_sampler=False)
    return objective.outputs(predict(fabric, model, loader, protocol, stats=stats, advance=advance))


def external_rows(task: TaskSpec, ext: ExternalData, outputs: np.ndarray, train_labels: np.ndarray, *,
                  model_name: str, n_boot: int, seed: int = 0) -> list[tuple[str, Any]]:
    """``(model name, Score)`` of the model and of the training dataset's constant predictor on ``ext``."""
    from echobench.evaluation import CONSTANT, constant_outputs, score_outputs

    rows = []
    const = constant_outputs(task, train_labels, len(outputs))
    for name, values in ((model_name, outputs), (CONSTANT, const)):
        rows += [(name, s) for s in score_outputs(task, values, ext.labels, ext.ef, n_boot=n_boot, seed=seed)]
    return rows


def external_predictions_path(run_dir: str | os.PathLike, dataset: str, dataset_hash: str) -> Path:
    """Where a run keeps its per-video predictions on one external dataset, next to its own
    ``predictions.parquet`` and in the same schema (FileName, split, clips, prediction, truth, EF):
    ``<run_dir>/predictions.<dataset>.<dataset_hash>.parquet``, ``dataset`` the evaluated folder's name
    and ``dataset_hash`` its hash (a record row's ``dataset`` and ``dataset_hash`` columns find it; any
    character but letters, digits, ``_`` and ``-`` of the folder name becomes ``-``). One file per
    external dataset, because every reader of ``predictions.parquet`` (the leaderboard's pictures,
    ``echobench robustness``, ``echobench score``) selects rows by split and clips only, and an
    external TEST split would mix with the training dataset's."""
    return Path(run_dir) / f"predictions.{re.sub(r'[^A-Za-z0-9_-]+', '-', dataset)}.{dataset_hash}.parquet"


def external_provenance(ext: ExternalData) -> dict[str, Any]:
    """The record fields of a row scored on ``ext`` that differ from the training dataset's rows."""
    import json

    return {"dataset": ext.root.resolve().name, "dataset_hash": ext.dataset_hash, "synthetic": ext.synthetic,
            "dataset_version": ext.spec.version, "evaluated_on_dataset": ext.spec.name,
            "skipped": json.dumps(dict(ext.skipped), sort_keys=True), "notes": json.dumps({})}
