"""``echobench run`` as a library call: fine-tune on TRAIN, select on VAL, evaluate on TEST.

:func:`run_experiment` reads an EchoNet-format directory, decodes the clips the protocol needs,
builds backbone + head from the registry, trains under the single core loop, scores TEST (and VAL)
in natural units next to the constant predictor (TRAIN mean), and writes a run directory plus an
append-only run record. Every skipped video is counted with its reason in the record.
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

from echobench import __version__
from echobench.errors import ConfigError, DataError
from echobench.atomic import atomic_write_text
from echobench.data.echonet import SPLITS
from echobench.protocols import get_protocol

ProgressFactory = Callable[[str, int], Callable[[int], None]]


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
    epochs: int = 8
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.05
    gpus: int | None = None
    precision: str | None = None
    num_workers: int = 0
    results: Path = Path("leaderboard")
    runs: Path = Path("runs")


@dataclass
class RunResult:
    """Metrics (natural units) per split for the model and the constant predictor, and where things went."""

    run_id: str
    model: str  # "backbone+head"
    run_dir: Path
    record: Path
    protocol_tag: str
    task_tag: str
    units: str
    metrics: dict[str, dict[str, float]]  # split -> metric -> value
    constant: dict[str, dict[str, float]]
    n: dict[str, int]
    best_epoch: int
    skipped: dict[str, int] = field(default_factory=dict)


def _labels(records, label: str) -> np.ndarray:
    return np.array([getattr(r, label.lower()) for r in records], dtype=np.float64)


def run_experiment(cfg: RunConfig, *, progress: ProgressFactory | None = None,
                   log: Callable[[str], None] | None = None, registry=None) -> RunResult:
    """Run one (backbone, head, task, protocol, seed) experiment end to end.

    Raises:
        UnknownNameError: unknown backbone/head/task/protocol/preset.
        DataError: the data directory cannot be used, or a split has no usable videos.
        ConfigError: device request that the machine cannot satisfy.
        WeightsError: a weights file is missing or does not match.
    """
    import torch
    from lightning.fabric.utilities.seed import seed_everything
    from safetensors.torch import save_file
    from torch.utils.data import DataLoader

    from echobench.data.clips import ClipDataset, decode_clips
    from echobench.data.echonet import read_echonet
    from echobench.data.transforms import channel_stats
    from echobench.data.video import read_video
    from echobench.engine.devices import make_fabric
    from echobench.engine.loop import TrainSettings, fit, init_output, predict
    from echobench.engine.model import build_model, resolve_specs
    from echobench.metrics import regression_metrics
    from echobench.provenance import dataset_hash, device_name, environment, git_sha, stable_hash
    from echobench.registry import get_registry
    from echobench.results.records import write_record

    log = log or (lambda _msg: None)
    registry = registry or get_registry()
    task = registry.get("task", cfg.task)
    resolve_specs(registry, backbone=cfg.backbone, head=cfg.head, preset=cfg.preset)
    protocol = get_protocol(cfg.protocol)
    if task.kind != "regression":
        raise DataError(f"task {task.name!r} is {task.kind}; this version of `run` trains regression tasks")
    fabric = make_fabric(gpus=cfg.gpus, precision=cfg.precision, max_devices=1)
    for folder in (Path(cfg.results), Path(cfg.runs)):  # fail now, not after training
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise ConfigError(f"{folder}: output folder is not writable")

    # --- data -----------------------------------------------------------------------------------
    data = read_echonet(cfg.data, probe=True,
                        progress=progress("probe videos", None) if progress else None)
    skipped: Counter = Counter(data.report.skipped)
    records = []
    for r in data.records:
        value = getattr(r, task.label.lower())
        if value is None or not np.isfinite(value) or (task.units == "mL" and value <= 0):
            skipped[f"{task.label} missing or not positive for task {task.name}"] += 1
            log(f"{r.path}: {task.label} missing; skipped for task {task.name}")
            continue
        records.append(r)
    decoded = decode_clips(records, protocol, progress=progress("decode videos", len(records)) if progress else None)
    skipped.update(decoded.skipped)
    for message in decoded.messages:
        log(message)
    by_split: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, r in enumerate(decoded.records):
        by_split[r.split].append(i)
    for split in SPLITS:
        if not by_split[split]:
            raise DataError(f"{cfg.data}: no usable {split} videos for task {task.name} "
                            f"(skipped: {dict(skipped) or 'none'})")

    def subset(split: str):
        idx = by_split[split]
        recs = [decoded.records[i] for i in idx]
        clips = [decoded.clips[i] for i in idx] if decoded.clips is not None else None
        inds = [decoded.frame_indices[i] for i in idx] if decoded.frame_indices is not None else None
        return recs, clips, inds

    seed_everything(cfg.seed, verbose=False)
    true = {s: _labels(subset(s)[0], task.label) for s in SPLITS}
    stats = None
    if protocol.normalization == "train-mean-std":
        train_recs = subset("TRAIN")[0]
        sample = np.random.default_rng(cfg.seed).permutation(len(train_recs))[:128]
        stats = channel_stats([read_video(train_recs[i].path) for i in sample])

    datasets = {}
    for split in SPLITS:
        recs, clips, inds = subset(split)
        datasets[split] = ClipDataset(recs, protocol.encode_target(true[split], task.units), protocol,
                                      train=split == "TRAIN", clips=clips, frame_indices=inds, seed=cfg.seed)
    loader_gen = torch.Generator().manual_seed(cfg.seed)
    loaders = {
        split: DataLoader(datasets[split], batch_size=cfg.batch_size, shuffle=split == "TRAIN",
                          num_workers=cfg.num_workers, generator=loader_gen if split == "TRAIN" else None,
                          drop_last=False)
        for split in SPLITS
    }
    loaders = dict(zip(SPLITS, fabric.setup_dataloaders(*(loaders[s] for s in SPLITS))))

    # --- model ----------------------------------------------------------------------------------
    with fabric.init_module():
        model = build_model(registry, backbone=cfg.backbone, head=cfg.head, preset=cfg.preset, weights=cfg.weights,
                            clip_shape=(protocol.frames, protocol.size, protocol.size))
    train_target = protocol.encode_target(true["TRAIN"], task.units)
    init_output(model, float(train_target.mean()))
    if cfg.freeze_backbone:
        model.freeze_backbone()
    model = fabric.setup_module(model)
    settings = TrainSettings(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                             weight_decay=cfg.weight_decay, seed=cfg.seed)
    fitted = fit(fabric, model, loaders["TRAIN"], loaders["VAL"], protocol=protocol, settings=settings,
                 val_true=true["VAL"], units=task.units, stats=stats, progress=progress)

    # --- evaluation -----------------------------------------------------------------------------
    metrics: dict[str, dict[str, float]] = {}
    constant: dict[str, dict[str, float]] = {}
    predictions: dict[str, np.ndarray] = {}
    train_mean = float(true["TRAIN"].mean())
    for split in ("VAL", "TEST"):
        advance = progress(f"evaluate {split}", len(datasets[split])) if progress else None
        pred = protocol.decode_target(predict(fabric, model, loaders[split], protocol, stats=stats,
                                              advance=advance), task.units)
        predictions[split] = pred
        metrics[split] = regression_metrics(pred, true[split])
        constant[split] = regression_metrics(np.full_like(true[split], train_mean), true[split])

    # --- run directory and record ---------------------------------------------------------------
    created = datetime.now(timezone.utc)
    run_id = f"{created:%Y%m%dT%H%M%S}-{cfg.backbone}-{cfg.head}-{cfg.task}-s{cfg.seed}-{uuid.uuid4().hex[:6]}"
    model_name = f"{cfg.backbone}+{cfg.head}" + (" [frozen backbone]" if cfg.freeze_backbone else "")
    run_dir = Path(cfg.runs) / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    precision = str(getattr(fabric.strategy.precision, "precision", cfg.precision))  # what Fabric really uses
    config["precision"] = precision
    sha = git_sha()
    config_hash = stable_hash({k: v for k, v in config.items() if k not in ("data", "results", "runs", "num_workers")})
    dhash = dataset_hash(cfg.data, [(r.file_name, r.num_frames) for r in decoded.records])
    synthetic = (Path(cfg.data) / "SYNTHETIC.json").is_file()
    plugins = {}
    for kind, name in (("backbone", cfg.backbone), ("head", cfg.head), ("task", cfg.task)):
        e = registry.entry(kind, name)
        plugins[f"{kind}:{name}"] = f"{e.plugin} ({e.distribution} {e.version})"
    env = environment()
    device = device_name(fabric.device)
    save_file({k: v.contiguous() for k, v in (fitted.best_state or {}).items()}, str(run_dir / ".best.tmp"))
    os.replace(run_dir / ".best.tmp", run_dir / "best.safetensors")
    atomic_write_text(run_dir / "config.json", json.dumps({**config, "config_hash": config_hash,
                                                            "protocol_version": protocol.version,
                                                            "task_version": task.version}, indent=2))
    atomic_write_text(run_dir / "environment.json", json.dumps(
        {**env, "git_sha": sha, "device": device, "precision": precision, "plugins": plugins}, indent=2))
    atomic_write_text(run_dir / "metrics.json", json.dumps(
        {"units": task.units, "protocol": protocol.tag, "model": metrics, "constant_train_mean": constant,
         "train_mean": train_mean, "best_epoch": fitted.best_epoch, "val_mae_per_epoch": fitted.val_mae,
         "train_loss_per_epoch": fitted.train_loss, "skipped": dict(skipped),
         "notes": dict(data.report.notes + decoded.notes)}, indent=2))
    import polars as pl

    pred_rows = [{"FileName": r.file_name, "split": split, "prediction": float(p), "truth": float(t)}
                 for split in ("VAL", "TEST")
                 for r, p, t in zip(subset(split)[0], predictions[split], true[split])]
    pl.DataFrame(pred_rows).write_parquet(run_dir / ".predictions.tmp")
    os.replace(run_dir / ".predictions.tmp", run_dir / "predictions.parquet")

    common = {
        "run_id": run_id, "created_at": created.isoformat(), "preset": cfg.preset or "-",
        "weights": cfg.weights or "random init", "task": task.name, "task_version": task.version,
        "protocol": protocol.name, "protocol_version": protocol.version, "units": task.units,
        "dataset": Path(cfg.data).resolve().name, "dataset_hash": dhash, "synthetic": synthetic,
        "seed": cfg.seed, "config_hash": config_hash, "echobench_version": __version__,
        "plugin_versions": json.dumps(plugins, sort_keys=True), "git_sha": sha, "device": device,
        "precision": precision, "skipped": json.dumps(dict(skipped), sort_keys=True),
    }
    rows: list[dict[str, Any]] = []
    for split in ("VAL", "TEST"):
        for source, name, backbone, head in ((metrics, model_name, cfg.backbone, cfg.head),
                                              (constant, "constant (TRAIN mean)", "-", "-")):
            for metric, value in source[split].items():
                rows.append({**common, "model": name, "backbone": backbone, "head": head,
                             "split": split, "metric": metric, "value": value, "n": len(true[split])})
    record = write_record(rows, cfg.results, run_id)
    return RunResult(run_id=run_id, model=model_name, run_dir=run_dir, record=record, protocol_tag=protocol.tag,
                     task_tag=f"{task.name}@{task.version}", units=task.units, metrics=metrics,
                     constant=constant, n={s: len(true[s]) for s in SPLITS}, best_epoch=fitted.best_epoch,
                     skipped=dict(skipped))
