"""Stage 4, evaluate: the trained model's predictions on VAL and TEST (:func:`predict_splits` ->
:class:`Predictions`: one clip per video, EchoNet's all-clips average under contiguous protocols, one
clip per detected beat on TEST, optionally TEST under perturbations), then every score with its
bootstrap interval next to the constant predictor (:func:`score_predictions`; on rank 0)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echobench.experiment.config import EVAL_SPLITS, RunConfig
from echobench.experiment.fit import Trained
from echobench.experiment.resolve import Setup
from echobench.experiment.task_data import PreparedData

Scored = tuple[str, str, str, Any]  # (model name, split, clips, Score)


@dataclass
class Predictions:
    """Outputs in natural units (or P(positive)): ``outputs[(split, clips)]`` ``(N,)`` with clips
    ``"one"``, ``"all"`` (contiguous protocols) and, after scoring, ``("TEST", "beats")``; the beats pass
    (:class:`~echobench.evaluation.beats.BeatOutputs`); TEST under each perturbation x severity or None."""

    outputs: dict[tuple[str, str], np.ndarray]
    beats: Any
    perturbed: dict[tuple[str, int], np.ndarray] | None
    external: list[np.ndarray] = field(default_factory=list)  # per external dataset (``--eval-data``), one clip


def external_data(cfg: RunConfig, setup: Setup, data: PreparedData) -> list:
    """The external validation datasets of ``cfg.eval_data``
    (:class:`~echobench.evaluation.external.ExternalData`), read and decoded with the run's protocol
    once for all the runs that share ``data`` (a sweep's: kept in ``data.externals`` by dataset, folder
    and task); a refused pairing fails here, before training."""
    from echobench.evaluation.external import prepare_external
    from echobench.experiment.task_data import decode_workers_of

    out = []
    with setup.runlog.phase("read and decode external validation data"):
        for name, root in cfg.eval_data:
            key = (name, str(Path(root).resolve()), setup.task.name)
            if key in data.externals:
                setup.runlog.line(f"external data: read and decoded before this run (shared by the runs of a "
                                  f"sweep): {root}")
            else:
                data.externals[key] = prepare_external(name, root, setup.task, setup.protocol,
                                                       trained_on=data.dataset_spec, progress=setup.progress,
                                                       log=setup.log, workers=decode_workers_of(cfg, setup.fabric))
            out.append(data.externals[key])
    return out


def predict_splits(cfg: RunConfig, setup: Setup, data: PreparedData, trained: Trained,
                   externals: list | None = None) -> Predictions:
    """Predict VAL and TEST with the best checkpoint (every rank takes part; outputs are gathered), and
    each external dataset of ``externals`` (:func:`external_data`) with one clip per video.

    Raises:
        TrainingError: a prediction (VAL/TEST, TEST beats, TEST perturbed, external) is not finite (diverged);
            ``log.txt`` says ``stopped: <split> predictions are not finite`` first
            (:func:`echobench.evaluation.check_finite`).
    """
    from echobench.engine.loop import predict, predict_all_clips
    from echobench.evaluation import check_finite
    from echobench.evaluation.beats import predict_beats

    fabric, protocol, objective, model = setup.fabric, setup.protocol, setup.objective, trained.model
    progress, runlog, n_test = setup.progress, setup.runlog, len(trained.datasets["TEST"])
    outputs: dict[tuple[str, str], np.ndarray] = {}
    with runlog.phase("evaluate VAL and TEST"):
        for split in EVAL_SPLITS:
            advance = progress(f"evaluate {split}", len(trained.datasets[split])) if progress else None
            outputs[split, "one"] = objective.outputs(predict(fabric, model, trained.loaders[split], protocol,
                                                              stats=data.stats, advance=advance))
            if protocol.period is not None:  # contiguous clips: also EchoNet's all-clips average
                advance = progress(f"evaluate {split} (all clips)", len(trained.datasets[split])) if progress else None
                outputs[split, "all"] = objective.outputs(predict_all_clips(
                    fabric, model, data.videos(split), protocol, batch_size=cfg.batch_size, stats=data.stats,
                    advance=advance))
    for (split, _clips), out in outputs.items():
        check_finite(out, split, log=runlog.line)
    advance = progress("evaluate TEST (one clip per detected beat)", n_test) if progress else None
    beats = predict_beats(fabric, model, data.records["TEST"], protocol, objective=objective,
                          batch_size=cfg.batch_size, stats=data.stats, advance=advance, frame_size=data.frame_size,
                          videos=data.videos("TEST"))
    check_finite(beats.outputs, "TEST beat", log=runlog.line)
    perturbed = None
    if cfg.robustness:
        from echobench.evaluation.robustness import check_perturbed, predict_perturbed

        advance = progress("evaluate TEST under perturbations", n_test) if progress else None
        perturbed = predict_perturbed(fabric, model, data.records["TEST"], protocol, objective=objective,
                                      batch_size=cfg.batch_size, stats=data.stats, seed=0, advance=advance,
                                      frame_size=data.frame_size, videos=data.videos("TEST"))
        check_perturbed(perturbed, log=runlog.line)
    from echobench.evaluation.external import predict_external

    ext_outputs = [predict_external(fabric, model, ext, protocol, objective=objective, batch_size=cfg.batch_size,
                                    stats=data.stats, frame_size=data.frame_size, seed=cfg.seed,
                                    num_workers=cfg.num_workers,
                                    advance=progress(f"evaluate {ext.spec.name} {ext.split} (external)",
                                                     len(ext.records))
                                    if progress else None) for ext in externals or []]
    for ext, out in zip(externals or [], ext_outputs):
        check_finite(out, f"{ext.spec.name} {ext.split} (external)", log=runlog.line)
    return Predictions(outputs=outputs, beats=beats, perturbed=perturbed, external=ext_outputs)


def score_predictions(cfg: RunConfig, setup: Setup, data: PreparedData, predictions: Predictions,
                      model_name: str) -> list[Scored]:
    """Every score of the run: the task's metrics per (split, clips) for the model and the constant
    (TRAIN mean) predictor, calibration/agreement tracks (TEST conformal fitted on VAL), the beats
    rows, TEST strata and, when perturbed, the degradation rows; ``cfg.n_boot`` bootstrap resamples,
    seed 0. Adds ``("TEST", "beats")`` to ``predictions.outputs``."""
    from echobench.evaluation import (
        CONSTANT,
        constant_outputs,
        score_outputs,
        track_scores,
    )
    from echobench.evaluation.beats import beat_scores
    from echobench.evaluation.strata import strata, stratum_scores, subgroup_strata

    task, outputs, beats, n_boot = setup.task, predictions.outputs, predictions.beats, cfg.n_boot
    scored: list[Scored] = []
    with setup.runlog.phase(f"score with {n_boot} bootstrap resamples"):
        for (split, clips), out in outputs.items():
            const = constant_outputs(task, data.labels["TRAIN"], len(out))
            for name, values in ((model_name, out), (CONSTANT, const)):
                for s in score_outputs(task, values, data.labels[split], data.ef[split], n_boot=n_boot, seed=0):
                    scored.append((name, split, clips, s))
        for (split, clips), out in outputs.items():  # calibration / agreement tracks (TEST conformal fitted on VAL)
            val_out = outputs[("VAL", clips)]
            for name, values, val_values in ((model_name, out, val_out),
                                             (CONSTANT, constant_outputs(task, data.labels["TRAIN"], len(out)),
                                              constant_outputs(task, data.labels["TRAIN"], len(val_out)))):
                val = (val_values, data.labels["VAL"]) if split == "TEST" else None
                scored += [(name, split, clips, s) for s in
                           track_scores(task, values, data.labels[split], val=val, n_boot=n_boot, seed=0)]
        scored += [(model_name, "TEST", "beats", s) for s in
                   beat_scores(task, beats, data.labels["TEST"], data.ef["TEST"], n_boot=n_boot, seed=0)]
        outputs["TEST", "beats"] = beats.outputs  # written to predictions.parquet with the other clips
        test = data.records["TEST"]
        groups = strata(data.ef["TEST"], [r.fps for r in test], [r.num_frames for r in test],
                        *beats.grey.T)  # brightness/contrast from the beats pass: TEST is decoded once
        # declared by the dataset
        groups += subgroup_strata(test, data.dataset_spec.subgroups if data.dataset_spec else ())
        scored += [(model_name, "TEST", "one", s) for s in stratum_scores(
            task, outputs["TEST", "one"], data.labels["TEST"], data.ef["TEST"], groups, n_boot=n_boot, seed=0)]
        if predictions.perturbed is not None:
            from echobench.evaluation.robustness import degradation_scores

            scored += [(model_name, "TEST", "one", s) for s in degradation_scores(
                task, outputs["TEST", "one"], predictions.perturbed, data.labels["TEST"], n_boot=n_boot, seed=0)]
    return scored
