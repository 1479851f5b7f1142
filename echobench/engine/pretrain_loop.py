"""The one self-supervised pre-training loop (core code: a pretrainer plugin says *what* is trained).

:func:`pretrain` drives any :class:`Pretrainer` through Lightning Fabric: AdamW (betas 0.9/0.95,
weight decay 0.05 except biases/norms, as VideoMAE) with linear warm-up and cosine decay (the
fine-tuning loop's schedule, :func:`echobench.engine.loop._lr_lambda`), one optimizer step per global
batch, atomic checkpoints (:mod:`echobench.engine.checkpoint`) with the encoder and a reconstruction
picture, and ``resume``.

Determinism: data order, clip starts, flips and masks are functions of ``(seed, stream position)``
(:mod:`echobench.data.pretrain_clips`), dropout of ``(seed, step, rank)``; so a run resumed from a
checkpoint reaches the weights of an uninterrupted one, and ``W`` processes with global batch ``B``
take the same steps as one process with ``B`` (up to float summation order).

Devices: ``gpus=N`` (and ``nodes``) is DDP with bf16 mixed precision on CUDA (``precision``
overrides); no GPU is one process in float32; ``cpu_processes=N`` runs N CPU processes with gloo
(tests, or CPU clusters). Multi-process runs relaunch the current command (Fabric's launcher), so
start them from the ``echobench`` command or a script, not from an interactive session.

Outputs in ``out``: ``checkpoint-<step>/`` (latest ``keep``), ``encoder.safetensors``,
``reconstruction-<step>.png``, ``log.jsonl`` (one line per step: step, loss, lr, seconds) and
``pretrain.json`` (config, environment, counts of skipped and short clips).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from echobench import defaults
from echobench.contract.interfaces import Pretrainer  # noqa: F401  (re-exported: the contract)
from echobench.engine.loop import Interrupted
from echobench.errors import ConfigError, EchobenchError, PluginError, TrainingError, WeightsError, describe

from echobench.progress import ProgressFactory  # the one progress type (was defined here)


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that defines a pre-training run.

    ``batch_size`` is the GLOBAL batch (split over processes); ``steps`` or ``epochs`` (at most one;
    default one epoch) sets the length; ``options`` go to the pretrainer factory (e.g. ``preset``,
    ``mask_ratio``, ``masking``, ``size``, ``init``).
    """

    method: str
    data: Path
    out: Path
    options: dict[str, Any] = field(default_factory=dict)
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = defaults.PRETRAIN_BATCH_SIZE
    lr: float = defaults.PRETRAIN_LR
    weight_decay: float = defaults.PRETRAIN_WEIGHT_DECAY
    warmup_fraction: float = defaults.PRETRAIN_WARMUP_FRACTION
    seed: int = 0
    gpus: int | None = None
    nodes: int = 1
    cpu_processes: int = 1
    precision: str | None = None
    resume: bool = False
    save_every: int = 1000
    keep: int = 2
    num_workers: int | None = None


@dataclass
class PretrainResult:
    """What :func:`pretrain` did (on rank 0): steps run, last loss, and where things are."""

    out: Path
    start_step: int
    steps: int
    losses: list[float]
    checkpoint: Path | None
    encoder: Path | None
    pictures: list[Path]
    skipped: dict[str, int]
    world_size: int
    device: str
    precision: str
    is_main: bool = True  # rank 0 (prints and writes)


def _make_fabric(cfg: PretrainConfig):
    from echobench.engine.devices import make_fabric

    return make_fabric(gpus=cfg.gpus, precision=cfg.precision, num_nodes=cfg.nodes, cpu_processes=cfg.cpu_processes)


def _resolve_trainer(cfg: PretrainConfig, registry) -> tuple[Any, Any]:
    spec = registry.get("pretrainer", cfg.method)
    factory = spec.load()
    options = {**spec.defaults, **cfg.options}
    try:
        return spec, factory(**options)
    except EchobenchError:
        raise
    except Exception as exc:
        raise PluginError(f"pretrainer {cfg.method!r} failed to build with {options}: {describe(exc)}") from exc


