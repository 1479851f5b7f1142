"""Datasets through the registry only (issue 14 item 3): name or detect a folder's layout, read it
with its dataset plugin's reader, and check that a task's label exists there in the task's units.

Every core site that reads a data folder (``run``, ``score``, ``data check``, the demo, external
validation) calls :func:`resolve_dataset`; none calls a reader directly, so a third-party dataset
plugin is used exactly like EchoNet-Dynamic.

Detection rule (``name=None``): the registered dataset whose every ``markers`` glob (relative to the
folder) matches something in it; no match falls back to :data:`DEFAULT_DATASET` (whose reader then
says what is missing); two or more matches are a one-line error naming the folder and the matches.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path

from echobench.contract.dataset import DatasetRecords
from echobench.contract.specs import DatasetSpec, TaskSpec
from echobench.errors import ConfigError, DataError

DEFAULT_DATASET = "echonet-dynamic"


def _matches(spec: DatasetSpec, root: Path) -> bool:
    return bool(spec.markers) and all(next(iter(root.glob(pattern)), None) is not None for pattern in spec.markers)


def detect_dataset(root: str | os.PathLike, *, registry=None) -> DatasetSpec:
    """The registered dataset whose markers match ``root`` (see the module docstring).

    Raises:
        DataError: two or more registered datasets match the folder.
        UnknownNameError: no dataset matches and :data:`DEFAULT_DATASET` is not registered.
    """
    from echobench.registry import get_registry

    registry = registry or get_registry()
    root = Path(root)
    specs = [registry.get("dataset", n) for n in registry.names("dataset")]
    found = [s for s in specs if root.is_dir() and _matches(s, root)]
    if len(found) > 1:
        described = "; ".join(f"{s.name} ({', '.join(s.markers)})" for s in found)
        raise DataError(f"{root}: matches the layouts of several datasets ({described}); pass --dataset NAME")
    return found[0] if found else registry.get("dataset", DEFAULT_DATASET)


def resolve_dataset(name: str | None, root: str | os.PathLike, *, probe: bool = True,
                    progress: Callable[[int], None] | None = None, registry=None) -> tuple[DatasetSpec, DatasetRecords]:
    """Read ``root`` as dataset ``name`` (None: detected, :func:`detect_dataset`) with its plugin's reader.

    Args:
        name: a registered dataset name, or None to detect it from the folder's markers.
        root: the data folder.
        probe: passed to the reader (demux every video to count frames and catch broken files).
        progress: passed to the reader (called with 1 per video probed).

    Returns:
        ``(spec, records)``; every record's ``dataset`` is the spec's name.

    Raises:
        UnknownNameError: unknown ``name`` (with a did-you-mean).
        DataError: the folder matches several layouts, or the reader cannot use it (one line naming
            the file).
        PluginError: the reader cannot be imported, or it returned something else than
            :class:`DatasetRecords`.
    """
    from echobench.errors import PluginError
    from echobench.registry import get_registry

    registry = registry or get_registry()
    spec = registry.get("dataset", name) if name else detect_dataset(root, registry=registry)
    data = spec.load()(Path(root), probe=probe, progress=progress)
    if not isinstance(data, DatasetRecords):
        raise PluginError(f"dataset {spec.name}: its reader returned {type(data).__name__}, not DatasetRecords")
    data.records = [r if r.dataset == spec.name else dataclasses.replace(r, dataset=spec.name) for r in data.records]
    return spec, data


def label_units(task: TaskSpec, spec: DatasetSpec, data: DatasetRecords | None = None) -> str:
    """The units of ``task``'s label in dataset ``spec``: the spec's declared units, or (a label column
    the spec does not declare but its records carry, e.g. an extra numeric FileList column) the task's.

    Raises:
        ConfigError: the dataset neither declares nor carries the label, or declares it in other
            units than the task (one line naming task, label and dataset).
    """
    declared = spec.labels.get(task.label)
    if declared is None:
        carried = data is not None and any(task.label in r.labels for r in data.records)
        if not carried:
            known = sorted(set(spec.labels) | {c for r in (data.records if data else []) for c in r.labels})
            raise ConfigError(f"task {task.name} needs label column {task.label!r}, which dataset {spec.name} "
                              f"does not have (its labels: {', '.join(known) or 'none'})")
        return task.units
    if declared != task.units and task.kind != "frames":  # a frames task's units are its metric's (frames)
        raise ConfigError(f"task {task.name} reads {task.label} in {task.units or 'no units'}, but dataset "
                          f"{spec.name} gives {task.label} in {declared or 'no units'}")
    return declared


def usable_label(value: float | None, task: TaskSpec) -> bool:
    """Whether ``value`` is a usable label for ``task``: finite, and > 0 for volumes in mL."""
    return value is not None and math.isfinite(value) and not (task.units == "mL" and value <= 0)


def dataset_identity(spec: DatasetSpec) -> dict[str, str]:
    """What a run's config and records store of the dataset layout: its registered name and version."""
    return {"dataset_name": spec.name, "dataset_version": spec.version}


def check_labels(name: str | None, root: str | os.PathLike, tasks: list[TaskSpec], *, registry=None) -> DatasetSpec:
    """Fail fast, before any model is built or video decoded: read ``root`` without probing videos and
    check every task's label there (:func:`label_units`). Returns the dataset's spec.

    Raises:
        as :func:`resolve_dataset` and :func:`label_units`.
    """
    spec, data = resolve_dataset(name, root, probe=False, registry=registry)
    for task in tasks:
        label_units(task, spec, data)
    return spec
