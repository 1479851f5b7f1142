"""Pictures of the dense tasks: predicted vs traced LV contours on a few frames, and per-video score
distributions (Dice, frame error). Same canvas and atomic PNG writing as :mod:`echobench.results.plots`
(Agg, no pyplot; importing this module imports neither matplotlib nor torch)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from echobench.results.plots import _new_axes, _note, _save

TRACED, PREDICTED = "#2ca02c", "#d62728"  # green: traced; red: predicted


def contour_overlay(images: Sequence[np.ndarray | None], traced: Sequence[np.ndarray], predicted: Sequence[np.ndarray],
                    captions: Sequence[str], *, title: str, path: str | os.PathLike) -> Path:
    """Panels of ``(H, W)`` frames (uint8 grey; None: black) with the traced mask's contour (green) and
    the predicted mask's (red), one panel per ``(image, traced, predicted, caption)``; one PNG."""
    fig, ax = _new_axes(title)
    n = len(traced)
    if n == 0:
        _note(ax, "no frames to show")
        return _save(fig, path)
    ax.remove()
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig.set_size_inches(2.4 * cols + 0.4, 2.5 * rows + 0.7)
    for i in range(n):
        a = fig.add_subplot(rows, cols, i + 1)
        t, p = np.asarray(traced[i], dtype=bool), np.asarray(predicted[i], dtype=bool)
        image = images[i] if images[i] is not None else np.zeros(t.shape, np.uint8)
        a.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        for mask, colour in ((t, TRACED), (p, PREDICTED)):
            if mask.any() and not mask.all():
                a.contour(mask.astype(float), levels=[0.5], colors=colour, linewidths=1.2)
        a.set_title(captions[i], fontsize=8)
        a.set_xticks([])
        a.set_yticks([])
    fig.text(0.01, 0.005, "green: traced · red: predicted", fontsize=8)
    return _save(fig, path)


def distribution(values: dict[str, np.ndarray], *, xlabel: str, title: str, path: str | os.PathLike,
                 bins: np.ndarray | int = 20) -> Path:
    """Overlaid histograms of per-video values (one per label, e.g. ``Dice[ED]``/``Dice[ES]``), each
    labelled with its mean and N; non-finite values are left out."""
    fig, ax = _new_axes(title)
    shown = 0
    for label, v in values.items():
        v = np.asarray(v, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            ax.hist(v, bins=bins, alpha=0.55, label=f"{label} (mean {v.mean():.3g}, N = {v.size})")
            shown += 1
    if not shown:
        _note(ax, "no videos to plot")
    else:
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("videos")
    return _save(fig, path)
