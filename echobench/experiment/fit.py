"""Stage 3, fit: loaders over the task data, the model built from the registry, resumed state, and
training under the single core loop (:func:`echobench.engine.loop.fit`): :func:`fit_model` ->
:class:`Trained` (the best-on-VAL checkpoint is loaded into ``model``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from echobench.data.echonet import SPLITS
from echobench.experiment.config import EVAL_SPLITS, RunConfig
from echobench.experiment.resolve import RunFolder, Setup
from echobench.experiment.task_data import PreparedData


@dataclass
class Trained:
    """The fitted model (Fabric-wrapped, best VAL checkpoint), the split datasets and loaders it was
    trained and is evaluated with, and the loop's :class:`~echobench.engine.loop.FitState`."""

    model: Any
    datasets: dict[str, Any]  # split -> ClipDataset
    loaders: dict[str, Any]  # split -> DataLoader (Fabric-wrapped)
    fitted: Any  # FitState


def loaders_for(cfg: RunConfig, setup: Setup, data: PreparedData) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(datasets, loaders)`` per split: TRAIN through :class:`~echobench.engine.loop.EpochSampler`
    (the global batch shared over the processes), VAL/TEST in order, one clip per video."""
    from torch.utils.data import DataLoader

    from echobench.engine.devices import loader_options
    from echobench.engine.loop import EpochSampler, eval_sampler

    fabric, protocol = setup.fabric, setup.protocol
    datasets = {split: data.dataset(split, setup.objective.targets(data.labels[split]), protocol, seed=cfg.seed)
                for split in SPLITS}
    world = fabric.world_size
    sampler = EpochSampler(len(datasets["TRAIN"]), cfg.seed, batch_size=cfg.batch_size, rank=fabric.global_rank,
                           world_size=world)
    # TRAIN workers are not persistent: ClipDataset.epoch (random clip starts) is set in this process
    loaders = {"TRAIN": DataLoader(datasets["TRAIN"], batch_sampler=sampler,
                                   **loader_options(fabric, cfg.num_workers, persistent=False))}
    for split in EVAL_SPLITS:
        loaders[split] = DataLoader(datasets[split], batch_size=-(-cfg.batch_size // world), shuffle=False,
                                    sampler=eval_sampler(datasets[split], fabric),
                                    **loader_options(fabric, cfg.num_workers))
    loaders = dict(zip(SPLITS, fabric.setup_dataloaders(*(loaders[s] for s in SPLITS),
                                                        use_distributed_sampler=False)))
    return datasets, loaders


def _resumed_state(setup: Setup, folder: RunFolder, model):
    """The checkpoint ``--resume`` continues from, or None (an unusable one is set aside, logged)."""
    from echobench.engine import run_state
    from echobench.errors import WeightsError

    fabric, log = setup.fabric, setup.log
    state = aside = None
    try:
        state = run_state.load(folder.run_dir, model)
    except WeightsError as exc:  # checked before the model is touched: start afresh, keep the files
        fabric.barrier()  # every rank has read it before rank 0 moves it
        aside = run_state.set_aside_latest(folder.run_dir) if setup.main else "(set aside by rank 0)"
        fabric.barrier()
        log(f"--resume: unusable checkpoint: {exc}; moved to {aside}; starting this run afresh from epoch 1")
    if state is None and aside is None:
        log(f"--resume: {folder.run_dir} has no complete checkpoint; starting this run afresh from epoch 1")
    return state


def fit_model(cfg: RunConfig, setup: Setup, data: PreparedData, folder: RunFolder, *,
              stop: Callable[[], bool] | None = None) -> Trained:
    """Seed, build loaders and model, train ``cfg.epochs`` epochs (checkpoint each epoch into the run
    folder), and keep the epoch with the best VAL score.

    Raises:
        ConfigError: out of device memory (lower ``batch_size``); the last checkpoint is kept.
        WeightsError: a weights file is missing or does not match.
        Interrupted: ``stop()`` turned true (state saved for ``resume=True``).
        TrainingError: training diverged.
    """
    import torch
    from echobench.engine.seeding import seed_everything

    from echobench.engine import run_state
    from echobench.engine.devices import sync_batchnorm
    from echobench.engine.loop import TrainSettings, fit, init_output
    from echobench.engine.model import build_model
    from echobench.errors import ConfigError

    fabric, protocol, objective, runlog = setup.fabric, setup.protocol, setup.objective, setup.runlog
    seed_everything(cfg.seed)
    datasets, loaders = loaders_for(cfg, setup, data)
    with fabric.init_module():
        model = build_model(setup.registry, backbone=cfg.backbone, head=cfg.head, preset=cfg.preset,
                            weights=setup.weights.path, backbone_options=cfg.backbone_options,
                            head_options=cfg.head_options, clip_shape=(protocol.frames, protocol.size, protocol.size),
                            unit_input=protocol.normalization == "unit")
    init_output(model, objective.initial_output(data.labels["TRAIN"]))
    if cfg.freeze_backbone:
        model.freeze_backbone()
    state = _resumed_state(setup, folder, model) if folder.resumed else None
    model = fabric.setup_module(sync_batchnorm(fabric, model, setup.log))
    settings = TrainSettings(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                             weight_decay=cfg.weight_decay, seed=cfg.seed)
    epoch_logged = runlog.epochs(cfg.epochs, objective.val_score_name, start=len(state.val_score) if state else 0)

    def save(s) -> None:
        run_state.save(folder.run_dir, model, s)
        epoch_logged(s)

    try:
        with runlog.phase("train"):
            fitted = fit(fabric, model, loaders["TRAIN"], loaders["VAL"], protocol=protocol, settings=settings,
                         objective=objective, val_labels=data.labels["VAL"], stats=data.stats,
                         progress=setup.progress, state=state, save=save if setup.main else None, stop=stop)
    except torch.OutOfMemoryError:
        runlog.line(f"stopped: out of device memory at batch size {cfg.batch_size}")
        raise ConfigError(f"out of device memory at --batch-size {cfg.batch_size}; lower --batch-size "
                          f"(or --preset); the run's last checkpoint is kept for --resume") from None
    except Exception as exc:  # interrupted, diverged: say so in the log, then let the caller report it
        runlog.line(f"stopped: {type(exc).__name__}: {exc}")
        raise
    runlog.line(f"checkpoint: epoch {fitted.best_epoch} (lowest {objective.val_score_name})")
    return Trained(model=model, datasets=datasets, loaders=loaders, fitted=fitted)
