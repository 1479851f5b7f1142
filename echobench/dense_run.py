"""``echobench run`` for the dense task kinds (``segmentation``, ``frames``): read, train, score, record.

:func:`run_experiment` (:mod:`echobench.runner`) hands a run here when the task's kind or the head's
output is dense (:func:`is_dense`). The data are read and decoded by the runner's
:func:`~echobench.runner.prepare_data`; videos without distinct ED/ES frames inside the video (and, for
segmentation, without both traced masks: the dataset's ``DatasetSpec.masks``) are skipped and counted.
Clips follow :mod:`echobench.data.dense_clips`; training :mod:`echobench.engine.dense`; scores
:mod:`echobench.evaluation.segmentation` / :mod:`echobench.evaluation.frames`, next to their baseline rows
(the fixed TRAIN mean mask; a random frame guess). A segmentation model's masks also give EF rows
(task ``ef``, ``trained_on`` the segmentation task), scored like any EF model's, next to the
constant predictor (TRAIN mean EF) as every EF table has it.

The run directory holds ``config.json``, ``environment.json``, ``metrics.json``, ``log.txt``,
``best.safetensors``, ``predictions.parquet`` (one row per video and split: per-phase Dice and mask EF,
or predicted and traced ED/ES frames) and, for segmentation, ``masks_TEST.npz`` (uint8 ``pred`` and
``true`` ``(N, 2, H, W)``, ``file_names``) for the leaderboard's contour overlays. One process only.
"""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from echobench import __version__
from echobench.contract.specs import TASK_HEAD_OUTPUT, load_factory
from echobench.errors import ConfigError, DataError

DENSE_KINDS = ("segmentation", "frames")
DATASET = "echonet-dynamic"  # the layout of data prepared without a dataset spec


def is_dense(registry, task, head: str) -> bool:
    """True when the run is a dense one (task kind or head output dense).

    Raises:
        ConfigError: the head's output does not fit the task's kind (one line naming both).
    """
    hspec = registry.get("head", head)
    need = TASK_HEAD_OUTPUT[task.kind]
    if hspec.output != need:
        raise ConfigError(f"head {head!r} gives {hspec.output} but task {task.name!r} ({task.kind}) needs a "
                          f"head giving {need}; heads giving {need}: "
                          + (", ".join(n for n in registry.names("head") if registry.get("head", n).output == need)
                             or "none registered"))
    return task.kind in DENSE_KINDS


def _dense_records(data, task, registry, log) -> tuple[dict[str, list], dict[str, list], Counter]:
    """Per split, the records usable for ``task`` and (segmentation) their ``(2, H, W)`` ED/ES masks."""
    from echobench.data.dense_clips import phase_masks
    from echobench.data.echonet import SPLITS

    masks_of = None
    if task.kind == "segmentation":
        spec = getattr(data, "dataset_spec", None) or registry.get("dataset", DATASET)
        if not spec.masks:
            raise DataError(f"{data.root}: dataset {spec.name!r} declares no masks reader; task {task.name} needs one")
        masks_of = load_factory(spec.masks, owner=f"dataset {spec.name!r}")
    skipped: Counter = Counter()
    records: dict[str, list] = {s: [] for s in SPLITS}
    masks: dict[str, list] = {s: [] for s in SPLITS}
    for split in SPLITS:
        for r in data.records[split]:
            if r.ed_frame is None or r.es_frame is None or r.ed_frame == r.es_frame:
                reason = "no ED/ES traced frames"
            elif max(r.ed_frame, r.es_frame) >= r.num_frames:
                reason = "traced frame beyond the video"
            else:
                reason = None
                if masks_of is not None:
                    pair = phase_masks(masks_of(r), r, data.frame_size)
                    reason = "no traced ED/ES mask" if pair is None else None
            if reason is not None:
                skipped[f"{reason} (task {task.name})"] += 1
                log(f"{r.path}: {reason}; skipped for task {task.name}")
                continue
            records[split].append(r)
            if masks_of is not None:
                masks[split].append(pair)
        if not records[split]:
            raise DataError(f"{data.root}: no {split} video is usable for task {task.name} "
                            f"(skipped: {dict(skipped) or 'none'})")
    return records, masks, skipped


