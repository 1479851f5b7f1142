"""Stage 5, record: the run folder's files (best checkpoint, ``environment.json``,
``predictions.parquet``, one ``predictions.<folder>.<dataset hash>.parquet`` per external dataset,
``metrics.json``) and the append-only run record, one row per score with its
provenance (:func:`write_run` -> :class:`~echobench.experiment.config.RunResult`; rank 0)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from echobench.experiment.config import EVAL_SPLITS, RunConfig, RunResult
from echobench.experiment.evaluate import Predictions, Scored
from echobench.experiment.fit import Trained
from echobench.experiment.resolve import RunFolder, Setup
from echobench.experiment.task_data import PreparedData


MODEL_FREE = {"backbone": "-", "head": "-", "preset": "-", "weights": "-", "weights_sha256": None, "precision": "-",
              "setup_hash": "-"}  # the model fields of a row whose predictor depends on the data only (a constant)


def plugin_provenance(registry, named) -> dict[str, str]:
    """``{"<kind>:<name>": "<plugin> (<distribution> <version>)"}`` for each ``(kind, name)`` of ``named``
    (a backbone name may carry its variant tag)."""
    out = {}
    for kind, name in named:
        e = registry.entry(kind, name)
        out[f"{kind}:{name}"] = f"{e.plugin} ({e.distribution} {e.version})"
    return out


def write_environment(run_dir: Path, *, sha: str | None, device: str, plugins: dict[str, str],
                      precision: str | None = None) -> None:
    """``<run_dir>/environment.json``: package versions (:func:`echobench.provenance.environment`), git SHA,
    device, precision (when given) and the plugins of :func:`plugin_provenance`, atomically.

    Raises:
        WriteError: the file cannot be written.
    """
    from echobench.atomic import atomic_write_text
    from echobench.provenance import environment

    fields = {"git_sha": sha, "device": device, **({"precision": precision} if precision is not None else {})}
    atomic_write_text(Path(run_dir) / "environment.json",
                      json.dumps({**environment(), **fields, "plugins": plugins}, indent=2))


def provenance(cfg, *, run_id: str, created: datetime, weights, task, protocol, data, config_hash: str,
               setup_hash: str | None, plugins: dict[str, str], sha: str | None, device: str, precision: str,
               skipped, run_dir: Path, protocol_version: str | None = None,
               dataset_tag: dict[str, str] | None = None) -> dict[str, Any]:
    """The record fields every row of one run shares (:data:`echobench.results.records.RECORD_SCHEMA`).

    Args:
        cfg: the run's configuration (``preset``, ``data``, ``seed``).
        weights: the resolved weights (``name``, ``sha256``).
        task, protocol: the task trained on and the protocol (``protocol_version``: another version tag,
            e.g. a dense run's clip rule).
        data: the run's prepared data (``dataset_hash``, ``synthetic``, ``notes``); ``skipped``: the
            videos skipped by reason.
        setup_hash: None leaves it to each row (a probe grid's rows have one each).
        dataset_tag: :func:`echobench.data.resolve.dataset_identity` (None: not recorded).
    """
    from echobench import __version__

    tag = ({"dataset_version": dataset_tag["dataset_version"], "trained_on_dataset": dataset_tag["dataset_name"],
            "evaluated_on_dataset": dataset_tag["dataset_name"], "trained_on_dataset_hash": data.dataset_hash}
           if dataset_tag is not None else {})
    return {
        "run_id": run_id, "created_at": created.isoformat(), "preset": cfg.preset or "-",
        "weights": weights.name, "weights_sha256": weights.sha256, "trained_on": task.name,
        "protocol": protocol.name, "protocol_version": protocol_version or protocol.version,
        "dataset": Path(cfg.data).resolve().name, "dataset_hash": data.dataset_hash, "synthetic": data.synthetic,
        **tag, "seed": cfg.seed, "config_hash": config_hash,
        **({"setup_hash": setup_hash} if setup_hash is not None else {}),
        "echobench_version": __version__, "plugin_versions": json.dumps(plugins, sort_keys=True), "git_sha": sha,
        "device": device, "precision": precision, "skipped": json.dumps(dict(skipped), sort_keys=True),
        "notes": json.dumps(dict(data.notes), sort_keys=True), "source": "run", "run_dir": str(Path(run_dir).resolve()),
    }


def record_row(common: dict[str, Any], score, scored_task, *, split: str, clips: str, n: int,
               **fields: Any) -> dict[str, Any]:
    """One record row: ``common`` (:func:`provenance`), then ``score`` (an
    :class:`echobench.evaluation.Score` of ``scored_task``) on ``split``/``clips`` with its units (the
    score's own, else the task's; ``""`` for a binary task) and ``n`` (the score's own when set: a
    stratum), then ``fields`` (``model``, ``backbone``, ``head``, :data:`MODEL_FREE`, ...), which win."""
    units = score.units if score.units is not None else "" if scored_task.kind == "binary" else scored_task.units
    return {**common, "task": score.task, "task_version": scored_task.version, "track": score.track, "units": units,
            "split": split, "clips": clips, "metric": score.metric, "value": score.estimate.value,
            "ci_low": score.estimate.low, "ci_high": score.estimate.high,
            "n": score.n if score.n is not None else n, **fields}


def _tables(scored: list[Scored], name: str, clips: str, task_name: str):
    """``(values, intervals)``: split -> metric -> value and split -> metric -> (low, high) of ``name``'s
    main (track-less) rows on ``clips``."""
    rows = [(sp, s) for m, sp, c, s in scored if m == name and c == clips and s.task == task_name and s.track is None]
    return ({split: {s.metric: s.estimate.value for sp, s in rows if sp == split} for split in EVAL_SPLITS},
            {split: {s.metric: (s.estimate.low, s.estimate.high) for sp, s in rows if sp == split}
             for split in EVAL_SPLITS})


def _prediction_rows(records, split: str, clips: str, outputs, truth, ef) -> list[dict[str, Any]]:
    """The rows of a predictions file (``predictions.parquet`` schema): FileName, split, clips,
    prediction, truth (natural units, or P(positive) for prediction), EF (%, NaN where unknown)."""
    return [{"FileName": r.file_name, "split": split, "clips": clips, "prediction": float(p), "truth": float(t),
             "EF": float(e)} for r, p, t, e in zip(records, outputs, truth, ef)]


def write_run(cfg: RunConfig, setup: Setup, data: PreparedData, folder: RunFolder, trained: Trained,
              predictions: Predictions, scored: list[Scored], model_name: str,
              externals: list | None = None) -> RunResult:
    """Write the run folder and the run record, mark the run complete, log the headline numbers.
    ``externals`` (:func:`~echobench.experiment.evaluate.external_data`, outputs in
    ``predictions.external``) add rows scored on each external dataset (``evaluated_on_dataset``).

    Raises:
        WriteError: an output could not be written (disk full), naming the file.
    """
    import polars as pl

    from echobench.atomic import (
        atomic_save_safetensors,
        atomic_write_parquet,
        atomic_write_text,
    )
    from echobench.data.resolve import dataset_identity
    from echobench.engine import run_state
    from echobench.evaluation import CONSTANT
    from echobench.evaluation.external import external_predictions_path, external_provenance, external_rows
    from echobench.provenance import device_name, git_sha
    from echobench.results.leaderboard import units_label
    from echobench.results.records import write_record

    task, protocol, registry, runlog = setup.task, setup.protocol, setup.registry, setup.runlog
    run_dir, fitted, outputs = folder.run_dir, trained.fitted, predictions.outputs
    created = datetime.now(timezone.utc)
    sha = git_sha()
    plugins = plugin_provenance(registry, (("backbone", cfg.backbone), ("head", cfg.head), ("task", cfg.task)))
    device = device_name(setup.fabric.device)
    atomic_save_safetensors({k: v.contiguous() for k, v in (fitted.best_state or {}).items()},
                            run_dir / "best.safetensors")
    write_environment(run_dir, sha=sha, device=device, plugins=plugins, precision=setup.precision)

    metrics, metrics_ci = _tables(scored, model_name, "one", task.name)
    constant, constant_ci = _tables(scored, CONSTANT, "one", task.name)
    all_clips, all_clips_ci = _tables(scored, model_name, "all", task.name) if protocol.period is not None else ({}, {})

    atomic_write_parquet(pl.DataFrame([row for (split, clips), out in outputs.items() for row in _prediction_rows(
        data.records[split], split, clips, out, data.labels[split], data.ef[split])]), run_dir / "predictions.parquet")
    externals = externals or []
    for ext, out in zip(externals, predictions.external):  # one file per external dataset, same schema
        path = external_predictions_path(run_dir, ext.root.resolve().name, ext.dataset_hash)
        atomic_write_parquet(pl.DataFrame(_prediction_rows(ext.records, ext.split, "one", out, ext.labels, ext.ef)),
                             path)
        runlog.line(f"external predictions: {ext.spec.name} ({ext.root.resolve().name}) {ext.split} -> {path.name}")

    common = provenance(cfg, run_id=folder.run_id, created=created, weights=setup.weights, task=task,
                        protocol=protocol, data=data, config_hash=folder.config_hash, setup_hash=folder.setup_hash,
                        plugins=plugins, sha=sha, device=device, precision=setup.precision, skipped=data.skipped,
                        run_dir=run_dir, dataset_tag=dataset_identity(data.dataset_spec))
    external_scored = [(name, ext.split, "one", s, ext) for ext, out in zip(externals, predictions.external)
                       for name, s in external_rows(task, ext, out, data.labels["TRAIN"], model_name=model_name,
                                                    n_boot=cfg.n_boot)]
    rows: list[dict[str, Any]] = []
    for name, split, clips, s, ext in [(*x, None) for x in scored] + external_scored:
        scored_task = task if s.task == task.name else registry.get("task", s.task)
        fields = {"backbone": cfg.backbone, "head": cfg.head, **(MODEL_FREE if name == CONSTANT else {}),
                  **(external_provenance(ext) if ext is not None else {})}
        rows.append(record_row(common, s, scored_task, split=split, clips=clips,
                               n=len(data.labels[split]) if ext is None else len(ext.labels), model=name, **fields))
    beats = predictions.beats
    atomic_write_text(run_dir / "metrics.json", json.dumps(
        {"units": units_label(task.units, task.label), "kind": task.kind, "protocol": protocol.tag, "model": metrics,
         "constant_train_mean": constant, "all_clips": all_clips,
         "scores": [{"model": m, "split": sp, "clips": c, "task": s.task, "track": s.track, "metric": s.metric,
                     "value": s.estimate.value, "ci_low": s.estimate.low, "ci_high": s.estimate.high}
                    for m, sp, c, s in scored],
         "best_epoch": fitted.best_epoch, "val_score_per_epoch": fitted.val_score,
         "val_score": setup.objective.val_score_name, "train_loss_per_epoch": fitted.train_loss,
         "skipped": dict(data.skipped), "notes": dict(data.notes),
         "beats_fallback": beats.fallback}, indent=2, default=float))
    record = write_record(rows, cfg.results, folder.run_id)
    run_state.finish(run_dir)
    for split in EVAL_SPLITS:
        runlog.line(f"{split}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics[split].items())
                    + " | constant: " + ", ".join(f"{k} {v:.4g}" for k, v in constant[split].items()))
    runlog.line(f"finished: record {record}")
    return RunResult(run_id=folder.run_id, model=model_name, run_dir=run_dir, record=record,
                     protocol_tag=protocol.tag, task_tag=f"{task.name}@{task.version}", units=task.units,
                     kind=task.kind, metrics=metrics, constant=constant, all_clips=all_clips,
                     n={s: len(data.labels[s]) for s in data.labels}, best_epoch=fitted.best_epoch,
                     skipped=dict(data.skipped), resumed=folder.resumed, notes=dict(data.notes), label=task.label,
                     external=[(f"{ext.spec.name} ({ext.root.resolve().name})", ext.split,
                                {s.metric: s.estimate.value for n, sp, c, s, e in external_scored
                                 if e is ext and n == model_name and s.task == task.name})
                               for ext in externals],
                     metrics_ci=metrics_ci, constant_ci=constant_ci, all_clips_ci=all_clips_ci, log=runlog.path)
