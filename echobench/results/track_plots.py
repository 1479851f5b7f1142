"""Pictures of the evaluation tracks: the reliability diagram of a binary task's probabilities.

Same conventions as :mod:`echobench.results.plots` (Agg canvas, no pyplot, one PNG written
atomically, degenerate input gives a PNG with a note).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from echobench.results.plots import _few_videos_note, _new_axes, _pairs, _save

BINS = 10


def reliability_diagram(prob: Any, target: Any, *, title: str, path: str | os.PathLike, n_bins: int = BINS) -> Path:
    """Observed positive rate against mean predicted probability per bin (``n_bins`` equal-width bins;
    :func:`echobench.evaluation.calibration.reliability_curve`), the diagonal of perfect calibration,
    and the bins' video counts; the Brier score in the legend (ECE is in the track table). Returns the PNG's path.

    Args:
        prob: ``(N,)`` P(positive) in [0, 1]; target: ``(N,)`` 0/1. Non-finite pairs are left out.

    Raises:
        DataError: arrays not 1-D or of different lengths; the PNG cannot be written.
    """
    from echobench.evaluation.calibration import reliability_points  # sklearn only: the page imports no torch

    p, y, dropped = _pairs(prob, target, ("prob", "target"), str(path))
    fig, ax = _new_axes(title)
    if p.size < 2:
        _few_videos_note(ax, int(p.size), dropped)
        return _save(fig, path)
    p = np.clip(p, 0.0, 1.0)
    predicted, observed, counts = reliability_points(p, y, n_bins=n_bins)
    ax.plot([0, 1], [0, 1], color="#888", linestyle="--", linewidth=1, label="perfect calibration")
    ax.plot(predicted, observed, marker="o", color="#1f77b4",
            label=f"model (Brier {float(np.mean((p - y) ** 2)):.3f}; ECE in the track table)")
    for x, o, c in zip(predicted, observed, counts):
        ax.annotate(str(int(c)), (x, o), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed fraction positive")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)
