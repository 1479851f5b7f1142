"""``echobench run`` as a library call: fine-tune on TRAIN, select on VAL, evaluate on TEST.

:func:`prepare_data` reads an EchoNet-format directory once and decodes the clips a protocol needs
(a sweep reuses it for every model and seed); :func:`run_experiment` builds backbone + head from
the registry, trains under the single core loop (:mod:`echobench.engine.loop`), scores TEST and VAL
in natural units with bootstrap intervals next to the constant predictor
(:mod:`echobench.evaluation`), and writes a run directory plus an append-only run record. Every
skipped video is counted with its reason in the record.

Interruption: the run directory and a checkpoint (:mod:`echobench.engine.run_state`) are written
from the first epoch on; ``RunConfig(resume=True)`` continues the newest unfinished run with the
same configuration hash and ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from echobench import __version__, defaults
from echobench.atomic import atomic_save_safetensors, atomic_write_parquet, atomic_write_text, kept_error
from echobench.data.echonet import SPLITS
from echobench.errors import ConfigError, DataError, TrainingError, WeightsError, WriteError
from echobench.protocols import Protocol, get_protocol

from echobench.progress import ProgressFactory  # the one progress type (was defined here)

EVAL_SPLITS = ("VAL", "TEST")
STATS_VIDEOS = 128  # TRAIN videos sampled for mean/std (EchoNet-Dynamic get_mean_and_std, samples=128)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run (hashed into ``config_hash``, written to ``config.json``)."""

    backbone: str
    head: str
    task: str
    data: Path
    protocol: str = "echovisionfm"
    preset: str | None = "tiny"
    weights: str | None = None
    freeze_backbone: bool = False
    seed: int = 0
    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    lr: float = defaults.LR
    weight_decay: float = defaults.WEIGHT_DECAY
    n_boot: int = defaults.N_BOOT
    gpus: int | None = None
    precision: str | None = None
    num_workers: int | None = None  # None: 0 on the CPU, the available cores per process on CUDA
    cpu_processes: int = 1  # CPU processes with DDP over gloo (tests; same numbers as one process)
    results: Path = Path("leaderboard")
    runs: Path = Path("runs")
    resume: bool = False
    robustness: bool = False  # also score TEST under every perturbation x severity (evaluation.robustness)
    backbone_options: dict[str, Any] = field(default_factory=dict)  # declared options (--backbone-option)
    head_options: dict[str, Any] = field(default_factory=dict)  # declared options (--head-option)

    def hashed(self) -> dict[str, Any]:
        """The fields that define the numbers (not where files go or how fast they are made). Empty
        option mappings are left out, so runs without options keep their earlier config hash."""
        skip = {"data", "results", "runs", "num_workers", "resume", "cpu_processes"}
        skip |= {k for k in ("backbone_options", "head_options", "robustness") if not getattr(self, k)}
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items() if k not in skip}


@dataclass
class RunResult:
    """Scores (natural units) per split for the model and the constant predictor, and where things went."""

    run_id: str
    model: str  # "backbone+head"
    run_dir: Path
    record: Path
    protocol_tag: str
    task_tag: str
    units: str
    kind: str  # "regression" or "binary"
    metrics: dict[str, dict[str, float]]  # split -> metric -> value (one clip, the task's own metrics)
    constant: dict[str, dict[str, float]]
    n: dict[str, int]
    best_epoch: int
    all_clips: dict[str, dict[str, float]] = field(default_factory=dict)  # echonet protocol only
    skipped: dict[str, int] = field(default_factory=dict)
    resumed: bool = False
    notes: dict[str, int] = field(default_factory=dict)  # reader's and decoder's notes: reason -> videos
    # 95 % bootstrap intervals, split -> metric -> (low, high); NaN without bootstrap (n_boot = 0)
    metrics_ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    constant_ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    all_clips_ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    log: Path | None = None  # runs/<id>/log.txt


@dataclass
class PreparedData:
    """One dataset read and decoded for one (task label, protocol): reusable across models and seeds."""

    root: Path
    records: dict[str, list]  # split -> VideoRecord list
    clips: dict[str, list | None]
    frame_indices: dict[str, list | None]
    labels: dict[str, np.ndarray]  # natural units of the task label
    ef: dict[str, np.ndarray]
    stats: tuple[list[float], list[float]] | None
    skipped: Counter
    notes: Counter
    dataset_hash: str
    synthetic: bool
    frame_size: tuple[int, int] | None = None  # (height, width) every clip is given (DecodedClips.frame_size)


