"""A grid of probes trained side by side on cached features, in one pass (the frozen-probe track).

``G`` probes (a head + the task adapter each; :class:`Probe`) share every batch of cached TRAIN
features (:mod:`echobench.engine.feature_cache`); one AdamW optimizer holds one parameter group per
probe (its own learning rate and weight decay) and one scheduler scales every group by the same
warm-up + cosine factor; the probes' losses are summed, so one backward gives each probe exactly the
gradient of its own loss (their parameters are disjoint). Each probe keeps the epoch of its best VAL
score, as :func:`echobench.engine.loop.fit` does.

Same numbers as the uncached frozen run: the batch order (:class:`~echobench.engine.loop.EpochSampler`),
the flip draws and the dropout seed of every step (:func:`~echobench.engine.loop.step_seed`, reset
before each probe's forward), the optimizer, schedule and initialisation are those of
:func:`~echobench.engine.loop.fit` on a frozen backbone, and a TRAIN clip's flip variant is read from
the cache instead of flipping pixels. So probe ``g`` ends with the VAL score of
``echobench run --freeze-backbone`` with its head, learning rate and weight decay, up to float
summation order (tested).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from echobench.engine.feature_cache import CachedFeatures
from echobench.engine.loop import EpochSampler, TrainSettings, _lr_lambda, step_seed
from echobench.errors import TrainingError


class Probe(nn.Module):
    """Head + task adapter on cached features: ``forward(Features) -> (B,)`` (as :class:`EchoModel`
    without its backbone)."""

    def __init__(self, head: nn.Module, adapter: nn.Linear) -> None:
        super().__init__()
        self.head = head
        self.adapter = adapter

    def forward(self, features) -> torch.Tensor:
        return self.adapter(self.head(features)).squeeze(-1)


@dataclass
class GridFit:
    """What :func:`fit_probes` returns, per probe: VAL score per epoch, best epoch (1-based)."""

    val_score: list[list[float]]
    best_epoch: list[int]
    train_loss: list[list[float]] = field(default_factory=list)

    def best(self, g: int) -> float:
        """Probe ``g``'s VAL score at its best epoch (lower is better)."""
        return self.val_score[g][self.best_epoch[g] - 1]


def clone_probe(model, initial_output: float) -> Probe:
    """A :class:`Probe` with copies of ``model``'s head and adapter (an :class:`EchoModel` as built for
    the run), the adapter started at ``initial_output`` (:func:`echobench.engine.loop.init_output`)."""
    from echobench.engine.loop import init_output

    probe = Probe(copy.deepcopy(model.head), copy.deepcopy(model.adapter))
    init_output(probe, initial_output)
    return probe


