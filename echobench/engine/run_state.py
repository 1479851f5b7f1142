"""Checkpoints of a fine-tuning run, for ``echobench run --resume`` (DESIGN §8; crash-safe runs).

Built on :mod:`echobench.engine.checkpoint` (atomic folders, safetensors + ``weights_only`` loading):
a run directory holds ``checkpoints/checkpoint-<optimizer step>/`` (only the latest is kept) whose
tensors are the current weights under ``model/`` and the best-VAL-epoch weights so far under
``best/``, and whose JSON metadata holds the :class:`~echobench.engine.loop.FitState` counters,
histories and the fp16 loss-scaler state. A checkpoint that cannot be used (unreadable, incomplete,
malformed, not this model's) is set aside and the run starts afresh (``echobench run --resume``
says so). ``status.json`` (``{"status": "complete"}``) marks a run
whose record is written; its checkpoints are then deleted (``best.safetensors`` stays).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from echobench.atomic import atomic_write_text
from echobench.engine.checkpoint import (MODEL_FILE, STATE_FILE, TRAINING_FILE, check_model_state,
                                         check_optimizer_state, check_scheduler_state, latest_checkpoint,
                                         load_checkpoint, save_checkpoint, set_aside)
from echobench.engine.loop import FitState
from echobench.errors import WeightsError

CHECKPOINTS = "checkpoints"
STATUS = "status.json"
_COUNTERS = ("epoch", "step", "global_step", "epoch_losses", "train_loss", "val_score", "best_epoch")
_LISTS = ("epoch_losses", "train_loss", "val_score")


def save(run_dir: Path, model: torch.nn.Module, state: FitState) -> Path:
    """Write ``state`` and the model's weights as the run's checkpoint (replacing the previous one)."""
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"best/{k}": v for k, v in (state.best_state or {}).items()})
    meta = {**{k: getattr(state, k) for k in _COUNTERS}, "grad_scaler": state.grad_scaler}
    return save_checkpoint(Path(run_dir) / CHECKPOINTS, state.global_step, model=tensors, optimizer=state.optimizer,
                           scheduler=state.scheduler, meta=meta, keep=1)


def latest(run_dir: Path) -> Path | None:
    """The run's latest complete checkpoint folder, or None."""
    return latest_checkpoint(Path(run_dir) / CHECKPOINTS)


def _check_counters(meta: dict, where: Path) -> None:
    """The :class:`FitState` counters in a checkpoint's metadata: present and of the right type."""
    for key in _COUNTERS:
        value = meta.get(key)
        ok = (isinstance(value, list) and all(isinstance(v, (int, float)) for v in value)) if key in _LISTS \
            else (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        if not ok:
            raise WeightsError(f"{where / STATE_FILE}: {key!r} is {'missing' if key not in meta else 'malformed'}")


def load(run_dir: Path, model: torch.nn.Module) -> FitState | None:
    """Restore the latest checkpoint of ``run_dir`` into ``model``; None when there is none yet.

    Everything is checked before the model is touched: the files, the counters in ``state.json``,
    the weights' keys and shapes, and the optimizer (AdamW over the model's trainable parameters, as
    :func:`~echobench.engine.loop.fit` builds it) and scheduler states; so on an unusable checkpoint
    the model is still as built and the caller can start afresh (:func:`set_aside_latest`).

    Raises:
        WeightsError: the checkpoint is unusable: unreadable, unsafe, incomplete or malformed, or it
            does not match the model (one line naming the checkpoint).
    """
    folder = latest(run_dir)
    if folder is None:
        return None
    ckpt = load_checkpoint(folder)
    _check_counters(ckpt.meta, folder)
    current = {k[len("model/"):]: v for k, v in ckpt.model.items() if k.startswith("model/")}
    best = {k[len("best/"):]: v for k, v in ckpt.model.items() if k.startswith("best/")}
    check_model_state(current, model, folder / MODEL_FILE)
    if best:
        check_model_state(best, model, folder / MODEL_FILE)
    check_optimizer_state(ckpt.optimizer, torch.optim.AdamW, [[p for p in model.parameters() if p.requires_grad]],
                          folder / TRAINING_FILE)
    check_scheduler_state(ckpt.scheduler, folder / TRAINING_FILE)
    model.load_state_dict(current)
    return FitState(**{k: ckpt.meta[k] for k in _COUNTERS}, best_state=best or None,
                    optimizer=ckpt.optimizer, scheduler=ckpt.scheduler,
                    grad_scaler=ckpt.meta.get("grad_scaler"))  # absent in checkpoints older than it


def set_aside_latest(run_dir: Path) -> Path:
    """Move the run's latest checkpoint (found unusable) to ``<run_dir>/unusable-checkpoint-<step>``;
    returns where it went."""
    return set_aside(latest(run_dir), Path(run_dir))


def finish(run_dir: Path) -> None:
    """Mark ``run_dir`` complete and drop its checkpoints (``best.safetensors`` stays at the top)."""
    atomic_write_text(Path(run_dir) / STATUS, json.dumps({"status": "complete"}))
    shutil.rmtree(Path(run_dir) / CHECKPOINTS, ignore_errors=True)


def find_run(runs: Path, config_hash: str, *, complete: bool) -> Path | None:
    """The newest run directory under ``runs`` with this config hash that is (or is not yet) complete."""
    candidates = []
    for run_dir in Path(runs).iterdir() if Path(runs).is_dir() else ():
        if not run_dir.is_dir() or (run_dir / STATUS).is_file() != complete:
            continue
        try:
            config = json.loads((run_dir / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if config.get("config_hash") == config_hash:
            candidates.append(run_dir)
    return max(candidates, key=lambda p: p.name) if candidates else None
