"""The one training/evaluation loop every model runs under (core code, STYLE rule 2).

:func:`fit` fine-tunes on TRAIN with AdamW (linear warm-up, cosine decay) and the task's
:class:`~echobench.engine.objective.Objective` loss, scores VAL after every epoch and keeps the
weights with the best VAL score (MAE in natural units, or BCE for binary tasks).
:func:`predict` returns one output per video (one clip); :func:`predict_all_clips` averages over
every clip start of a video (EchoNet-Dynamic's test-time augmentation). Devices and precision
come from the Fabric passed in (see :mod:`echobench.engine.devices`).

Resumable by construction: the batch order of an epoch, the flips and every other random draw of
a step are functions of ``(seed, epoch, step)`` alone (:class:`EpochSampler`, :func:`step_seed`),
so a run restored from a :class:`FitState` at any step continues exactly as an uninterrupted run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from echobench import defaults
from echobench.data.clips import take_frames
from echobench.data.transforms import prepare_clips
from echobench.errors import TrainingError
from echobench.progress import ProgressFactory
from echobench.protocols import Protocol


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings (part of the run's config hash)."""

    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    lr: float = defaults.LR
    weight_decay: float = defaults.WEIGHT_DECAY
    warmup_fraction: float = defaults.WARMUP_FRACTION
    seed: int = 0


@dataclass
class FitState:
    """Everything :func:`fit` needs to continue: progress, history, and the best weights so far.

    ``epoch``/``step``: the next batch to run is batch ``step`` of epoch ``epoch`` (0-based).
    """

    epoch: int = 0
    step: int = 0
    global_step: int = 0  # optimizer steps done in all
    epoch_losses: list[float] = field(default_factory=list)  # losses of the current, unfinished epoch
    train_loss: list[float] = field(default_factory=list)  # per finished epoch
    val_score: list[float] = field(default_factory=list)  # per finished epoch (lower is better)
    best_epoch: int = 0  # 1-based; 0 = none yet
    best_state: dict[str, torch.Tensor] | None = None
    optimizer: dict | None = None
    scheduler: dict | None = None
    grad_scaler: dict | None = None  # fp16 ("16-mixed") loss-scaler state; None without one


class Interrupted(Exception):
    """Raised by :func:`fit` when ``stop()`` turned true; the state was handed to ``save`` first."""