def _check_out(cfg: PretrainConfig) -> None:
    from echobench.engine.checkpoint import list_checkpoints

    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: --out exists and is not a folder")
    if not cfg.resume and list_checkpoints(out):
        raise ConfigError(f"{out}: already holds checkpoints; pass --resume to continue, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise ConfigError(f"{out}: output folder is not writable")


def _identity(cfg: PretrainConfig, trainer: Pretrainer, videos, total: int, warmup: int) -> dict[str, Any]:
    """What must not change between a run and its resumption."""
    from echobench.provenance import stable_hash

    names = [str(p.relative_to(videos.root)) for p in videos.paths]
    return {"pretrainer": trainer.config(), "batch_size": cfg.batch_size, "lr": cfg.lr,
            "weight_decay": cfg.weight_decay, "warmup_steps": warmup, "total_steps": total, "seed": cfg.seed,
            "videos": len(names), "videos_hash": stable_hash(names)}


def _gather_union(fabric, items: set) -> set:
    if fabric.world_size == 1:
        return set(items)
    import torch.distributed as dist

    gathered: list = [None] * fabric.world_size
    dist.all_gather_object(gathered, sorted(items))
    return set().union(*map(set, gathered))


def _trim_log(path: Path, last_step: int) -> None:
    """Keep the log lines of steps ``<= last_step`` (a resumed run rewrites what follows)."""
    from echobench.atomic import atomic_write_text

    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", math.inf) <= last_step:
                kept.append(line)
        except ValueError:  # a line cut by a kill
            continue
    atomic_write_text(path, "".join(k + "\n" for k in kept))


def _resume_point(out: Path, identity: dict[str, Any], log: Callable[[str], None]):
    """The latest checkpoint in ``out`` (None when there is none), checked against ``identity``.

    Raises:
        WeightsError: the checkpoint is unusable (unreadable, unsafe, no identity in its metadata).
        ConfigError: it was written with other settings.
    """
    from echobench.engine.checkpoint import STATE_FILE, latest_checkpoint, load_checkpoint

    path = latest_checkpoint(out)
    if path is None:
        log(f"{out}: no checkpoint to resume from; starting at step 0")
        return None
    checkpoint = load_checkpoint(path)
    before = checkpoint.meta.get("identity")
    if not isinstance(before, dict) or not before:
        raise WeightsError(f"{path / STATE_FILE}: 'identity' is missing or malformed")
    changed = sorted(k for k in set(before) | set(identity) if before.get(k) != identity.get(k))
    if changed:
        raise ConfigError(f"{path}: cannot resume with different settings ({', '.join(changed)}); "
                          f"use the original options or another --out")
    return checkpoint


def _check_resumable(checkpoint, model, optimizer) -> None:
    """Check a checkpoint's weights, optimizer and scheduler states against the freshly built
    ``model`` and ``optimizer`` before either is touched.

    Raises:
        WeightsError: they do not fit (names the file).
    """
    from echobench.engine.checkpoint import (MODEL_FILE, TRAINING_FILE, check_model_state, check_optimizer_state,
                                             check_scheduler_state)

    check_model_state(checkpoint.model, model, checkpoint.path / MODEL_FILE)
    check_optimizer_state(checkpoint.optimizer, type(optimizer), [g["params"] for g in optimizer.param_groups],
                          checkpoint.path / TRAINING_FILE)
    check_scheduler_state(checkpoint.scheduler, checkpoint.path / TRAINING_FILE)
    if not isinstance(checkpoint.step, int) or checkpoint.step < 0:
        raise WeightsError(f"{checkpoint.path}: step {checkpoint.step!r} is not a step count")


def _optimizer(trainer: Pretrainer, model, cfg: PretrainConfig):
    """AdamW, betas (0.9, 0.95), weight decay except where ``trainer.no_weight_decay`` (MCG-NJU
    ``run_mae_pretraining.py`` / ``optim_factory``)."""
    import torch

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if trainer.no_weight_decay(name, param) else decay).append(param)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95),
                             foreach=True)


