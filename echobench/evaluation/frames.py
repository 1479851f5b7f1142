"""Scores of the ``frames`` task kind: ED/ES frame localisation (core code).

Per video and phase, the absolute error ``|predicted - traced|`` in source-video frames (the
prediction is the clip frame with the highest logit, :mod:`echobench.engine.dense`). Rows:
``frame MAE[ED]``, ``frame MAE[ES]``, ``frame MAE`` (both phases' errors averaged per video; units
``frames``, the primary metric) and ``within ±2[ED]``, ``within ±2[ES]``
(fraction of videos whose error is at most :data:`TOLERANCE` frames), each a mean over videos with a
percentile-bootstrap interval (:func:`echobench.metrics.mean_report`).

Baseline: a random guess, a frame drawn uniformly from the clip's frames per phase
(``numpy.random.default_rng(RANDOM_SEED)``), the same for every model.
"""

from __future__ import annotations

import numpy as np

from echobench.evaluation import Score

RANDOM_GUESS = "random guess (uniform in the clip)"
RANDOM_SEED = 0
TOLERANCE = 2  # frames
PHASES = ("ED", "ES")


def random_guess(frame_indices: np.ndarray, seed: int = RANDOM_SEED) -> np.ndarray:
    """``(N, 2)`` source frames drawn uniformly among each clip's frames ``frame_indices (N, T)``."""
    frame_indices = np.asarray(frame_indices)
    pick = np.random.default_rng(seed).integers(0, frame_indices.shape[1], size=(len(frame_indices), 2))
    return np.take_along_axis(frame_indices, pick, axis=1)


def frame_scores(task_name: str, pred: np.ndarray, true: np.ndarray, *, n_boot: int = 1000,
                 seed: int = 0) -> list[Score]:
    """The frame-error rows of one split: ``pred, true (N, 2)`` ED/ES source frames.

    Raises:
        ValueError: the shapes differ or are not ``(N, 2)``.
    """
    from echobench.metrics import mean_report

    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape or pred.ndim != 2 or pred.shape[1] != 2:
        raise ValueError(f"frames must both be (N, 2), got {pred.shape} and {true.shape}")
    err = np.abs(pred - true)
    values = {f"frame MAE[{p}]": err[:, k] for k, p in enumerate(PHASES)} | {"frame MAE": err.mean(axis=1)}
    within = {f"within ±{TOLERANCE}[{p}]": (err[:, k] <= TOLERANCE).astype(np.float64) for k, p in enumerate(PHASES)}
    report = mean_report(values | within, n_boot=n_boot, seed=seed)
    return [Score(task_name, m, e, units="frames" if m.startswith("frame MAE") else "") for m, e in report.items()]