def prepare_data(root: Path, task, protocol: Protocol, *, progress: ProgressFactory | None = None,
                 log: Callable[[str], None] | None = None, stop: Callable[[], bool] | None = None) -> PreparedData:
    """Read ``root``, drop (and count) videos without a usable label, decode the protocol's clips.

    Videos whose frame size differs from the dataset's most common one are resized to it
    (:func:`echobench.data.clips.decode_clips`) and counted in ``notes``.

    Args:
        stop: polled before each video is decoded (Ctrl-C in the CLI).

    Raises:
        DataError: the directory cannot be used, or a split has no usable videos.
        Interrupted (:class:`echobench.engine.loop.Interrupted`): ``stop()`` turned true while decoding.
    """
    from echobench.data.clips import decode_clips, fit_frame_size
    from echobench.data.echonet import read_echonet, require_splits
    from echobench.data.transforms import channel_stats
    from echobench.data.video import read_video
    from echobench.provenance import dataset_hash

    log = log or (lambda _msg: None)
    data = read_echonet(root, probe=True, progress=progress("probe videos", None) if progress else None)
    skipped: Counter = Counter(data.report.skipped)
    kept = []
    for r in data.records:
        value = getattr(r, task.label.lower())
        if value is None or not np.isfinite(value) or (task.units == "mL" and value <= 0):
            skipped[f"{task.label} missing or not positive for task {task.name}"] += 1
            log(f"{r.path}: {task.label} missing; skipped for task {task.name}")
            continue
        kept.append(r)
    require_splits(kept, root, task=task.name, skipped=skipped)  # before any decoding
    decoded = decode_clips(kept, protocol, progress=progress("decode videos", len(kept)) if progress else None,
                           stop=stop)
    skipped.update(decoded.skipped)
    for message in decoded.messages:
        log(message)
    by_split: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, r in enumerate(decoded.records):
        by_split[r.split].append(i)
    require_splits(decoded.records, root, task=task.name, skipped=skipped)  # videos that failed to decode
    records = {s: [decoded.records[i] for i in by_split[s]] for s in SPLITS}
    cached = decoded.clips is not None
    stats = None
    if protocol.normalization == "train-mean-std":
        train = records["TRAIN"]
        sample = np.random.default_rng(0).permutation(len(train))[:STATS_VIDEOS]
        stats = channel_stats(fit_frame_size(read_video(train[i].path), decoded.frame_size)  # one video at a time
                              for i in sorted(sample))
    return PreparedData(
        root=Path(root), records=records,
        clips={s: [decoded.clips[i] for i in by_split[s]] if cached else None for s in SPLITS},
        frame_indices={s: [decoded.frame_indices[i] for i in by_split[s]] if cached else None for s in SPLITS},
        labels={s: np.array([getattr(r, task.label.lower()) for r in records[s]], dtype=np.float64) for s in SPLITS},
        ef={s: np.array([r.ef for r in records[s]], dtype=np.float64) for s in SPLITS},
        stats=stats, skipped=skipped, notes=Counter(data.report.notes) + decoded.notes,
        dataset_hash=dataset_hash(root, [(r.file_name, r.num_frames) for r in decoded.records]),
        synthetic=(Path(root) / "SYNTHETIC.json").is_file(), frame_size=decoded.frame_size,
    )


def check_outputs(*folders: Path) -> None:
    """Create the output folders, or raise :class:`ConfigError` naming the one that cannot be written."""
    for folder in map(Path, folders):  # fail now, not after training
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{folder}: cannot create output folder ({exc.strerror or exc})") from None
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise ConfigError(f"{folder}: output folder is not writable")


