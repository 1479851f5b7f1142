"""Training and prediction for the dense task kinds (core code, STYLE rule 2; same schedule, seeds
and devices as :mod:`echobench.engine.loop`).

- ``segmentation``: the head's ``(B, T, S, S)`` logits are read at the clip positions of the traced
  ED and ES frames (:mod:`echobench.data.dense_clips`); loss = binary cross-entropy + soft Dice
  (``1 - 2 sum(p y) / (sum p + sum y)`` per frame, Milletari et al. 2016 V-Net §3) against the traced
  masks resized (nearest) to ``S x S``, averaged over both phases. Train flips (as the protocol says)
  flip clip and masks together. The checkpoint is picked by VAL ``1 - mean Dice`` of the masks
  thresholded at 0.5 at the video's frame size.
- ``frames``: the head's ``(B, T, 2)`` logits are a softmax over the clip's ``T`` frames per phase;
  loss = cross-entropy against the ED and ES positions; the checkpoint is picked by VAL mean
  absolute frame error (source-video frames).

One process only (``world_size == 1``); several processes are refused by the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from echobench.data.transforms import prepare_clips
from echobench.engine.loop import Interrupted, TrainSettings, _lr_lambda, step_seed
from echobench.errors import TrainingError
from echobench.protocols import Protocol


@dataclass
class DenseFit:
    """What :func:`fit_dense` did: per-epoch TRAIN loss and VAL score, the best epoch (1-based)."""

    train_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None


@dataclass
class DensePredictions:
    """One split's predictions, in dataset order.

    ``masks``: ``(N, 2, H, W)`` bool ED/ES masks (segmentation) or None; ``frames``: ``(N, 2)`` int64
    predicted ED/ES source frames (frames) or None; ``frame_indices``: ``(N, T)`` the clips' source
    frames; ``positions``: ``(N, 2)`` the true ED/ES clip positions.
    """

    frame_indices: np.ndarray
    positions: np.ndarray
    masks: np.ndarray | None = None
    frames: np.ndarray | None = None


def val_score_name(kind: str) -> str:
    return "VAL 1 - Dice" if kind == "segmentation" else "VAL frame MAE"


def init_mask_prior(model, train_masks, clip_size: tuple[int, int]) -> bool:
    """Start a segmentation head at the TRAIN mean LV mask, when the head takes a prior
    (``head.set_prior``; the dense analogue of starting a regression head at the TRAIN mean, see
    :func:`echobench.engine.objective.init_output`): the pixel-wise mean of the TRAIN ED and ES masks
    ``(N, 2, H, W)`` bool, resized (bilinear) to ``clip_size``, clipped to [0.02, 0.98] and turned into
    logits. Returns whether the head took it."""
    head = getattr(model, "head", None)
    if not hasattr(head, "set_prior") or len(train_masks) == 0:
        return False
    mean = torch.as_tensor(np.asarray(train_masks, dtype=np.float32).mean(axis=(0, 1)))[None, None]
    mean = F.interpolate(mean, size=tuple(clip_size), mode="bilinear", align_corners=False)[0, 0]
    head.set_prior(torch.logit(mean.clamp(0.02, 0.98)))
    return True


def _phase_logits(output: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``(B, T, S, S)`` logits -> ``(B, 2, S, S)`` at the ED/ES clip positions ``(B, 2)``."""
    return output.gather(1, positions.to(output.device)[:, :, None, None].expand(-1, -1, *output.shape[2:]))


def dense_loss(kind: str, output: torch.Tensor, batch: dict) -> torch.Tensor:
    """Mean loss of one batch (module docstring); ``batch`` as a :class:`DenseClipDataset` gives it
    (``masks`` already flipped like the clip)."""
    positions = batch["positions"].to(output.device)
    if kind == "frames":
        logits = output.float().transpose(1, 2).reshape(-1, output.shape[1])  # (B*2, T)
        return F.cross_entropy(logits, positions.reshape(-1))
    logits = _phase_logits(output.float(), positions)
    target = F.interpolate(batch["masks"].float().to(output.device), size=logits.shape[-2:], mode="nearest")
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dice = (2 * (p * target).sum((-2, -1)) + 1.0) / (p.sum((-2, -1)) + target.sum((-2, -1)) + 1.0)
    return bce + (1 - dice).mean()


def _flip(batch: dict, protocol: Protocol, draws: torch.Tensor) -> None:
    """Flip the masks as :func:`prepare_clips` flips the clip with the same ``draws``."""
    if protocol.train_flips:
        m = batch["masks"]
        h, v = (draws[:, 0] < 0.5).view(-1, 1, 1, 1).to(m.device), (draws[:, 1] < 0.5).view(-1, 1, 1, 1).to(m.device)
        m = torch.where(h, m.flip(-1), m)
        batch["masks"] = torch.where(v, m.flip(-2), m)


