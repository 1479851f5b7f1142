"""Calibration of a binary task's probabilities: expected calibration error, Brier score and the
reliability diagram's points (track :data:`~echobench.evaluation.tracks.CALIBRATION`).

- ECE: ``sum_b |sum_{i in b} (p_i - y_i)| / N`` over 15 equal-width confidence bins of the positive-
  class probability (Guo et al., ICML 2017, eq. 3; Naeini et al., AAAI 2015), binned exactly as
  ``torchmetrics.functional.classification.binary_calibration_error(n_bins=15, norm="l1")`` (which
  computes the point value here).
- Brier score: mean ``(p - y)^2`` (Brier 1950; ``sklearn.metrics.brier_score_loss``).
- Reliability diagram: observed positive rate against mean predicted probability per bin
  (``sklearn.calibration.calibration_curve``, uniform bins), drawn by the leaderboard page.

Intervals are 95 % percentile bootstraps over videos (:func:`echobench.metrics.bootstrap_report`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch loads only when a report is computed (the leaderboard's diagram needs none)
    from echobench.metrics import Estimate

ECE_BINS = 15


def _probabilities(prob, target) -> tuple[np.ndarray, np.ndarray]:
    from echobench.metrics import pair

    prob, target = pair(prob, target, ("prob", "target"))
    if ((prob < 0) | (prob > 1)).any():
        raise ValueError("prob must be probabilities in [0, 1]")
    if not np.isin(target, (0.0, 1.0)).all():
        raise ValueError("target must be 0 or 1")
    return prob, target


def calibration_report(prob, target, *, n_bins: int = ECE_BINS, n_boot: int = 1000, seed: int = 0) -> dict[str, Estimate]:
    """``{"ECE", "Brier"}`` -> :class:`~echobench.metrics.Estimate` (fractions, lower is better).

    Args:
        prob: ``(N,)`` predicted probability of the positive class, in [0, 1].
        target: ``(N,)`` 0/1 true class.
        n_bins: equal-width confidence bins of the ECE.
        n_boot, seed: bootstrap resamples and seed (:func:`echobench.metrics.bootstrap_report`).

    Raises:
        ValueError: empty, non-1-D, non-finite or different-length inputs, probabilities outside
            [0, 1], targets other than 0/1, or ``n_boot < 0``.
    """
    import torch
    from torchmetrics.functional.classification import binary_calibration_error

    from echobench.metrics import bootstrap_report

    prob, target = _probabilities(prob, target)
    n = prob.size
    p, y = torch.from_numpy(prob), torch.from_numpy(target)
    points = {"ECE": float(binary_calibration_error(p, y.long(), n_bins=n_bins, norm="l1")),
              "Brier": float(((p - y) ** 2).mean())}
    # torchmetrics' bins: bucketize on linspace(0, 1, n_bins + 1), right=True (p = 1 gets its own bin)
    bins = torch.bucketize(p, torch.linspace(0, 1, n_bins + 1, dtype=p.dtype), right=True) - 1
    gap = torch.zeros(n, n_bins + 1, dtype=torch.float64).scatter_(1, bins[:, None], (p - y)[:, None])  # (N, bins)
    sq = (p - y) ** 2

    def batched(w: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"ECE": (w @ gap).abs().sum(dim=1) / n, "Brier": w @ sq / n}

    return bootstrap_report(points, batched, n, n_boot, seed)


def reliability_curve(prob, target, *, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability-diagram points: ``(mean predicted probability, observed positive rate, count)``
    per non-empty bin of ``n_bins`` equal-width bins (``sklearn.calibration.calibration_curve``).

    Raises:
        ValueError: as :func:`calibration_report`.
    """
    prob, target = _probabilities(prob, target)
    return reliability_points(prob, target, n_bins=n_bins)


def reliability_points(prob: np.ndarray, target: np.ndarray, *, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`reliability_curve` of already checked ``(N,)`` float arrays (probabilities in [0, 1],
    0/1 targets), without importing torch (the leaderboard page draws it)."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(target, prob, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], prob), minlength=n_bins)  # sklearn's binning
    return predicted, observed, counts[counts > 0]