def _save_outputs(out: Path, step: int, trainer: Pretrainer, model, optimizer, scheduler, *, picture: tuple,
                  meta: dict[str, Any], keep: int) -> tuple[Path, Path]:
    """Checkpoint, ``encoder.safetensors`` and the reconstruction PNG of ``step`` (rank 0 only).
    ``picture = (clip (1, 3, T, S, S), sample seeds, batch seed)``."""
    from echobench.atomic import atomic_save_safetensors, kept_error
    from echobench.engine.checkpoint import capture_rng, save_checkpoint
    from echobench.engine.pretrain_plot import save_reconstruction_png
    from echobench.errors import WriteError

    pictures = trainer.pictures(model, *picture)
    checkpoint = save_checkpoint(out, step, model=model.state_dict(), optimizer=optimizer.state_dict(),
                                 scheduler=scheduler.state_dict(), rng=capture_rng(), meta=meta, keep=keep)
    encoder = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in trainer.encoder_state(model).items()}
    try:
        atomic_save_safetensors(encoder, out / "encoder.safetensors",
                                {"format": "pt", "backbone": trainer.backbone, "step": str(step),
                                 "pretrainer": json.dumps(trainer.config())})
        png = save_reconstruction_png(out / f"reconstruction-{step:08d}.png", pictures,
                                      title=f"{trainer.name} step {step}, loss {meta.get('loss', float('nan')):.4f}")
    except WriteError as exc:
        raise kept_error(exc, f"the checkpoint of this step is kept: {checkpoint} (continue from it with "
                              f"--resume)") from exc
    return checkpoint, png


def _write_record(out: Path, cfg: PretrainConfig, result: PretrainResult, **fields: Any) -> None:
    """``pretrain.json``: config, what must not change on resume, counts, environment (STYLE rule 6)."""
    from echobench.atomic import atomic_write_text
    from echobench.provenance import environment, git_sha

    record = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}, **fields,
              "steps": result.steps, "resumed_from": result.start_step, "counts": result.skipped,
              "environment": {**environment(), "git_sha": git_sha(), "device": result.device,
                              "precision": result.precision, "world_size": result.world_size}}
    atomic_write_text(out / "pretrain.json", json.dumps(record, indent=2, default=str) + "\n")