def predict_dense(model: torch.nn.Module, loader: DataLoader, protocol: Protocol, kind: str, *,
                  frame_size: tuple[int, int], stats=None, advance: Callable[[int], None] | None = None,
                  device=None) -> DensePredictions:
    """Predictions of every item of ``loader`` (dataset order, no shuffling), in eval mode.

    Segmentation masks are the ED/ES logits resized (bilinear) to ``frame_size`` and thresholded at
    0 (probability 0.5); frames are the argmax over the clip per phase, mapped to source frames.
    """
    model.eval()
    mean, std = stats if stats is not None else (None, None)
    masks, frames, indices, positions = [], [], [], []
    with torch.no_grad():
        for batch in loader:
            clip = batch["clip"].to(device) if device is not None else batch["clip"]
            x = prepare_clips(clip, protocol, train=False, mean=mean, std=std)
            out = model(x, batch["frame_indices"].to(x.device)).float()
            fi = batch["frame_indices"].cpu()
            if kind == "segmentation":
                logits = _phase_logits(out, batch["positions"])
                logits = F.interpolate(logits, size=tuple(frame_size), mode="bilinear", align_corners=False)
                masks.append((logits > 0).cpu().numpy())
            else:
                pos = out.argmax(dim=1).cpu()  # (B, 2) clip positions
                frames.append(fi.gather(1, pos).numpy())
            indices.append(fi.numpy())
            positions.append(batch["positions"].cpu().numpy())
            if advance:
                advance(len(batch["index"]))
    return DensePredictions(frame_indices=np.concatenate(indices), positions=np.concatenate(positions),
                            masks=np.concatenate(masks) if masks else None,
                            frames=np.concatenate(frames).astype(np.int64) if frames else None)


def dense_val_score(kind: str, pred: DensePredictions, truth: Sequence[np.ndarray] | np.ndarray) -> float:
    """Selection score (lower is better): ``1 - mean Dice`` over both phases, or the mean absolute
    frame error; ``truth``: ``(N, 2, H, W)`` masks or ``(N, 2)`` true ED/ES source frames."""
    from echobench.evaluation.segmentation import dice_iou

    if kind == "segmentation":
        dice, _ = dice_iou(pred.masks, np.asarray(truth))
        return float(1.0 - dice.mean())
    return float(np.abs(pred.frames - np.asarray(truth)).mean())


def fit_dense(model: torch.nn.Module, train_loader: DataLoader, val_loader: DataLoader, *, kind: str,
              protocol: Protocol, settings: TrainSettings, val_truth, frame_size: tuple[int, int], stats=None,
              device=None, progress: Callable[[str, int], Callable[[int], None]] | None = None,
              on_epoch: Callable[[DenseFit], None] | None = None, stop: Callable[[], bool] | None = None) -> DenseFit:
    """Train ``model`` on a dense task; keep the weights with the best VAL score (module docstring).

    Batches are shuffled by ``(seed, epoch)`` (the loader's sampler); flips and dropout draws are
    functions of ``(seed, epoch, step)`` (:func:`echobench.engine.loop.step_seed`); AdamW with the
    loop's warm-up + cosine schedule.

    ``on_epoch(fit)`` is called after every epoch (e.g. :meth:`echobench.runlog.RunLog.epochs`);
    ``stop()`` is polled after every step.

    Raises:
        TrainingError: the loss or the VAL score was never finite (diverged).
        Interrupted (:class:`echobench.engine.loop.Interrupted`): ``stop()`` turned true (dense runs
            keep no checkpoint to resume from).
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay)
    steps = max(1, len(train_loader))
    total = settings.epochs * steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total, int(settings.warmup_fraction * total)))
    mean, std = stats if stats is not None else (None, None)
    fitted = DenseFit()
    for epoch in range(settings.epochs):
        train_loader.dataset.epoch = epoch
        if hasattr(train_loader.sampler, "generator") and train_loader.sampler.generator is not None:
            train_loader.sampler.generator.manual_seed(settings.seed * 1000 + epoch)
        model.train()
        advance = (progress(f"epoch {epoch + 1}/{settings.epochs} train", len(train_loader.dataset))
                   if progress else None)
        losses = []
        for step, batch in enumerate(train_loader):
            seed = step_seed(settings.seed, epoch, step)
            torch.manual_seed(seed)
            draws = torch.rand((len(batch["index"]), 2), generator=torch.Generator().manual_seed(seed))
            clip = batch["clip"].to(device) if device is not None else batch["clip"]
            x = prepare_clips(clip, protocol, train=True, mean=mean, std=std, flip_draws=draws)
            _flip(batch, protocol, draws)
            loss = dense_loss(kind, model(x, batch["frame_indices"].to(x.device)), batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            if advance:
                advance(len(batch["index"]))
            if stop is not None and stop():
                raise Interrupted(f"stopped at epoch {epoch + 1}, step {step + 1} (a dense run starts afresh)")
        fitted.train_loss.append(float(np.mean(losses)) if losses else math.nan)
        pred = predict_dense(model, val_loader, protocol, kind, frame_size=frame_size, stats=stats, device=device)
        score = dense_val_score(kind, pred, val_truth) if math.isfinite(fitted.train_loss[-1]) else math.inf
        fitted.val_score.append(score)
        earlier = [s for s in fitted.val_score[:-1] if math.isfinite(s)]
        if math.isfinite(score) and (not earlier or score < min(earlier)):
            fitted.best_epoch = epoch + 1
            fitted.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if on_epoch:
            on_epoch(fitted)
    if fitted.best_state is None:
        raise TrainingError(f"training diverged: {val_score_name(kind)} was not finite in any of "
                            f"{settings.epochs} epochs (try a lower --lr)")
    model.load_state_dict(fitted.best_state)
    return fitted