def run_dense(cfg, task, *, registry, progress=None, log: Callable[[str], None] | None = None,
              echo: Callable[[str], None] | None = None, prepared=None, stop: Callable[[], bool] | None = None):
    """Run one dense experiment end to end (module docstring); returns a :class:`~echobench.runner.RunResult`
    whose ``metrics``/``constant`` (and ``*_ci``) hold the task's own rows for the model and its baseline.
    ``prepared``: the runner's :class:`~echobench.runner.PreparedData` for this task's label (read if None);
    ``stop``: polled after every training step.

    Raises:
        ConfigError: several processes, ``resume`` or ``robustness`` requested (not supported for dense
            tasks yet); unwritable output folders; head/task mismatch.
        DataError: the data cannot be used, or a split has no usable video.
        TrainingError: training diverged.
    """
    import torch
    from echobench.engine.seeding import seed_everything
    from torch.utils.data import DataLoader

    from echobench.atomic import atomic_save_safetensors, atomic_write_bytes, atomic_write_parquet, atomic_write_text
    from echobench.data.dense_clips import CLIP_RULE, DenseClipDataset
    from echobench.engine.dense import fit_dense, init_mask_prior, predict_dense, val_score_name
    from echobench.engine.devices import make_fabric
    from echobench.evaluation import CONSTANT
    from echobench.engine.loop import TrainSettings
    from echobench.engine.model import build_model
    from echobench.experiment.record import MODEL_FREE, plugin_provenance, provenance, record_row, write_environment
    from echobench.provenance import device_name, git_sha, stable_hash
    from echobench.protocols import get_protocol
    from echobench.results.records import write_record
    from echobench.runlog import RunLog
    from echobench.experiment.task_data import decode_workers_of
    from echobench.runner import EVAL_SPLITS, RunResult, check_outputs, prepare_data

    runlog = RunLog(echo=echo)
    warn = log or (lambda _msg: None)

    def note(message: str) -> None:
        warn(message)
        runlog.line(f"note: {message}", echo=False)

    refused = (("--resume", cfg.resume), ("--robustness", cfg.robustness), ("--eval-data", bool(cfg.eval_data)))
    for flag, wanted in refused:
        if wanted:
            raise ConfigError(f"{flag} is not supported for task {task.name} ({task.kind}) yet; run it without {flag}")
    protocol = get_protocol(cfg.protocol)
    fabric = make_fabric(gpus=cfg.gpus, precision=cfg.precision, cpu_processes=cfg.cpu_processes)
    if fabric.world_size > 1:
        raise ConfigError(f"task {task.name} ({task.kind}) runs in one process; drop --gpus N > 1 / cpu processes")
    check_outputs(cfg.results, cfg.runs)
    device = fabric.device
    with runlog.phase("read and decode data"):
        data = prepared or prepare_data(Path(cfg.data), task, protocol, progress=progress, log=note,
                                        dataset=cfg.dataset, workers=decode_workers_of(cfg, fabric))
        records, masks, dense_skipped = _dense_records(data, task, registry, note)
    skipped = data.skipped + dense_skipped
    from echobench.data.resolve import dataset_identity
    from echobench.experiment.weights import resolve_weights

    weights = resolve_weights(registry.get("backbone", cfg.backbone.split(":")[0]), cfg.weights)
    dataset_tag = dataset_identity(data.dataset_spec or registry.get("dataset", DATASET))
    identity = {**cfg.hashed(), "precision": "32-true", "dataset_hash": data.dataset_hash, **dataset_tag,
                "clip_rule": CLIP_RULE, "weights_sha256": weights.sha256[:16] if weights.sha256 else None}
    config_hash = stable_hash(identity)
    setup_hash = stable_hash({k: v for k, v in identity.items() if k != "seed"})
    created = datetime.now(timezone.utc)
    run_id = f"{created:%Y%m%dT%H%M%S}-{cfg.backbone}-{cfg.head}-{cfg.task}-s{cfg.seed}-{uuid.uuid4().hex[:6]}"
    run_dir = Path(cfg.runs) / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    atomic_write_text(run_dir / "config.json", json.dumps(
        {**identity, "data": str(Path(cfg.data).resolve()), "config_hash": config_hash, "setup_hash": setup_hash,
         "protocol_version": protocol.version, "task_version": task.version}, indent=2))
    runlog.attach(run_dir)
    runlog.line(f"started run {run_id} (echobench {__version__}, device {device}, precision 32-true)")
    runlog.settings(identity)
    runlog.counts("skipped (videos, by reason)", skipped)

    seed_everything(cfg.seed)
    seg = task.kind == "segmentation"
    datasets = {s: DenseClipDataset(records[s], protocol, train=s == "TRAIN", masks=masks[s] if seg else None,
                                    frame_size=data.frame_size, seed=cfg.seed) for s in records}
    loaders = {"TRAIN": DataLoader(datasets["TRAIN"], batch_size=cfg.batch_size, shuffle=True,
                                   generator=torch.Generator().manual_seed(cfg.seed))}
    for s in EVAL_SPLITS:
        loaders[s] = DataLoader(datasets[s], batch_size=cfg.batch_size, shuffle=False)
    model = build_model(registry, backbone=cfg.backbone, head=cfg.head, preset=cfg.preset, weights=weights.path,
                        backbone_options=cfg.backbone_options, head_options=cfg.head_options,
                        clip_shape=(protocol.frames, protocol.size, protocol.size),
                        unit_input=protocol.normalization == "unit").to(device)
    if cfg.freeze_backbone:
        model.backbone.requires_grad_(False)
    if seg and init_mask_prior(model, masks["TRAIN"], (protocol.size, protocol.size)):
        runlog.line("segmentation head starts at the TRAIN mean mask (its logit prior)")
    truth = {s: np.stack(masks[s]) if seg else np.array([[r.ed_frame, r.es_frame] for r in records[s]])
             for s in records}
    settings = TrainSettings(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                             weight_decay=cfg.weight_decay, seed=cfg.seed)
    with runlog.phase("train"):
        fitted = fit_dense(model, loaders["TRAIN"], loaders["VAL"], kind=task.kind, protocol=protocol,
                           settings=settings, val_truth=truth["VAL"], frame_size=data.frame_size, stats=data.stats,
                           device=device, progress=progress,
                           on_epoch=runlog.epochs(cfg.epochs, val_score_name(task.kind)), stop=stop)
    runlog.line(f"checkpoint: epoch {fitted.best_epoch} (lowest {val_score_name(task.kind)})")
    with runlog.phase("evaluate VAL and TEST"):
        preds = {s: predict_dense(model, loaders[s], protocol, task.kind, frame_size=data.frame_size,
                                  stats=data.stats, device=device,
                                  advance=progress(f"evaluate {s}", len(datasets[s])) if progress else None)
                 for s in EVAL_SPLITS}
    model_name = f"{cfg.backbone}+{cfg.head}" + (" [frozen backbone]" if cfg.freeze_backbone else "")
    with runlog.phase(f"score with {cfg.n_boot} bootstrap resamples"):
        scored, pred_rows, baseline = _score(task, registry, records, truth, preds, model_name, cfg.n_boot)

    # --- run directory and record ------------------------------------------------------------------
    import polars as pl

    sha, dev = git_sha(), device_name(device)
    plugins = plugin_provenance(registry, (("backbone", cfg.backbone), ("head", cfg.head), ("task", cfg.task)))
    atomic_save_safetensors({k: v.contiguous() for k, v in fitted.best_state.items()}, run_dir / "best.safetensors")
    write_environment(run_dir, sha=sha, device=dev, plugins=plugins, precision="32-true")
    atomic_write_parquet(pl.DataFrame(pred_rows), run_dir / "predictions.parquet")
    if seg:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, pred=preds["TEST"].masks.astype(np.uint8), true=truth["TEST"].astype(np.uint8),
                            file_names=np.array([r.file_name for r in records["TEST"]]))
        atomic_write_bytes(run_dir / "masks_TEST.npz", buffer.getvalue())
    common = provenance(cfg, run_id=run_id, created=created, weights=weights, task=task, protocol=protocol,
                        protocol_version=f"{protocol.version}+{CLIP_RULE}", data=data, config_hash=config_hash,
                        setup_hash=setup_hash, plugins=plugins, sha=sha, device=dev, precision="32-true",
                        skipped=skipped, run_dir=run_dir, dataset_tag=dataset_tag)
    rows = [record_row(common, s, registry.get("task", s.task), split=split, clips="one", n=len(records[split]),
                       model=name, **{"backbone": cfg.backbone, "head": cfg.head,
                                      **(MODEL_FREE if name in (baseline, CONSTANT) else {})})
            for name, split, s in scored]

    def own(who: str, part=lambda e: e.value) -> dict[str, dict[str, Any]]:
        return {sp: {s.metric: part(s.estimate)
                     for n, sp2, s in scored if n == who and sp2 == sp and s.task == task.name}
                for sp in EVAL_SPLITS}

    table = {who: own(who) for who in (model_name, baseline)}
    interval = {who: own(who, lambda e: (e.low, e.high)) for who in (model_name, baseline)}
    atomic_write_text(run_dir / "metrics.json", json.dumps(
        {"kind": task.kind, "protocol": protocol.tag, "clip_rule": CLIP_RULE, "model": table[model_name],
         "baseline": {"name": baseline, **table[baseline]},
         "scores": [{"model": n, "split": sp, "task": s.task, "metric": s.metric, "value": s.estimate.value,
                     "ci_low": s.estimate.low, "ci_high": s.estimate.high} for n, sp, s in scored],
         "best_epoch": fitted.best_epoch, "val_score_per_epoch": fitted.val_score,
         "val_score": val_score_name(task.kind), "train_loss_per_epoch": fitted.train_loss,
         "skipped": dict(skipped), "notes": dict(data.notes)}, indent=2, default=float))
    record = write_record(rows, cfg.results, run_id)
    for split in EVAL_SPLITS:
        runlog.line(f"{split}: " + ", ".join(f"{k} {v:.4g}" for k, v in table[model_name][split].items())
                    + f" | {baseline}: " + ", ".join(f"{k} {v:.4g}" for k, v in table[baseline][split].items()))
    runlog.line(f"finished: record {record}")
    return RunResult(run_id=run_id, model=model_name, run_dir=run_dir, record=record, protocol_tag=protocol.tag,
                     task_tag=f"{task.name}@{task.version}", units=task.units, kind=task.kind,
                     metrics=table[model_name], constant=table[baseline], n={s: len(records[s]) for s in records},
                     best_epoch=fitted.best_epoch, skipped=dict(skipped), notes=dict(data.notes), log=runlog.path,
                     metrics_ci=interval[model_name], constant_ci=interval[baseline])