def _lr_lambda(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def fn(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return fn


def step_seed(seed: int, epoch: int, step: int) -> int:
    """A 63-bit seed that depends only on ``(seed, epoch, step)`` (numpy ``SeedSequence``)."""
    return int(np.random.SeedSequence((seed, epoch, step)).generate_state(2, np.uint64)[0] >> np.uint64(1))


class EpochSampler(Sampler[list[int]]):
    """Batch sampler: global batches of shuffled indices whose order depends only on ``(seed, epoch)``,
    each cut into per-process shares; can start at any step of an epoch.

    Global batch ``k`` of an epoch is ``order[k*B:(k+1)*B]`` (``B = batch_size``, the GLOBAL batch). With
    ``world_size`` W it is cut into W contiguous shares of ``c = ceil(len / W)`` indices; this ``rank``'s
    share is padded to ``c`` with the batch's first index (DDP needs the same work on every rank), and
    :meth:`share` says how many of its items are real, so :func:`fit` weights the loss to the global
    batch mean (W processes then take the steps of one process with the same global batch, up to float
    summation order). One process (W = 1) gives the plain shuffled batches.

    Call :meth:`seek` before iterating. (Deliberately not named ``set_epoch``: Lightning Fabric's data
    loader calls ``set_epoch(number of iterations so far)`` on samplers that have one, which would undo a
    resumed position.)
    """

    def __init__(self, n: int, seed: int, *, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"batch_size {batch_size}, rank {rank}, world_size {world_size}")
        self.n, self.seed, self.batch_size, self.rank, self.world_size = n, seed, batch_size, rank, world_size
        self.epoch, self.step = 0, 0
        self._order = self.order()

    def seek(self, epoch: int, step: int = 0) -> None:
        """Continue at batch ``step`` (0-based) of ``epoch``."""
        self.epoch, self.step = epoch, step
        self._order = self.order()

    def order(self) -> np.ndarray:
        return np.random.default_rng((self.seed, self.epoch)).permutation(self.n)

    @property
    def steps(self) -> int:
        """Global batches per epoch."""
        return math.ceil(self.n / self.batch_size)

    def share(self, step: int) -> tuple[list[int], int, int, int]:
        """This rank's indices of batch ``step`` of the current epoch, padded to the share length:
        ``(indices, real, offset, global_size)``: the first ``real`` are this rank's items, which are
        positions ``offset .. offset + real - 1`` of the global batch of ``global_size`` items."""
        batch = self._order[step * self.batch_size:(step + 1) * self.batch_size].tolist()
        c = math.ceil(len(batch) / self.world_size)
        mine = batch[self.rank * c:(self.rank + 1) * c]
        return mine + [batch[0]] * (c - len(mine)), len(mine), min(self.rank * c, len(batch)), len(batch)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.step, self.steps):
            yield self.share(step)[0]

    def __len__(self) -> int:
        return max(0, self.steps - self.step)


def one_per_video(indices: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Predictions gathered from every process, one per video: ``(n,)`` float64 in dataset order.

    ``indices (M,)`` are dataset positions and ``values (M,)`` their outputs, from all ranks; a
    ``DistributedSampler`` pads the last ranks with repeated videos, and index ``-1`` marks gather
    padding: both are dropped by index (the first prediction of a video is kept). The Echo-Vision-FM
    code's evaluation counted 1,344 VAL predictions for 1,288 videos (issue 15): here the count is checked.

    Raises:
        TrainingError: a video has no prediction, or an index is out of range.
    """
    indices, values = np.asarray(indices, dtype=np.int64), np.asarray(values, dtype=np.float64)
    keep = indices >= 0
    unique, first = np.unique(indices[keep], return_index=True)
    if len(unique) != n or (n and (unique[0] != 0 or unique[-1] != n - 1)):
        raise TrainingError(f"evaluation gathered predictions for {len(unique)} distinct videos of {n} "
                            f"({int(keep.sum())} predictions in all)")
    out = np.empty(n)
    out[unique] = values[keep][first]
    return out


def _gather(fabric, n: int, indices: list[int], values: list[float]) -> np.ndarray:
    """:func:`one_per_video` over every process (local lists padded to the longest with index -1)."""
    if fabric.world_size == 1:
        return one_per_video(np.array(indices, dtype=np.int64), np.array(values), n)
    longest = int(fabric.all_reduce(torch.tensor(len(indices), device=fabric.device), reduce_op="max"))
    pad = longest - len(indices)
    local = torch.tensor([indices + [-1] * pad, [float(v) for v in values] + [math.nan] * pad],
                         dtype=torch.float64, device=fabric.device)
    gathered = fabric.all_gather(local).reshape(fabric.world_size, 2, longest).cpu().numpy()
    return one_per_video(gathered[:, 0].reshape(-1).astype(np.int64), gathered[:, 1].reshape(-1), n)


def eval_sampler(dataset, fabric) -> Sampler[int] | None:
    """The VAL/TEST sampler: None (dataset order) in one process, else a ``DistributedSampler`` without
    shuffling (it pads with repeated videos; :func:`predict` drops them by index)."""
    if fabric.world_size == 1:
        return None
    from torch.utils.data import DistributedSampler

    return DistributedSampler(dataset, num_replicas=fabric.world_size, rank=fabric.global_rank, shuffle=False,
                              drop_last=False)


def predict(fabric, model: torch.nn.Module, loader: DataLoader, protocol: Protocol, *,
            stats: tuple[Sequence[float], Sequence[float]] | None = None,
            advance: Callable[[int], None] | None = None) -> np.ndarray:
    """Raw model outputs (protocol-encoded target space, or logits) for every item of ``loader``,
    in dataset order, exactly one per video. Returns ``(N,)`` float64.

    Under DDP each process predicts its share (``loader`` with :func:`eval_sampler`) and the outputs of
    every process are gathered (:func:`one_per_video`; every rank returns the same array).

    Raises:
        TrainingError: the gathered predictions do not cover every video exactly once.
    """
    model.eval()
    indices: list[int] = []
    values: list[float] = []
    mean, std = stats if stats is not None else (None, None)
    with torch.no_grad():
        for batch in loader:
            x = prepare_clips(batch["clip"], protocol, train=False, mean=mean, std=std)
            y = model(x, batch["frame_indices"])
            indices += batch["index"].cpu().tolist()
            values += y.float().cpu().tolist()
            if advance:
                advance(len(batch["index"]))
    return _gather(fabric, len(loader.dataset), indices, values)


def predict_all_clips(fabric, model: torch.nn.Module, videos: Sequence[Callable[[], np.ndarray]],
                      protocol: Protocol, *, batch_size: int,
                      stats: tuple[Sequence[float], Sequence[float]] | None = None,
                      advance: Callable[[int], None] | None = None) -> np.ndarray:
    """Mean raw output over every clip start of each video (EchoNet-Dynamic ``clips="all"``).

    Args:
        videos: one loader per video returning ``(N, H, W, C)`` uint8 frames.
        batch_size: clips per forward pass.

    Returns ``(V,)`` float64. Source: EchoNet-Dynamic ``echonet/utils/video.py`` ``run_epoch``
    with ``block_size`` batching; starts ``0 .. n - (T-1)*period - 1`` (``Protocol.num_starts``).
    Under DDP process ``r`` of ``W`` averages videos ``r, r + W, ...`` and the results are gathered.
    """
    model.eval()
    mine = list(range(fabric.global_rank, len(videos), fabric.world_size))
    out: list[float] = []
    for v in mine:
        video = videos[v]()
        starts = range(protocol.num_starts(len(video)))
        clips = predict_clips(fabric, model, video, [protocol.frame_indices(len(video), start=s) for s in starts],
                              protocol, batch_size=batch_size, stats=stats)
        out.append(float(clips.sum()) / len(clips))
        if advance:
            advance(1)
    return _gather(fabric, len(videos), mine, out)


def _stopping(fabric, stop: Callable[[], bool] | None) -> bool:
    """``stop()``, agreed by every process (true on any one stops them all at the same step)."""
    if stop is None:
        return False
    if fabric.world_size == 1:
        return bool(stop())
    return bool(fabric.all_reduce(torch.tensor(float(stop()), device=fabric.device), reduce_op="max") > 0)


def predict_clips(fabric, model: torch.nn.Module, video: np.ndarray, indices: Sequence[np.ndarray],
                  protocol: Protocol, *, batch_size: int,
                  stats: tuple[Sequence[float], Sequence[float]] | None = None) -> np.ndarray:
    """Raw model outputs ``(K,)`` float64 of the clips ``indices`` (``K`` arrays of ``(T,)`` source-frame
    indices; >= ``len(video)`` is a zero padding frame) of one ``video (N, H, W, C)`` uint8, in eval mode,
    ``batch_size`` clips per forward pass (all-clips averaging, beat clips)."""
    model.eval()
    mean, std = stats if stats is not None else (None, None)
    out = []
    with torch.no_grad():
        for chunk in np.array_split(np.arange(len(indices)), max(1, math.ceil(len(indices) / batch_size))):
            ind = np.stack([indices[i] for i in chunk])
            clips = np.stack([take_frames(video, i) for i in ind])  # grey: one channel, made three on the device
            x = prepare_clips(fabric.to_device(torch.from_numpy(clips)), protocol, train=False, mean=mean, std=std)
            out.append(model(x, fabric.to_device(torch.from_numpy(ind))).float().cpu().numpy().astype(np.float64))
    return np.concatenate(out)


def fit(fabric, model: torch.nn.Module, train_loader: DataLoader, val_loader: DataLoader, *,
        protocol: Protocol, settings: TrainSettings, objective, val_labels: np.ndarray,
        stats: tuple[Sequence[float], Sequence[float]] | None = None,
        progress: ProgressFactory | None = None,
        state: FitState | None = None, save: Callable[[FitState], None] | None = None,
        stop: Callable[[], bool] | None = None) -> FitState:
    """Fine-tune ``model`` (already set up with Fabric) and select the epoch by the VAL score.

    Args:
        train_loader: must use an :class:`EpochSampler` as its ``batch_sampler`` (so epochs are
            reproducible and resumable, and DDP shares add up to the global batch).
        objective: the task's :class:`~echobench.engine.objective.Objective` (loss, outputs, VAL score).
        val_labels: ``(N_val,)`` VAL labels in natural units.
        progress: ``progress(description, total) -> advance`` factory for progress bars.
        state: resume from this state (model weights must already be restored by the caller).
        save: called with the current state after every epoch and before an interruption.
        stop: polled after every step; when true, the state is saved and :class:`Interrupted` raised.

    Returns:
        The final :class:`FitState`; the model holds ``best_state``.

    Raises:
        TrainingError: the VAL score was never finite (diverged).
        Interrupted: ``stop()`` returned true.
    """
    sampler = getattr(train_loader, "batch_sampler", None)
    if not isinstance(sampler, EpochSampler):
        raise TypeError("fit() needs a train loader with an EpochSampler as its batch_sampler")
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay)
    optimizer = fabric.setup_optimizers(optimizer)
    steps_per_epoch = max(1, sampler.steps)
    total = settings.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total, int(settings.warmup_fraction * total)))
    state = state or FitState()
    scaler = getattr(fabric.strategy.precision, "scaler", None)  # fp16 mixed precision only
    if state.optimizer is not None:
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        if scaler is not None and state.grad_scaler:
            scaler.load_state_dict(state.grad_scaler)
    mean, std = stats if stats is not None else (None, None)

    def snapshot() -> FitState:
        state.optimizer, state.scheduler = optimizer.state_dict(), scheduler.state_dict()
        state.grad_scaler = scaler.state_dict() if scaler is not None else None
        return state

    while state.epoch < settings.epochs:
        epoch = state.epoch
        if hasattr(train_loader.dataset, "epoch"):
            train_loader.dataset.epoch = epoch
        sampler.seek(epoch, state.step)
        model.train()
        advance = progress(f"epoch {epoch + 1}/{settings.epochs} train", sampler.n) if progress else None
        if advance and state.step:
            advance(min(sampler.n, state.step * settings.batch_size))
        for batch in train_loader:
            _, real, offset, size = sampler.share(state.step)
            seed = step_seed(settings.seed, epoch, state.step)
            torch.manual_seed(seed)  # dropout / drop-path draws of this step
            draws = torch.rand((size, 2), generator=torch.Generator().manual_seed(seed))  # the global batch's flips
            pad = len(batch["index"]) - real
            draws = torch.cat([draws[offset:offset + real], torch.ones(pad, 2)])  # padding: not flipped
            x = prepare_clips(batch["clip"], protocol, train=True, mean=mean, std=std, flip_draws=draws)
            output = model(x, batch["frame_indices"])
            if real:  # weighted so that DDP's gradient average is the gradient of the global batch mean
                loss = objective.loss(output[:real], batch["target"][:real]) * (real * fabric.world_size / size)
            else:  # a share of padding only (a last batch smaller than the processes)
                loss = output.sum() * 0.0
            optimizer.zero_grad(set_to_none=True)
            fabric.backward(loss)
            optimizer.step()
            scheduler.step()
            mean_loss = fabric.all_reduce(loss.detach(), reduce_op="mean") if fabric.world_size > 1 else loss.detach()
            state.epoch_losses.append(float(mean_loss))
            state.step += 1
            state.global_step += 1
            if advance:
                advance(size)
            if _stopping(fabric, stop):
                if save:
                    save(snapshot())
                raise Interrupted(f"stopped at epoch {epoch + 1}, step {state.step}")
        state.train_loss.append(float(np.mean(state.epoch_losses)) if state.epoch_losses else math.nan)
        advance = progress(f"epoch {epoch + 1}/{settings.epochs} VAL", len(val_loader.dataset)) if progress else None
        raw = predict(fabric, model, val_loader, protocol, stats=stats, advance=advance)
        score = objective.val_score(objective.outputs(raw), val_labels)
        state.val_score.append(score)
        finite = [s for s in state.val_score[:-1] if math.isfinite(s)]
        if math.isfinite(score) and (not finite or score < min(finite)):
            state.best_epoch = epoch + 1
            state.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        state.epoch, state.step, state.epoch_losses = epoch + 1, 0, []
        if save:
            save(snapshot())
        if _stopping(fabric, stop):
            raise Interrupted(f"stopped after epoch {epoch + 1}")
    if state.best_state is None:
        raise TrainingError(f"training diverged: {objective.val_score_name} was not finite in any of "
                            f"{settings.epochs} epochs (try a lower --lr)")
    model.load_state_dict(state.best_state)
    return snapshot()


def init_output(model: torch.nn.Module, value: float) -> None:
    """Start the output at ``value`` (the TRAIN mean target, or the logit of the TRAIN prevalence):
    zero adapter weights, bias = ``value`` (EchoNet-Dynamic sets ``fc.bias = 55.6``; VideoMAE
    scales its head init down to 0.001), so the first steps do not start from a large offset."""
    with torch.no_grad():
        model.adapter.weight.zero_()
        model.adapter.bias.fill_(float(value))
