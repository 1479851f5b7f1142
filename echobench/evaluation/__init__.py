"""Scores of one split in natural units, with bootstrap intervals, for a model and the constant
predictor (DESIGN §5; core code, so every row is obtained the same way).

- Regression tasks: MAE, RMSE, R² (sklearn), Pearson r; for the EF label also MAE per EF band. A
  regression task's declared derived tasks (``TaskSpec.derived``: ``ef`` declares ``ef50``) are scored
  from its predictions: an EF model yields the ``ef50`` numbers (reduced EF = EF < 50 % positive, and
  the EchoVisionFM paper's normal-positive convention), recorded under task ``ef50`` with
  ``trained_on = "ef"``.
- Binary tasks (``ef50``): accuracy, F1, AUROC for both conventions from P(label < threshold).
- The constant predictor is the TRAIN mean label (regression) or the TRAIN prevalence (binary).

Tracks beyond the main table (:mod:`echobench.evaluation.tracks`, versioned): calibration of binary
tasks (:mod:`.calibration`), agreement of regression tasks (:mod:`.agreement`), beat-level clips
(:mod:`.beats`); :func:`track_scores` gives a split's calibration/agreement rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from echobench.contract.specs import TaskSpec

if TYPE_CHECKING:  # torch and torchmetrics load only when something is scored (the leaderboard never does)
    from echobench.metrics import Estimate

CONSTANT = "constant (TRAIN mean)"
PROBABILITY_THRESHOLD = 0.5  # binary outputs are P(positive); positive when >= this
EF50 = "ef50"


@dataclass(frozen=True)
class Score:
    """One metric of one model on one split: the task it is scored as, its name and estimate.

    ``track``: the evaluation track's ``name@version`` (None: the main table). ``units``: the
    metric's units when they are not the task's ("" for fractions and unitless numbers). ``n``: the
    videos scored when fewer than the split's (a stratum).
    """

    task: str
    metric: str
    estimate: Estimate
    track: str | None = None
    units: str | None = None
    n: int | None = None  # videos behind the number when not the whole split (a stratum)


def score_outputs(task: TaskSpec, outputs: np.ndarray, labels: np.ndarray, ef: np.ndarray, *,
                  n_boot: int = 1000, seed: int = 0) -> list[Score]:
    """Score ``outputs (N,)`` (natural units, or P(positive) for binary tasks) against ``labels (N,)``.

    ``ef (N,)``: the videos' true EF in % (EF bands, ``ef50`` labels).
    """
    from echobench.metrics import ef50_report, regression_report

    if task.kind == "binary":  # positive: label < threshold (ef50: EF < 50 %)
        return [Score(task.name, m, e) for m, e in
                ef50_report(outputs, labels, threshold_score=PROBABILITY_THRESHOLD, n_boot=n_boot, seed=seed,
                            below=float(task.threshold)).items()]
    is_ef = task.label.upper() == "EF"  # EF-band MAE: the predicted quantity is EF
    scores = [Score(task.name, m, e) for m, e in
              regression_report(outputs, labels, ef=ef if is_ef else None, n_boot=n_boot, seed=seed).items()]
    for name in task.derived:
        scores += derived_scores(name, outputs, labels, n_boot=n_boot, seed=seed)
    return scores


def derived_scores(name: str, outputs: np.ndarray, labels: np.ndarray, *, n_boot: int = 1000,
                   seed: int = 0) -> list[Score]:
    """The rows of the derived binary task ``name`` (a regression task's ``TaskSpec.derived``, e.g.
    ``ef50`` of ``ef``) from predicted labels ``outputs (N,)`` against true labels ``(N,)``, both in
    the regression task's units: positive when the label < the derived task's ``threshold``
    (:func:`echobench.metrics.ef50_from_ef`).

    Raises:
        UnknownNameError: ``name`` is not a registered task.
        ValueError: ``name`` is not a binary task with a threshold.
    """
    from echobench.metrics import ef50_from_ef
    from echobench.registry import get_registry

    spec = get_registry().get("task", name)
    if spec.kind != "binary" or spec.threshold is None:
        raise ValueError(f"derived task {name} is not a binary task with a threshold")
    return [Score(spec.name, m, e) for m, e in
            ef50_from_ef(outputs, labels, below=float(spec.threshold), n_boot=n_boot, seed=seed).items()]


def ef50_scores_from_ef(pred_ef: np.ndarray, ef: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> list[Score]:
    """The ``ef50`` rows of a predicted EF ``(N,)`` in % against the true EF ``(N,)`` in %: reduced when
    EF < 50 (:func:`derived_scores` of task ``ef50``); what an EF model reports for ``ef50``."""
    return derived_scores(EF50, pred_ef, ef, n_boot=n_boot, seed=seed)


def check_finite(values: np.ndarray, what: str, *, log: Callable[[str], None] | None = None) -> None:
    """Stop an evaluation whose model outputs are not all finite: ``log("stopped: <what> predictions
    are not finite")`` (a run's ``log.txt`` line, :meth:`echobench.runlog.RunLog.line`), then the error.
    The one check of every evaluation path (VAL/TEST, beats, robustness in a run and afterwards).

    Args:
        values: ``(N,)`` outputs (natural units, or P(positive)).
        what: the predictions named in both lines, e.g. ``"TEST"``, ``"TEST beat"``.

    Raises:
        TrainingError: one line with the number of non-finite outputs (diverged; try a lower --lr).
    """
    from echobench.errors import TrainingError

    bad = int((~np.isfinite(np.asarray(values, dtype=np.float64))).sum())
    if bad:
        if log is not None:
            log(f"stopped: {what} predictions are not finite")
        raise TrainingError(f"{bad} {what} prediction(s) are not finite (diverged; try a lower --lr)")


def constant_outputs(task: TaskSpec, train_labels: np.ndarray, n: int) -> np.ndarray:
    """The constant predictor's outputs for ``n`` videos: TRAIN mean label, or TRAIN prevalence."""
    train_labels = np.asarray(train_labels, dtype=np.float64)
    if task.kind == "binary":
        return np.full(n, float(np.mean(train_labels < float(task.threshold))))
    return np.full(n, float(train_labels.mean()))


def track_scores(task: TaskSpec, outputs: np.ndarray, labels: np.ndarray, *,
                 val: tuple[np.ndarray, np.ndarray] | None = None, n_boot: int = 1000, seed: int = 0) -> list[Score]:
    """The calibration (binary) or agreement (regression) rows of one split's ``outputs (N,)``.

    Args:
        task: the task the outputs are for (binary: ``outputs`` are P(positive); positive when the
            label < ``task.threshold``; regression: natural units).
        labels: ``(N,)`` the split's labels (natural units; EF in % for ``ef50``).
        val: ``(outputs, labels)`` of VAL to fit split-conformal intervals on (regression; give it
            when scoring TEST).
        n_boot, seed: bootstrap resamples and seed.

    Raises:
        ValueError: as the track functions (:mod:`.calibration`, :mod:`.agreement`).
    """
    from echobench.evaluation import agreement, calibration
    from echobench.evaluation.tracks import AGREEMENT, CALIBRATION

    boot = {"n_boot": n_boot, "seed": seed}
    if task.kind == "binary":
        target = (np.asarray(labels, dtype=np.float64) < float(task.threshold)).astype(np.float64)
        rows = calibration.calibration_report(np.clip(outputs, 0.0, 1.0), target, **boot)
        return [Score(task.name, m, e, track=CALIBRATION.tag, units="") for m, e in rows.items()]
    out = [Score(task.name, m, e, track=AGREEMENT.tag, units=task.units)
           for m, e in agreement.bland_altman_report(outputs, labels, **boot).items()]
    if task.label.upper() == "EF":
        out += [Score(task.name, m, e, track=AGREEMENT.tag, units="")
                for m, e in agreement.ef_category_report(outputs, labels, **boot).items()]
    if val is not None:
        rows = agreement.conformal_report(val[0], val[1], outputs, labels, **boot)
        out += [Score(task.name, m, e, track=AGREEMENT.tag, units="" if m.endswith("coverage") else task.units)
                for m, e in rows.items()]
    return out