def run_experiment(cfg: RunConfig, *, progress: ProgressFactory | None = None,
                   log: Callable[[str], None] | None = None, registry=None,
                   prepared: PreparedData | None = None, stop: Callable[[], bool] | None = None,
                   echo: Callable[[str], None] | None = None) -> RunResult | None:
    """Run one (backbone, head, task, protocol, seed) experiment end to end (:func:`_run_experiment`).

    Raises:
        WriteError: an output could not be written (disk full): one line naming the file and
            saying the run's last good checkpoint is kept for ``resume=True``; besides the errors
            of :func:`_run_experiment`.
    """
    try:
        return _run_experiment(cfg, progress=progress, log=log, registry=registry, prepared=prepared, stop=stop,
                               echo=echo)
    except WriteError as exc:
        if exc.kept:  # a checkpoint write already says which one is kept
            raise
        raise kept_error(exc, "the run's last good checkpoint is kept: rerun the same command with --resume "
                              "to finish it") from exc


def _run_experiment(cfg: RunConfig, *, progress: ProgressFactory | None = None,
                    log: Callable[[str], None] | None = None, registry=None,
                    prepared: PreparedData | None = None, stop: Callable[[], bool] | None = None,
                    echo: Callable[[str], None] | None = None) -> RunResult | None:
    """Run one (backbone, head, task, protocol, seed) experiment end to end.

    Args:
        prepared: data from :func:`prepare_data` for this task label and protocol (read if None).
        stop: polled after every training step; when true the run saves its state and raises
            :class:`~echobench.engine.loop.Interrupted` (continue with ``resume=True``).
        echo: also called with every line of the run's ``log.txt`` (:mod:`echobench.runlog`:
            settings, one line per epoch, phase timings, notes), e.g. to print them on a stderr
            that is not a terminal.

    Several processes (``gpus > 1`` or ``cpu_processes > 1``; Fabric relaunches the current command
    for the other ranks, so call it from a script or the CLI): ``batch_size`` is the global batch,
    split over the processes (:class:`~echobench.engine.loop.EpochSampler`), VAL/TEST predictions are
    gathered one per video, and rank 0 alone writes the run directory and the record.

    Returns:
        The result (on rank 0), or None when ``resume=True`` finds this configuration (same config
        hash: settings, resolved precision, dataset hash and weights file contents) already
        completed, and on every other rank.

    Raises:
        UnknownNameError: unknown backbone/head/task/protocol/preset.
        DataError: the data directory cannot be used, or a split has no usable videos.
        ConfigError: device request that the machine cannot satisfy; unwritable output folders.
        WeightsError: a weights file is missing or does not match.
        Interrupted: ``stop()`` turned true during training.
    """
    import torch
    from echobench.engine.seeding import seed_everything
    from torch.utils.data import DataLoader

    from echobench.data.clips import ClipDataset, fit_frame_size
    from echobench.data.video import read_video
    from echobench.engine import run_state
    from echobench.engine.devices import loader_options, make_fabric, sync_batchnorm
    from echobench.engine.loop import (EpochSampler, TrainSettings, eval_sampler, fit, init_output, predict,
                                       predict_all_clips)
    from echobench.engine.model import build_model, resolve_specs
    from echobench.engine.objective import Objective
    from echobench.evaluation import CONSTANT, constant_outputs, score_outputs, track_scores
    from echobench.evaluation.beats import beat_scores, predict_beats
    from echobench.provenance import device_name, environment, file_sha256, git_sha, stable_hash
    from echobench.registry import get_registry
    from echobench.results.leaderboard import units_label
    from echobench.results.records import records_dir, write_record
    from echobench.runlog import RunLog

    runlog = RunLog(echo=echo)
    warn = log or (lambda _msg: None)

    def log(message: str) -> None:  # warnings go to the caller and into log.txt
        warn(message)
        runlog.line(f"note: {message}", echo=False)

    registry = registry or get_registry()
    task = registry.get("task", cfg.task)
    resolve_specs(registry, backbone=cfg.backbone, head=cfg.head, preset=cfg.preset)
    protocol = get_protocol(cfg.protocol)
    objective = Objective(task, protocol)
    fabric = make_fabric(gpus=cfg.gpus, precision=cfg.precision, cpu_processes=cfg.cpu_processes)
    check_outputs(cfg.results, cfg.runs)
    if fabric.world_size > 1:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():  # Fabric would start the command's processes again
            raise ConfigError("several processes (--gpus N > 1) run one configuration per command; "
                              "run the sweep's configurations one by one")
    fabric.launch()  # several processes: the other ranks start here (Fabric re-runs the command)
    main = fabric.global_rank == 0
    if not main:
        log, progress = (lambda _msg: None), None  # one voice: rank 0
        runlog.echo = None  # its lines stay in memory: rank 0 alone writes log.txt
    precision = str(getattr(fabric.strategy.precision, "precision", cfg.precision))  # what Fabric really uses
    if prepared is None:
        with runlog.phase("read and decode data"):
            data = prepare_data(Path(cfg.data), task, protocol, progress=progress, log=log)  # `stop` is for training
    else:
        data = prepared
        runlog.line(f"data: read and decoded before this run (shared by the runs of a sweep): {data.root}")
    identity = {**cfg.hashed(), "precision": precision, "dataset_hash": data.dataset_hash,
                "weights_sha256": file_sha256(cfg.weights) if cfg.weights and Path(cfg.weights).is_file() else None}
    config_hash = stable_hash(identity)
    setup_hash = stable_hash({k: v for k, v in identity.items() if k != "seed"})  # what seeds share

    # --- run directory (new, or the unfinished one being resumed) -------------------------------
    if cfg.resume:
        done = run_state.find_run(Path(cfg.runs), config_hash, complete=True)
        if done is not None:
            log(f"--resume: {done} already completed this configuration; not rerun")
            return None
    resume_dir = run_state.find_run(Path(cfg.runs), config_hash, complete=False) if cfg.resume else None
    fabric.barrier()  # every rank has looked before rank 0 creates a new run directory
    if cfg.resume and resume_dir is None:
        log(f"--resume: no unfinished run with this configuration under {cfg.runs}; starting a new run")
    if resume_dir is not None:
        run_dir, run_id = resume_dir, resume_dir.name
        log(f"resuming {run_dir}")
        if (records_dir(cfg.results) / f"{run_id}.parquet").is_file():  # killed after its record was written
            run_state.finish(run_dir)
            log(f"--resume: {run_dir} had already written its record; marked complete")
            return None
    else:
        created = datetime.now(timezone.utc)
        run_id = f"{created:%Y%m%dT%H%M%S}-{cfg.backbone}-{cfg.head}-{cfg.task}-s{cfg.seed}-{uuid.uuid4().hex[:6]}"
        run_id = fabric.broadcast(run_id, src=0)  # one run directory for all ranks
        run_dir = Path(cfg.runs) / run_id
        if main:
            run_dir.mkdir(parents=True, exist_ok=False)
    config = {**identity, "data": str(Path(cfg.data).resolve()), "config_hash": config_hash, "setup_hash": setup_hash,
              "protocol_version": protocol.version, "task_version": task.version}
    if resume_dir is None and main:
        atomic_write_text(run_dir / "config.json", json.dumps(config, indent=2))
    if main:
        runlog.attach(run_dir)
    runlog.line(f"{'resumed' if resume_dir is not None else 'started'} run {run_id} "
                f"(echobench {__version__}, device {fabric.device}, precision {precision})")
    runlog.settings(config)
    runlog.counts("skipped (videos, by reason)", data.skipped)
    runlog.counts("notes", data.notes)

    # --- data -----------------------------------------------------------------------------------
    seed_everything(cfg.seed)
    datasets = {split: ClipDataset(data.records[split], objective.targets(data.labels[split]), protocol,
                                   train=split == "TRAIN", clips=data.clips[split],
                                   frame_indices=data.frame_indices[split], seed=cfg.seed,
                                   frame_size=data.frame_size)
                for split in SPLITS}
    world = fabric.world_size
    sampler = EpochSampler(len(datasets["TRAIN"]), cfg.seed, batch_size=cfg.batch_size, rank=fabric.global_rank,
                           world_size=world)
    # TRAIN workers are not persistent: ClipDataset.epoch (random clip starts) is set in this process
    loaders = {"TRAIN": DataLoader(datasets["TRAIN"], batch_sampler=sampler,
                                   **loader_options(fabric, cfg.num_workers, persistent=False))}
    for split in EVAL_SPLITS:
        loaders[split] = DataLoader(datasets[split], batch_size=-(-cfg.batch_size // world), shuffle=False,
                                    sampler=eval_sampler(datasets[split], fabric), **loader_options(fabric, cfg.num_workers))
    loaders = dict(zip(SPLITS, fabric.setup_dataloaders(*(loaders[s] for s in SPLITS),
                                                        use_distributed_sampler=False)))

    # --- model ----------------------------------------------------------------------------------
    with fabric.init_module():
        model = build_model(registry, backbone=cfg.backbone, head=cfg.head, preset=cfg.preset, weights=cfg.weights,
                            backbone_options=cfg.backbone_options, head_options=cfg.head_options,
                            clip_shape=(protocol.frames, protocol.size, protocol.size),
                            unit_input=protocol.normalization == "unit")
    init_output(model, objective.initial_output(data.labels["TRAIN"]))
    if cfg.freeze_backbone:
        model.freeze_backbone()
    state = aside = None
    if resume_dir is not None:
        try:
            state = run_state.load(run_dir, model)
        except WeightsError as exc:  # checked before the model is touched: start afresh, keep the files
            fabric.barrier()  # every rank has read it before rank 0 moves it
            aside = run_state.set_aside_latest(run_dir) if main else "(set aside by rank 0)"
            fabric.barrier()
            log(f"--resume: unusable checkpoint: {exc}; moved to {aside}; starting this run afresh from epoch 1")
        if state is None and aside is None:
            log(f"--resume: {run_dir} has no complete checkpoint; starting this run afresh from epoch 1")
    model = fabric.setup_module(sync_batchnorm(fabric, model, log))
    settings = TrainSettings(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                             weight_decay=cfg.weight_decay, seed=cfg.seed)
    epoch_logged = runlog.epochs(cfg.epochs, objective.val_score_name, start=len(state.val_score) if state else 0)

    def save(s) -> None:
        run_state.save(run_dir, model, s)
        epoch_logged(s)

    try:
        with runlog.phase("train"):
            fitted = fit(fabric, model, loaders["TRAIN"], loaders["VAL"], protocol=protocol, settings=settings,
                         objective=objective, val_labels=data.labels["VAL"], stats=data.stats, progress=progress,
                         state=state, save=save if main else None, stop=stop)
    except torch.OutOfMemoryError:
        runlog.line(f"stopped: out of device memory at batch size {cfg.batch_size}")
        raise ConfigError(f"out of device memory at --batch-size {cfg.batch_size}; lower --batch-size "
                          f"(or --preset); the run's last checkpoint is kept for --resume") from None
    except Exception as exc:  # interrupted, diverged: say so in the log, then let the caller report it
        runlog.line(f"stopped: {type(exc).__name__}: {exc}")
        raise
    runlog.line(f"checkpoint: epoch {fitted.best_epoch} (lowest {objective.val_score_name})")

    # --- evaluation -----------------------------------------------------------------------------
    outputs: dict[tuple[str, str], np.ndarray] = {}  # (split, clips) -> outputs
    with runlog.phase("evaluate VAL and TEST"):
        for split in EVAL_SPLITS:
            advance = progress(f"evaluate {split}", len(datasets[split])) if progress else None
            outputs[split, "one"] = objective.outputs(predict(fabric, model, loaders[split], protocol,
                                                              stats=data.stats, advance=advance))
            if protocol.period is not None:  # contiguous clips: also EchoNet's all-clips average
                advance = progress(f"evaluate {split} (all clips)", len(datasets[split])) if progress else None
                videos = [lambda p=r.path: fit_frame_size(read_video(p), data.frame_size)
                          for r in data.records[split]]
                outputs[split, "all"] = objective.outputs(predict_all_clips(
                    fabric, model, videos, protocol, batch_size=cfg.batch_size, stats=data.stats, advance=advance))
    for (split, clips), out in outputs.items():
        if not np.isfinite(out).all():
            runlog.line(f"stopped: {split} predictions are not finite")
            raise TrainingError(f"{int((~np.isfinite(out)).sum())} {split} prediction(s) are not finite "
                                f"(diverged; try a lower --lr)")
    advance = progress("evaluate TEST (one clip per detected beat)", len(datasets["TEST"])) if progress else None
    beats = predict_beats(fabric, model, data.records["TEST"], protocol, objective=objective,
                          batch_size=cfg.batch_size, stats=data.stats, advance=advance, frame_size=data.frame_size)
    if not np.isfinite(beats.outputs).all():
        raise TrainingError(f"{int((~np.isfinite(beats.outputs)).sum())} TEST beat prediction(s) are not finite "
                            f"(diverged; try a lower --lr)")
    perturbed = None
    if cfg.robustness:
        from echobench.evaluation.robustness import degradation_scores, predict_perturbed

        advance = progress("evaluate TEST under perturbations", len(datasets["TEST"])) if progress else None
        perturbed = predict_perturbed(fabric, model, data.records["TEST"], protocol, objective=objective,
                                      batch_size=cfg.batch_size, stats=data.stats, seed=0, advance=advance,
                                      frame_size=data.frame_size)
    if not main:
        return None  # rank 0 scores and writes
    model_name = f"{cfg.backbone}+{cfg.head}" + (" [frozen backbone]" if cfg.freeze_backbone else "")
    scored: list[tuple[str, str, str, Any]] = []  # (model, split, clips, Score)
    with runlog.phase(f"score with {cfg.n_boot} bootstrap resamples"):
        for (split, clips), out in outputs.items():
            const = constant_outputs(task, data.labels["TRAIN"], len(out))
            for name, values in ((model_name, out), (CONSTANT, const)):
                for s in score_outputs(task, values, data.labels[split], data.ef[split], n_boot=cfg.n_boot, seed=0):
                    scored.append((name, split, clips, s))
        for (split, clips), out in outputs.items():  # calibration / agreement tracks (TEST conformal fitted on VAL)
            val_out = outputs[("VAL", clips)]
            for name, values, val_values in ((model_name, out, val_out),
                                             (CONSTANT, constant_outputs(task, data.labels["TRAIN"], len(out)),
                                              constant_outputs(task, data.labels["TRAIN"], len(val_out)))):
                val = (val_values, data.labels["VAL"]) if split == "TEST" else None
                scored += [(name, split, clips, s) for s in
                           track_scores(task, values, data.labels[split], val=val, n_boot=cfg.n_boot, seed=0)]
        scored += [(model_name, "TEST", "beats", s) for s in
                   beat_scores(task, beats, data.labels["TEST"], data.ef["TEST"], n_boot=cfg.n_boot, seed=0)]
        outputs["TEST", "beats"] = beats.outputs  # written to predictions.parquet with the other clips
        from echobench.evaluation.strata import stratum_scores, strata

        test = data.records["TEST"]
        groups = strata(data.ef["TEST"], [r.fps for r in test], [r.num_frames for r in test],
                        *beats.grey.T)  # brightness/contrast from the beats pass: TEST is decoded once
        scored += [(model_name, "TEST", "one", s) for s in stratum_scores(
            task, outputs["TEST", "one"], data.labels["TEST"], data.ef["TEST"], groups, n_boot=cfg.n_boot, seed=0)]
        if perturbed is not None:
            scored += [(model_name, "TEST", "one", s) for s in degradation_scores(
                task, outputs["TEST", "one"], perturbed, data.labels["TEST"], n_boot=cfg.n_boot, seed=0)]

    # --- run directory and record ---------------------------------------------------------------
    created = datetime.now(timezone.utc)
    sha = git_sha()
    plugins = {}
    for kind, name in (("backbone", cfg.backbone), ("head", cfg.head), ("task", cfg.task)):
        e = registry.entry(kind, name)
        plugins[f"{kind}:{name}"] = f"{e.plugin} ({e.distribution} {e.version})"
    device = device_name(fabric.device)
    atomic_save_safetensors({k: v.contiguous() for k, v in (fitted.best_state or {}).items()}, run_dir / "best.safetensors")
    atomic_write_text(run_dir / "environment.json", json.dumps(
        {**environment(), "git_sha": sha, "device": device, "precision": precision, "plugins": plugins}, indent=2))

    def table(name: str, clips: str, part=lambda e: e.value) -> dict[str, dict[str, Any]]:
        return {split: {s.metric: part(s.estimate) for m, sp, c, s in scored
                        if m == name and sp == split and c == clips and s.task == task.name and s.track is None}
                for split in EVAL_SPLITS}

    def interval(e) -> tuple[float, float]:
        return (e.low, e.high)

    metrics, metrics_ci = table(model_name, "one"), table(model_name, "one", interval)
    constant, constant_ci = table(CONSTANT, "one"), table(CONSTANT, "one", interval)
    all_clips = table(model_name, "all") if protocol.period is not None else {}
    all_clips_ci = table(model_name, "all", interval) if protocol.period is not None else {}
    import polars as pl

    pred_rows = [{"FileName": r.file_name, "split": split, "clips": clips, "prediction": float(p),
                  "truth": float(t), "EF": float(ef)}
                 for (split, clips), out in outputs.items()
                 for r, p, t, ef in zip(data.records[split], out, data.labels[split], data.ef[split])]
    atomic_write_parquet(pl.DataFrame(pred_rows), run_dir / "predictions.parquet")

    common = {
        "run_id": run_id, "created_at": created.isoformat(), "preset": cfg.preset or "-",
        "weights": cfg.weights or "random init", "trained_on": task.name,
        "protocol": protocol.name, "protocol_version": protocol.version,
        "dataset": Path(cfg.data).resolve().name, "dataset_hash": data.dataset_hash, "synthetic": data.synthetic,
        "seed": cfg.seed, "config_hash": config_hash, "setup_hash": setup_hash, "echobench_version": __version__,
        "plugin_versions": json.dumps(plugins, sort_keys=True), "git_sha": sha, "device": device,
        "precision": precision, "skipped": json.dumps(dict(data.skipped), sort_keys=True),
        "notes": json.dumps(dict(data.notes), sort_keys=True), "source": "run",
        "run_dir": str(run_dir.resolve()),
    }
    rows: list[dict[str, Any]] = []
    for name, split, clips, s in scored:
        scored_task = task if s.task == task.name else registry.get("task", s.task)
        model_free = {"backbone": "-", "head": "-", "preset": "-", "weights": "-", "precision": "-",
                      "setup_hash": "-"} if name == CONSTANT else {}  # the constant depends on the data only
        rows.append({**common, "model": name, "backbone": cfg.backbone, "head": cfg.head, **model_free, "task": s.task,
                     "task_version": scored_task.version, "track": s.track,
                     "units": s.units if s.units is not None else "" if scored_task.kind == "binary" else scored_task.units,
                     "split": split, "clips": clips, "metric": s.metric, "value": s.estimate.value,
                     "ci_low": s.estimate.low, "ci_high": s.estimate.high,
                     "n": s.n if s.n is not None else len(data.labels[split])})
    atomic_write_text(run_dir / "metrics.json", json.dumps(
        {"units": units_label(task.units), "kind": task.kind, "protocol": protocol.tag, "model": metrics,
         "constant_train_mean": constant, "all_clips": all_clips,
         "scores": [{"model": m, "split": sp, "clips": c, "task": s.task, "track": s.track, "metric": s.metric,
                     "value": s.estimate.value, "ci_low": s.estimate.low, "ci_high": s.estimate.high}
                    for m, sp, c, s in scored],
         "best_epoch": fitted.best_epoch, "val_score_per_epoch": fitted.val_score,
         "val_score": objective.val_score_name, "train_loss_per_epoch": fitted.train_loss,
         "skipped": dict(data.skipped), "notes": dict(data.notes),
         "beats_fallback": beats.fallback}, indent=2, default=float))
    record = write_record(rows, cfg.results, run_id)
    run_state.finish(run_dir)
    for split in EVAL_SPLITS:
        runlog.line(f"{split}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics[split].items())
                    + " | constant: " + ", ".join(f"{k} {v:.4g}" for k, v in constant[split].items()))
    runlog.line(f"finished: record {record}")
    return RunResult(run_id=run_id, model=model_name, run_dir=run_dir, record=record, protocol_tag=protocol.tag,
                     task_tag=f"{task.name}@{task.version}", units=task.units, kind=task.kind, metrics=metrics,
                     constant=constant, all_clips=all_clips, n={s: len(data.labels[s]) for s in SPLITS},
                     best_epoch=fitted.best_epoch, skipped=dict(data.skipped), resumed=resume_dir is not None,
                     notes=dict(data.notes),
                     metrics_ci=metrics_ci, constant_ci=constant_ci, all_clips_ci=all_clips_ci, log=runlog.path)
