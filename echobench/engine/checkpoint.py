"""Atomic, safe training checkpoints: model, optimizer, scheduler, step and RNG states (DESIGN §8).

A checkpoint is a folder ``ROOT/checkpoint-<step, 8 digits>/`` holding

- ``model.safetensors``: the model's state dict (tensors only, no pickle);
- ``training_state.pt``: ``{"optimizer", "scheduler", "rng"}`` written with ``torch.save`` and read
  back only with ``torch.load(weights_only=True)``, which refuses pickles that would run code;
- ``state.json``: ``{"format", "step", "meta"}`` (``meta``: the caller's JSON, e.g. the run config).

It is written into a hidden temporary folder next to it, every file fsynced, then renamed into place,
so a reader (or a resumed run after a crash or ``kill -9``) sees either the complete checkpoint or
none; stale temporary folders are removed by the next save. :func:`save_checkpoint` can keep only
the latest ``keep`` checkpoints. Generic: used by ``echobench pretrain`` and meant for
``echobench run --resume``.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from echobench.atomic import describe, fsync_file, write_error, write_errors
from echobench.errors import WeightsError

FORMAT = 1
PREFIX = "checkpoint-"
_NAME = re.compile(rf"^{PREFIX}(\d+)$")
MODEL_FILE, TRAINING_FILE, STATE_FILE = "model.safetensors", "training_state.pt", "state.json"


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``model`` state dict (CPU tensors), ``optimizer``/``scheduler`` state dicts
    (or None), ``rng`` states (see :func:`capture_rng`), ``step`` and the caller's ``meta``."""

    path: Path
    step: int
    model: dict[str, Any]
    optimizer: dict | None = None
    scheduler: dict | None = None
    rng: dict | None = None
    meta: dict = field(default_factory=dict)