def predict_probe(probe: Probe, cached: CachedFeatures, *, batch_size: int, device) -> np.ndarray:
    """Raw outputs ``(M,)`` float64 of every cached clip, in order, in eval mode."""
    probe.eval()
    out = []
    with torch.no_grad():
        for rows in torch.arange(len(cached.video)).split(batch_size):
            out.append(probe(cached.features(rows, device)).float().cpu().numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def per_video(raw: np.ndarray, video: torch.Tensor, n: int) -> np.ndarray:
    """Mean raw output per video ``(n,)`` of clip outputs ``raw (M,)`` whose videos are ``video (M,)``."""
    v = video.numpy()
    sums = np.bincount(v, weights=raw, minlength=n)
    counts = np.bincount(v, minlength=n)
    if (counts == 0).any():
        raise TrainingError(f"{int((counts == 0).sum())} video(s) have no cached clip")
    return sums / counts


def fit_probes(probes: Sequence[Probe], lrs: Sequence[float], weight_decays: Sequence[float],
               train: CachedFeatures, train_rows: np.ndarray, targets: np.ndarray, val: CachedFeatures,
               val_labels: np.ndarray, *, objective, settings: TrainSettings, flips: bool, device="cpu",
               progress: Callable[[str, int], Callable[[int], None]] | None = None,
               stop: Callable[[], bool] | None = None) -> GridFit:
    """Train ``G`` probes side by side; each ends holding its best-VAL weights.

    Args:
        probes: ``G`` probes (moved to ``device`` here).
        lrs, weight_decays: ``(G,)`` each probe's peak AdamW learning rate and weight decay.
        train: cached TRAIN clips, ``FLIP_VARIANTS`` rows per video when ``flips`` else one.
        train_rows: ``(N,)`` the TRAIN videos used (positions in the split: a label-efficiency subset).
        targets: ``(N,)`` their protocol-encoded targets.
        val: cached VAL clips (one per video); ``val_labels (N_val,)`` natural units.
        settings: epochs, batch size, warm-up and seed (lr/weight decay are per probe).
        flips: read each step's flip variant from the cache (the protocol flips in training).

    Raises:
        TrainingError: a probe's VAL score was never finite.
        Interrupted (:class:`echobench.engine.loop.Interrupted`): ``stop()`` turned true.
    """
    from echobench.engine.loop import Interrupted

    per = 4 if flips else 1
    if len(train.video) != per * int(train.video.max()) + per:
        raise TrainingError(f"TRAIN cache holds {len(train.video)} clips, expected {per} per video")
    probes = [p.to(device) for p in probes]
    groups = [{"params": [q for q in p.parameters() if q.requires_grad], "lr": lr, "weight_decay": wd}
              for p, lr, wd in zip(probes, lrs, weight_decays)]
    optimizer = torch.optim.AdamW(groups, lr=lrs[0], weight_decay=weight_decays[0])
    sampler = EpochSampler(len(train_rows), settings.seed, batch_size=settings.batch_size)
    total = settings.epochs * max(1, sampler.steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total, int(settings.warmup_fraction * total)))
    rows = torch.as_tensor(np.asarray(train_rows, dtype=np.int64))
    target = torch.as_tensor(np.asarray(targets, dtype=np.float32))
    fitted = GridFit(val_score=[[] for _ in probes], best_epoch=[0] * len(probes), train_loss=[[] for _ in probes])
    best: list[dict | None] = [None] * len(probes)
    for epoch in range(settings.epochs):
        sampler.seek(epoch)
        for p in probes:
            p.train()
        losses = [[] for _ in probes]
        advance = (progress(f"epoch {epoch + 1}/{settings.epochs} train {len(probes)} probes", sampler.n)
                   if progress else None)
        for step in range(sampler.steps):
            batch = torch.as_tensor(sampler.share(step)[0], dtype=torch.int64)
            seed = step_seed(settings.seed, epoch, step)
            draws = torch.rand((len(batch), 2), generator=torch.Generator().manual_seed(seed))
            variant = ((draws[:, 0] < 0.5).long() + 2 * (draws[:, 1] < 0.5).long()) if flips else 0
            features = train.features(rows[batch] * per + variant, device)
            y = target[batch].to(device)
            loss = 0.0
            for g, probe in enumerate(probes):
                torch.manual_seed(seed)  # the dropout draws fit() gives this step
                term = objective.loss(probe(features), y) * 1.0
                losses[g].append(float(term.detach()))
                loss = loss + term
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if advance:
                advance(len(batch))
            if stop is not None and stop():
                raise Interrupted(f"stopped at epoch {epoch + 1}, step {step + 1} (probes are not resumable; rerun)")
        for g, probe in enumerate(probes):
            fitted.train_loss[g].append(float(np.mean(losses[g])) if losses[g] else math.nan)
            raw = predict_probe(probe, val, batch_size=settings.batch_size, device=device)
            score = objective.val_score(objective.outputs(per_video(raw, val.video, len(val_labels))), val_labels)
            finite = [s for s in fitted.val_score[g] if math.isfinite(s)]
            fitted.val_score[g].append(score)
            if math.isfinite(score) and (not finite or score < min(finite)):
                fitted.best_epoch[g] = epoch + 1
                best[g] = {k: v.detach().cpu().clone() for k, v in probe.state_dict().items()}
    for g, probe in enumerate(probes):
        if best[g] is None:
            raise TrainingError(f"probe {g + 1} of {len(probes)} diverged: {objective.val_score_name} was not "
                                f"finite in any of {settings.epochs} epochs (try a lower --lr)")
        probe.load_state_dict(best[g])
    return fitted
