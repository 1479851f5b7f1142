"""The one training/evaluation loop every model runs under (core code, STYLE rule 2).

:func:`fit` fine-tunes on TRAIN with AdamW (linear warm-up, cosine decay) and an MSE loss on the
protocol-encoded target, evaluates VAL after every epoch and keeps the weights with the lowest VAL
MAE (natural units); :func:`predict` returns one prediction per video. Devices and precision come
from the Fabric passed in (see :mod:`echobench.engine.devices`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from echobench.data.transforms import prepare_clips
from echobench.errors import TrainingError
from echobench.metrics import regression_metrics
from echobench.protocols import Protocol


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings (part of the run's config hash)."""

    epochs: int = 8
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    seed: int = 0


@dataclass
class FitResult:
    """What :func:`fit` saw: per-epoch train loss and VAL MAE, and the selected epoch (1-based)."""

    train_loss: list[float] = field(default_factory=list)
    val_mae: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None


def _lr_lambda(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def fn(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return fn


def predict(fabric, model: torch.nn.Module, loader: DataLoader, protocol: Protocol, *,
            stats: tuple[Sequence[float], Sequence[float]] | None = None,
            advance: Callable[[int], None] | None = None) -> np.ndarray:
    """Model outputs (protocol-encoded target space) for every item of ``loader``, in dataset order.

    Returns ``(N,)`` float64.
    """
    model.eval()
    n = len(loader.dataset)
    out = np.full(n, np.nan)
    mean, std = stats if stats is not None else (None, None)
    with torch.no_grad():
        for batch in loader:
            x = prepare_clips(batch["clip"], protocol, train=False, mean=mean, std=std)
            y = model(x, batch["frame_indices"])
            out[batch["index"].cpu().numpy()] = y.float().cpu().numpy()
            if advance:
                advance(len(batch["index"]))
    return out


def fit(fabric, model: torch.nn.Module, train_loader: DataLoader, val_loader: DataLoader, *,
        protocol: Protocol, settings: TrainSettings, val_true: np.ndarray, units: str,
        stats: tuple[Sequence[float], Sequence[float]] | None = None,
        progress: Callable[[str, int], Callable[[int], None]] | None = None) -> FitResult:
    """Fine-tune ``model`` (already set up with Fabric) and select the epoch by VAL MAE.

    Args:
        val_true: ``(N_val,)`` VAL labels in natural units (for checkpoint selection).
        units: task units (``"%"`` or ``"mL"``) for decoding predictions.
        progress: ``progress(description, total) -> advance`` factory for progress bars.

    Returns:
        :class:`FitResult` with ``best_state`` (a CPU copy of the selected weights).
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay)
    optimizer = fabric.setup_optimizers(optimizer)
    total = settings.epochs * max(1, len(train_loader))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total, int(settings.warmup_fraction * total)))
    generator = torch.Generator().manual_seed(settings.seed)
    mean, std = stats if stats is not None else (None, None)
    result = FitResult()
    best = math.inf
    for epoch in range(settings.epochs):
        if hasattr(train_loader.dataset, "epoch"):
            train_loader.dataset.epoch = epoch
        model.train()
        losses: list[float] = []
        advance = progress(f"epoch {epoch + 1}/{settings.epochs} train", len(train_loader.dataset)) if progress else None
        for batch in train_loader:
            x = prepare_clips(batch["clip"], protocol, train=True, mean=mean, std=std, generator=generator)
            y = model(x, batch["frame_indices"])
            loss = torch.nn.functional.mse_loss(y.float(), batch["target"].float())
            optimizer.zero_grad(set_to_none=True)
            fabric.backward(loss)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            if advance:
                advance(len(batch["index"]))
        result.train_loss.append(float(np.mean(losses)) if losses else math.nan)
        advance = progress(f"epoch {epoch + 1}/{settings.epochs} VAL", len(val_loader.dataset)) if progress else None
        val_pred = protocol.decode_target(predict(fabric, model, val_loader, protocol, stats=stats, advance=advance), units)
        mae = regression_metrics(val_pred, val_true)["MAE"]
        result.val_mae.append(mae)
        if math.isfinite(mae) and mae < best:
            best = mae
            result.best_epoch = epoch + 1
            result.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if result.best_state is None:
        raise TrainingError(f"training diverged: VAL MAE was not finite in any of {settings.epochs} epochs "
                            f"(try a lower --lr)")
    model.load_state_dict(result.best_state)
    return result


def init_output(model: torch.nn.Module, value: float) -> None:
    """Start the regression output at the TRAIN mean target: zero adapter weights, bias = ``value``
    (EchoNet-Dynamic sets ``fc.bias = 55.6``; VideoMAE scales its head init down to 0.001), so the
    first steps do not start from a large random offset."""
    with torch.no_grad():
        model.adapter.weight.zero_()
        model.adapter.bias.fill_(float(value))