def capture_rng() -> dict[str, Any]:
    """RNG states of Python, NumPy and torch (CPU and every CUDA device), in types ``weights_only``
    loading accepts (tensors, ints, floats, strings, tuples)."""
    import numpy as np
    import torch

    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Restore what :func:`capture_rng` captured (CUDA states only when the device count matches)."""
    import numpy as np
    import torch

    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not possible on some platforms/filesystems; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)



def list_checkpoints(root: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root`` as ``(step, path)``, oldest first (temporary folders ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _NAME.match(child.name)
        if match and child.is_dir() and (child / STATE_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The checkpoint with the highest step under ``root``, or None."""
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def save_checkpoint(root: str | os.PathLike, step: int, *, model: Mapping[str, Any], optimizer: dict | None = None,
                    scheduler: dict | None = None, rng: dict | None = None, meta: dict | None = None,
                    keep: int | None = None) -> Path:
    """Write ``ROOT/checkpoint-<step>/`` atomically and return its path.

    Args:
        model: state dict of tensors (any device; saved as contiguous CPU copies).
        optimizer, scheduler: their ``state_dict()`` (tensors and plain Python values only).
        rng: from :func:`capture_rng`.
        meta: JSON-serialisable extras (config, counters).
        keep: keep only the latest ``keep`` checkpoints (None = keep all).

    Raises:
        WriteError: the folder cannot be written (disk full, permissions; whichever library failed:
            safetensors, torch, the file system): one line naming the file and the last good
            checkpoint, which is kept; nothing half-written remains.
        ValueError: ``meta`` is not JSON-serialisable or ``step < 0``.
    """
    import torch
    from safetensors.torch import save_file

    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:08d}"
    for stale in root.glob(f".{PREFIX}*.tmp-*"):  # left by a killed save
        shutil.rmtree(stale, ignore_errors=True)
    meta_text = json.dumps({"format": FORMAT, "step": int(step), "meta": meta or {}}, indent=2, sort_keys=True)
    previous = latest_checkpoint(root)
    tmp = root / f".{final.name}.tmp-{uuid.uuid4().hex}"
    writing = final
    try:
        tmp.mkdir()
        tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.items()}
        writing = final / MODEL_FILE
        save_file(tensors, str(tmp / MODEL_FILE), metadata={"format": "pt"})
        writing = final / TRAINING_FILE
        torch.save({"optimizer": optimizer, "scheduler": scheduler, "rng": rng}, tmp / TRAINING_FILE)
        writing = final / STATE_FILE
        (tmp / STATE_FILE).write_text(meta_text + "\n", encoding="utf-8")
        for name in (MODEL_FILE, TRAINING_FILE, STATE_FILE):
            writing = final / name
            fsync_file(tmp / name)
        writing = final
        _fsync_dir(tmp)
        if final.exists():  # the same step saved again: swap, then drop the old one
            old = root / f".{final.name}.tmp-old-{uuid.uuid4().hex}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, write_errors()):
            kept = (f"the last good checkpoint is kept: {previous} (continue from it with --resume)"
                    if previous is not None else "no earlier checkpoint to keep")
            raise write_error(writing, exc, "checkpoint", kept) from exc
        raise
    if keep is not None and keep > 0:
        for _, path in list_checkpoints(root)[:-keep]:
            shutil.rmtree(path, ignore_errors=True)
    return final


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint folder written by :func:`save_checkpoint` (tensors on the CPU).

    Raises:
        WeightsError: folder or file missing, corrupt, unsafe (a pickle that would run code), or of
            an unknown format. One line naming the file.
    """
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / STATE_FILE).is_file():
        raise WeightsError(f"{path}: not a checkpoint (no {STATE_FILE})")
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path / STATE_FILE}: unreadable ({describe(exc)})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or not isinstance(state.get("step"), int):
        found = state.get("format") if isinstance(state, dict) else state
        raise WeightsError(f"{path / STATE_FILE}: unknown checkpoint format {found!r}")
    try:
        model = load_file(str(path / MODEL_FILE))
    except Exception as exc:
        raise WeightsError(f"{path / MODEL_FILE}: cannot read ({describe(exc)})") from None
    try:
        training = torch.load(path / TRAINING_FILE, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for unsafe pickles, EOFError/RuntimeError for corrupt files
        raise WeightsError(f"{path / TRAINING_FILE}: cannot read safely ({describe(exc)})") from None
    if not isinstance(training, dict):
        raise WeightsError(f"{path / TRAINING_FILE}: expected a dict, found {type(training).__name__}")
    return Checkpoint(path=path, step=state["step"], model=model, optimizer=training.get("optimizer"),
                      scheduler=training.get("scheduler"), rng=training.get("rng"), meta=state.get("meta") or {})


def check_model_state(state: Mapping[str, Any], model, where: str | os.PathLike) -> None:
    """Check that ``state`` fits ``model`` exactly (same keys, same shapes) before anything is loaded,
    so a failed resume never leaves a half-loaded model.

    Raises:
        WeightsError: a key missing or unexpected, or a shape that differs (names ``where``).
    """
    ours = model.state_dict()
    missing, unexpected = sorted(set(ours) - set(state)), sorted(set(state) - set(ours))
    if missing or unexpected:
        raise WeightsError(f"{where}: does not match this model ({len(missing)} missing keys {missing[:3]}, "
                           f"{len(unexpected)} unexpected {unexpected[:3]})")
    for key, value in state.items():
        if tuple(getattr(value, "shape", ())) != tuple(ours[key].shape):
            raise WeightsError(f"{where}: {key} has shape {tuple(getattr(value, 'shape', ()))}, the model "
                               f"{tuple(ours[key].shape)}")


def check_optimizer_state(state: Any, optimizer_type: type, groups: list[list[Any]], where: str | os.PathLike) -> None:
    """Check that ``state`` (an optimizer's ``state_dict()``) loads into an ``optimizer_type`` over
    parameter ``groups`` and that its per-parameter tensors (e.g. AdamW's ``exp_avg``) have their
    parameters' shapes, without touching the real optimizer: the check loads into a copy whose
    parameters live on the ``meta`` device (no memory).

    Raises:
        WeightsError: missing, malformed, or for other parameters (names ``where``).
    """
    import torch

    if not isinstance(state, Mapping) or not isinstance(state.get("state"), Mapping) \
            or not isinstance(state.get("param_groups"), list):
        raise WeightsError(f"{where}: optimizer state missing or malformed")
    params = [[torch.nn.Parameter(torch.empty_like(p, device="meta")) for p in group] for group in groups]
    probe = optimizer_type([{"params": g} for g in params])
    try:
        probe.load_state_dict(dict(state))
    except Exception as exc:  # ValueError: groups or sizes differ; KeyError/TypeError: malformed entries
        raise WeightsError(f"{where}: optimizer state does not fit ({describe(exc)})") from None
    for param, values in probe.state.items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor) and value.ndim and value.shape != param.shape:
                raise WeightsError(f"{where}: optimizer state {key} has shape {tuple(value.shape)}, its parameter "
                                   f"{tuple(param.shape)}")


def check_scheduler_state(state: Any, where: str | os.PathLike) -> None:
    """Check that ``state`` looks like an LR scheduler's ``state_dict()`` (``last_epoch``, ``base_lrs``).

    Raises:
        WeightsError: missing or malformed (names ``where``).
    """
    if not (isinstance(state, Mapping) and isinstance(state.get("last_epoch"), int)
            and isinstance(state.get("base_lrs"), list)):
        raise WeightsError(f"{where}: scheduler state missing or malformed")


def set_aside(path: str | os.PathLike, into: str | os.PathLike | None = None) -> Path:
    """Rename an unusable checkpoint folder to ``unusable-<name>`` (in ``into``, default its own
    folder) so no resume picks it again and it stays for inspection; returns the new path."""
    path = Path(path)
    target = Path(into or path.parent) / f"unusable-{path.name}"
    if target.exists():
        target = target.with_name(f"{target.name}-{uuid.uuid4().hex[:6]}")
    os.replace(path, target)
    return target


__all__ = ["Checkpoint", "capture_rng", "check_model_state", "check_optimizer_state", "check_scheduler_state",
           "set_aside", "latest_checkpoint", "list_checkpoints", "load_checkpoint", "restore_rng",
           "save_checkpoint"]