def pretrain(cfg: PretrainConfig, *, progress: ProgressFactory | None = None,
             log: Callable[[str], None] | None = None, registry=None,
             stop: Callable[[], bool] | None = None) -> PretrainResult:
    """Run (or resume) self-supervised pre-training; see the module docstring.

    ``stop`` is polled after every step (SIGINT/SIGTERM in the CLI): when it turns true on any
    process, a checkpoint is written and :class:`~echobench.engine.loop.Interrupted` is raised.

    Raises:
        UnknownNameError: unknown pretrainer. ConfigError: bad options or devices (e.g. more GPUs than
        present), a resumed run whose settings differ, or ``--out`` already holding checkpoints
        without ``resume``. DataError: no usable clip. TrainingError: the loss is not finite.
        Interrupted: ``stop()`` turned true. With ``resume``, an unusable latest checkpoint (unreadable,
        unsafe, incomplete or malformed, or not this model's) is not an error: it is moved to
        ``unusable-checkpoint-<step>`` with a note, and the one before it is tried (none left: pre-training
        starts afresh at step 0).
    """
    import torch
    from torch.utils.data import DataLoader

    from echobench.data.pretrain_clips import StepBatches, collate_clips, derive_seed, steps_for_epochs
    from echobench.data.shards import pretrain_data
    from echobench.data.transforms import prepare_clips
    from echobench.engine.checkpoint import restore_rng
    from echobench.engine.devices import loader_options
    from echobench.engine.loop import _lr_lambda
    from echobench.engine.seeding import seed_everything
    from echobench.protocols import Protocol
    from echobench.provenance import device_name
    from echobench.registry import get_registry

    log = log or (lambda _msg: None)
    registry = registry or get_registry()
    if cfg.steps is not None and cfg.epochs is not None:
        raise ConfigError("give --steps or --epochs, not both")
    if (cfg.steps is not None and cfg.steps < 1) or (cfg.epochs is not None and cfg.epochs <= 0):
        raise ConfigError("--steps and --epochs must be positive")
    if cfg.batch_size < 1 or cfg.save_every < 1 or cfg.keep < 1:
        raise ConfigError("--batch-size, --save-every and --keep must be >= 1")
    spec, trainer = _resolve_trainer(cfg, registry)
    fabric = _make_fabric(cfg)
    world = max(1, cfg.cpu_processes if cfg.cpu_processes > 1 else (cfg.gpus or 1)) * cfg.nodes
    if cfg.batch_size % world:
        raise ConfigError(f"--batch-size {cfg.batch_size} is the global batch and must be divisible by the "
                          f"{world} processes")
    videos, make_dataset = pretrain_data(cfg.data)  # a shard store (prepare shards) or prepared clips
    total = (cfg.steps if cfg.steps is not None
             else steps_for_epochs(cfg.epochs or 1.0, len(videos.paths), cfg.batch_size))
    warmup = int(cfg.warmup_fraction * total)
    identity = _identity(cfg, trainer, videos, total, warmup)
    out = Path(cfg.out)
    _check_out(cfg)

    # --- every process from here on (Fabric relaunches the command for the other ranks) ----------
    fabric.launch()
    rank, main = fabric.global_rank, fabric.global_rank == 0
    if not main:
        log = lambda _msg: None  # noqa: E731  (one voice: rank 0)
    for reason, n in sorted(videos.skipped.items()):
        log(f"{cfg.data}: {n} {'manifest row(s)' if videos.source == 'manifest' else 'file(s)'} not used: {reason}")
    seed_everything(cfg.seed)  # identical initialisation on every rank
    with fabric.init_module():
        model = trainer.build()
    optimizer = _optimizer(trainer, model, cfg)
    checkpoint = None
    while cfg.resume:  # an unusable checkpoint (checked before anything is loaded) is set aside: the one
        try:           # before it is tried, and with none left pre-training starts afresh at step 0
            checkpoint = _resume_point(out, identity, log)
            if checkpoint is not None:
                _check_resumable(checkpoint, model, optimizer)
            break
        except WeightsError as exc:
            checkpoint = None
            fabric.barrier()  # every rank has read it
            if main:
                from echobench.engine.checkpoint import latest_checkpoint, set_aside

                log(f"--resume: unusable checkpoint: {exc}; moved to {set_aside(latest_checkpoint(out))}; "
                    "trying the one before it (none left: start afresh at step 0)")
            fabric.barrier()
    start = checkpoint.step if checkpoint is not None else 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint.model)
    module, optimizer = fabric.setup(model, optimizer)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total, warmup))
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint.optimizer)
        scheduler.load_state_dict(checkpoint.scheduler)
        if checkpoint.rng:
            restore_rng(checkpoint.rng)
        log(f"resuming from {checkpoint.path} (step {start} of {total})")

    dataset = make_dataset(frames=trainer.frames, stride=trainer.stride, flips=trainer.flips,
                           frame_size=videos.frame_size)
    batches = StepBatches(n_videos=len(videos.paths), seed=cfg.seed, global_batch=cfg.batch_size, rank=rank,
                          world_size=fabric.world_size, start_step=start, total_steps=total)
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_clips,
                        **loader_options(fabric, cfg.num_workers, persistent=False))
    protocol = Protocol(name="pretrain", version="-", frames=trainer.frames, period=trainer.stride, size=trainer.size,
                        normalization="unit", train_flips=False, scaled_targets=False, summary="pre-training clips")
    result = PretrainResult(out=out, start_step=start, steps=total, losses=[],
                            checkpoint=checkpoint.path if checkpoint else None,
                            encoder=out / "encoder.safetensors" if (out / "encoder.safetensors").is_file() else None,
                            pictures=[], skipped={}, world_size=fabric.world_size, device=device_name(fabric.device),
                            precision=str(getattr(fabric.strategy.precision, "precision", cfg.precision)), is_main=main)
    log_path = out / "log.jsonl"
    if main:
        _trim_log(log_path, start)
    fabric.barrier()

    # videos whose clip failed to decode / was short, over the whole run: a resume starts from the
    # checkpoint's sets, so the record counts every step, not only those since the last resume
    short: set[int] = set(checkpoint.meta.get("short_videos", [])) if checkpoint is not None else set()
    failed: set[int] = set(checkpoint.meta.get("failed_videos", [])) if checkpoint is not None else set()
    resized: set[int] = set(checkpoint.meta.get("resized_videos", [])) if checkpoint is not None else set()
    advance = progress(f"pre-train {trainer.name}", total) if (progress and main) else None
    if advance and start:
        advance(start)
    tick = time.perf_counter()
    for i, batch in enumerate(loader):
        step = start + i
        torch.manual_seed(derive_seed(cfg.seed, step, rank, 2))  # dropout / drop-path of this step
        clip = prepare_clips(fabric.to_device(batch["clip"]), protocol, train=False,  # (B, 3, T, S, S) in [0, 1]
                             flips=batch["flips"])
        batch_seed = derive_seed(cfg.seed, step, 1)
        loss = trainer.loss(module, clip, batch["seed"].tolist(), batch_seed)
        optimizer.zero_grad(set_to_none=True)
        fabric.backward(loss)
        optimizer.step()
        lr = scheduler.get_last_lr()[0]  # the rate this step used
        scheduler.step()
        short.update(v for v, is_short in zip(batch["video"].tolist(), batch["short"].tolist()) if is_short)
        resized.update(v for v, was in zip(batch["video"].tolist(), batch["resized"].tolist()) if was)
        for text in batch["failed"]:
            for video, reason in json.loads(text):
                if video not in failed:
                    failed.add(video)
                    log(f"skipped: {reason}")
        mean_loss = float(fabric.all_reduce(loss.detach().float(), reduce_op="mean"))
        if not math.isfinite(mean_loss):
            raise TrainingError(f"pre-training diverged at step {step + 1}: loss is {mean_loss} (try a lower --lr)")
        done = step + 1
        result.losses.append(mean_loss)
        if main:
            now = time.perf_counter()
            with open(log_path, "a", encoding="utf-8") as fh:
                row = {"step": done, "loss": mean_loss, "lr": lr, "seconds": round(now - tick, 4)}
                fh.write(json.dumps(row) + "\n")
            tick = now
        stopping = stop is not None and bool(fabric.all_reduce(
            torch.tensor(float(stop()), device=fabric.device), reduce_op="max") > 0)  # every rank agrees
        if done % cfg.save_every == 0 or done == total or stopping:
            failed, short = _gather_union(fabric, failed), _gather_union(fabric, short)  # every rank saves alike
            resized = _gather_union(fabric, resized)
            if main:
                result.checkpoint, png = _save_outputs(
                    out, done, trainer, module.module, optimizer, scheduler,
                    picture=(clip[:1].float(), batch["seed"][:1].tolist(), batch_seed),
                    meta={"identity": identity, "loss": mean_loss, "world_size": fabric.world_size,
                          "failed_videos": sorted(failed), "short_videos": sorted(short),
                          "resized_videos": sorted(resized)}, keep=cfg.keep)
                result.encoder = out / "encoder.safetensors"
                result.pictures.append(png)
            fabric.barrier()
        if stopping:
            raise Interrupted(f"stopped at step {done} (checkpoint saved)")
        if advance:
            advance(1)

    failed, short = _gather_union(fabric, failed), _gather_union(fabric, short)
    resized = _gather_union(fabric, resized)
    if failed:
        result.skipped["clip could not be decoded (replaced by the next clip)"] = len(failed)
    if short:
        result.skipped[f"clip shorter than {trainer.frames}x{trainer.stride} frames (indices clamped)"] = len(short)
    if resized:
        h, w = videos.frame_size
        result.skipped[f"clip frames not the folder's common {h}x{w} (resized to it)"] = len(resized)
    for reason, n in videos.skipped.items():
        result.skipped[f"{videos.source}: {reason}"] = n
    if main:
        final = result.losses[-1] if result.losses else (checkpoint.meta.get("loss") if checkpoint else None)
        _write_record(out, cfg, result, identity=identity, plugin=spec.name, final_loss=final,
                      data_source=videos.source)
    fabric.barrier()
    return result


__all__ = ["PretrainConfig", "PretrainResult", "Pretrainer", "pretrain"]
