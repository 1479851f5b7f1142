"""Checkpoints of a fine-tuning run, for ``echobench run --resume`` (DESIGN §8; issue: crash-safe runs).

Layout inside a run directory::

    checkpoint.json             {"latest": "checkpoint-000012"}   (written atomically, last)
    checkpoint-000012/
        model.safetensors       current weights
        best.safetensors        weights of the best VAL epoch so far (absent before the first VAL)
        optimizer.pt            AdamW + LR-scheduler state (read back with weights_only=True)
        state.json              epoch, step, loss and VAL-score history, best epoch
    status.json                 {"status": "complete"} once the run record is written

A new checkpoint is complete on disk (every file fsynced) before ``checkpoint.json`` points at it,
and older checkpoints are deleted only after that, so a kill at any instant leaves a loadable one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from echobench.atomic import atomic_write_text
from echobench.engine.loop import FitState
from echobench.errors import WeightsError

POINTER = "checkpoint.json"
STATUS = "status.json"


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def save(run_dir: Path, model: torch.nn.Module, state: FitState) -> Path:
    """Write ``state`` and the model's weights as a new checkpoint of ``run_dir``; returns its folder."""
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    name = f"checkpoint-{state.epoch:04d}{state.step:06d}"
    folder = run_dir / name
    tmp = run_dir / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    if state.best_state is not None:
        save_file({k: v.contiguous() for k, v in state.best_state.items()}, str(tmp / "best.safetensors"))
    torch.save({"optimizer": state.optimizer, "scheduler": state.scheduler}, tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({
        "epoch": state.epoch, "step": state.step, "epoch_losses": state.epoch_losses,
        "train_loss": state.train_loss, "val_score": state.val_score, "best_epoch": state.best_epoch}))
    for f in tmp.iterdir():
        _fsync(f)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    atomic_write_text(run_dir / POINTER, json.dumps({"latest": name}))
    for old in run_dir.glob("checkpoint-*"):
        if old.is_dir() and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def latest(run_dir: Path) -> Path | None:
    """The checkpoint folder ``checkpoint.json`` points at, or None."""
    try:
        name = json.loads((Path(run_dir) / POINTER).read_text())["latest"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    folder = Path(run_dir) / str(name)
    return folder if folder.is_dir() else None


def load(run_dir: Path, model: torch.nn.Module) -> FitState | None:
    """Restore the latest checkpoint of ``run_dir`` into ``model``; None when there is none yet.

    Raises:
        WeightsError: the checkpoint does not match the model or cannot be read.
    """
    from safetensors.torch import load_file

    folder = latest(run_dir)
    if folder is None:
        return None
    try:
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        best = load_file(str(folder / "best.safetensors")) if (folder / "best.safetensors").is_file() else None
        opt = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
        info = json.loads((folder / "state.json").read_text())
    except Exception as exc:  # a damaged or foreign checkpoint is a user-facing error, not a traceback
        raise WeightsError(f"{folder}: cannot resume from this checkpoint ({type(exc).__name__}: {exc})") from None
    return FitState(epoch=info["epoch"], step=info["step"], epoch_losses=info["epoch_losses"],
                    train_loss=info["train_loss"], val_score=info["val_score"], best_epoch=info["best_epoch"],
                    best_state=best, optimizer=opt["optimizer"], scheduler=opt["scheduler"])


def finish(run_dir: Path) -> None:
    """Mark ``run_dir`` complete and drop its checkpoints (``best.safetensors`` stays at the top)."""
    atomic_write_text(Path(run_dir) / STATUS, json.dumps({"status": "complete"}))
    for old in Path(run_dir).glob("checkpoint-*"):
        shutil.rmtree(old, ignore_errors=True)
    (Path(run_dir) / POINTER).unlink(missing_ok=True)


def find_unfinished(runs: Path, config_hash: str) -> Path | None:
    """The newest run directory under ``runs`` with this config hash that never completed."""
    candidates = []
    for run_dir in Path(runs).iterdir() if Path(runs).is_dir() else ():
        if not run_dir.is_dir() or (run_dir / STATUS).is_file():
            continue
        try:
            config = json.loads((run_dir / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if config.get("config_hash") == config_hash:
            candidates.append(run_dir)
    return max(candidates, key=lambda p: p.name) if candidates else None