def _score(task, registry, records, truth, preds, model_name: str, n_boot: int):
    """``(scored, prediction rows, baseline name)``: scored is ``[(model, split, Score)]``."""
    from echobench.evaluation import CONSTANT, constant_outputs, score_outputs
    from echobench.evaluation.frames import RANDOM_GUESS, frame_scores, random_guess
    from echobench.evaluation.segmentation import MEAN_MASK, mask_ef, mean_masks, segmentation_scores

    scored, rows = [], []
    if task.kind == "segmentation":
        ef_task = registry.get("task", "ef")
        fixed = mean_masks(truth["TRAIN"])
        for split, pred in preds.items():
            true_ef = np.array([r.label(task.label) for r in records[split]])
            base = np.broadcast_to(fixed, truth[split].shape)
            for name, masks in ((model_name, pred.masks), (MEAN_MASK, base)):
                rows_, dice = segmentation_scores(task.name, masks, truth[split], n_boot=n_boot, seed=0)
                ef = mask_ef(masks)
                scored += [(name, split, s) for s in rows_]
                scored += [(name, split, s)
                           for s in score_outputs(ef_task, ef, true_ef, true_ef, n_boot=n_boot, seed=0)]
                if name == model_name:
                    rows += [{"FileName": r.file_name, "split": split, "ED_frame": r.ed_frame, "ES_frame": r.es_frame,
                              "Dice[ED]": float(d[0]), "Dice[ES]": float(d[1]), "prediction": float(e),
                              "truth": float(t), "EF": float(t)}
                             for r, d, e, t in zip(records[split], dice, ef, true_ef)]
            train_ef = np.array([r.label(task.label) for r in records["TRAIN"]])  # the EF rows' own constant
            const = constant_outputs(ef_task, train_ef, len(true_ef))
            scored += [(CONSTANT, split, s)
                       for s in score_outputs(ef_task, const, true_ef, true_ef, n_boot=n_boot, seed=0)]
        return scored, rows, MEAN_MASK
    for split, pred in preds.items():
        guess = random_guess(pred.frame_indices)
        for name, frames in ((model_name, pred.frames), (RANDOM_GUESS, guess)):
            scored += [(name, split, s) for s in frame_scores(task.name, frames, truth[split], n_boot=n_boot, seed=0)]
        rows += [{"FileName": r.file_name, "split": split, "pred_ED": int(p[0]), "pred_ES": int(p[1]),
                  "true_ED": int(t[0]), "true_ES": int(t[1])}
                 for r, p, t in zip(records[split], pred.frames, truth[split])]
    return scored, rows, RANDOM_GUESS
