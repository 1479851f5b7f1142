"""Leaderboard pictures: predicted-vs-true scatter, Bland–Altman, ROC and confusion matrix (DESIGN §7).

Each function takes 1-D numpy arrays ``(N,)`` in natural units (EF in %, volumes in mL), draws one
figure with matplotlib's Agg canvas and writes ONE PNG atomically (temporary file, fsync, rename;
:func:`echobench.atomic.atomic_write_bytes`), then returns its :class:`~pathlib.Path`. The figures
are built with :class:`matplotlib.figure.Figure` on an explicit ``FigureCanvasAgg``, never through
``pyplot``: no global backend is switched, no figure is registered with pyplot (so none can leak or
needs closing), and importing this module imports neither matplotlib nor torch.

Degenerate input never crashes: pairs with a non-finite value are left out and counted on the
figure, fewer than two videos still give a PNG carrying a "too few videos" note, and a ROC over one
class says "AUROC undefined (one class)". Input that cannot be plotted at all (arrays of different
lengths, not 1-D, labels other than 0/1) raises :class:`~echobench.errors.DataError` naming the PNG.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from echobench.atomic import atomic_write_bytes
from echobench.errors import DataError

_FIGSIZE = (5.2, 4.8)  # inches
_DPI = 110  # -> about 570 x 530 px, small enough to embed in the HTML page
_MIN_VIDEOS = 2
_TITLE_CHARS = 52  # a longer title wraps onto the next line instead of running off the figure
_Z95 = 1.96  # Bland & Altman (1986): 95 % limits of agreement = bias ± 1.96 SD


# ---------------------------------------------------------------------------------------------- helpers

def _units_text(units: str) -> str:
    """Units as written after a number ("EF points" for EF's %, else the units themselves)."""
    from echobench.results.leaderboard import units_label  # lazy: leaderboard may import this module

    return units_label(units)


def _axis_quantity(units: str) -> str:
    """Axis-label quantity with units: ``"EF (%)"`` for EF, ``"(mL)"`` for volumes."""
    return "EF (%)" if units == "%" else f"({units})"


def _vector(values: Any, name: str, where: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"{where}: {name} must be a 1-D array (N,), got shape {arr.shape}")
    return arr


def _pairs(a: Any, b: Any, names: tuple[str, str], where: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Two float64 ``(N,)`` arrays with every pair holding a non-finite value removed, and how many were."""
    x = _vector(a, names[0], where)
    y = _vector(b, names[1], where)
    if len(x) != len(y):
        raise DataError(f"{where}: {names[0]} has {len(x)} values but {names[1]} has {len(y)}")
    try:
        x = x.astype(np.float64)
        y = y.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {names[0]} and {names[1]} must be numbers") from None
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep], int(len(keep) - keep.sum())


def _binary(values: np.ndarray, name: str, where: str) -> np.ndarray:
    """``values`` as int64 0/1, or a DataError naming the values that are not."""
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        shown = ", ".join(repr(v) for v in np.unique(values[bad])[:3].tolist())
        raise DataError(f"{where}: {name} must be 0 or 1, got {shown}")
    return values.astype(np.int64)


def _new_axes(title: str):
    """A fresh Agg-backed figure and its single axes (no pyplot, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=_FIGSIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title("\n".join(textwrap.wrap(title, _TITLE_CHARS)) or title, fontsize=10)  # never clipped
    return fig, ax


def _note(ax, text: str) -> None:
    """A boxed note in the middle of the axes (degenerate input)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11,
            bbox={"boxstyle": "round", "facecolor": "#fff4d6", "edgecolor": "#c9a227"})


def _few_videos_note(ax, n: int, dropped: int) -> None:
    extra = f"\n({dropped} non-finite left out)" if dropped else ""
    _note(ax, f"too few videos to plot (N = {n}){extra}")


def _save(fig, path: str | os.PathLike) -> Path:
    """Encode ``fig`` as PNG and write it atomically to ``path`` (parent folders created)."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    fig.clear()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise DataError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
    return path


# ------------------------------------------------------------------------------------------- numbers

def limits_of_agreement(pred: Any, true: Any) -> tuple[float, float, float]:
    """Bland–Altman bias and 95 % limits of agreement of ``pred`` against ``true``.

    Args:
        pred, true: ``(N,)`` arrays in the same natural units (EF in %, volumes in mL). Pairs with a
            non-finite value are left out.

    Returns:
        ``(bias, low, high)`` in those units: ``bias = mean(pred - true)``, ``low/high = bias ∓ 1.96 SD``
        with SD the sample standard deviation (``ddof=1``) of the differences. ``bias`` is NaN for
        no pair; ``low`` and ``high`` are NaN for fewer than two pairs.

    Raises:
        DataError: the arrays are not 1-D, not numeric, or differ in length.

    Source: Bland J.M., Altman D.G. (1986), "Statistical methods for assessing agreement between two
    methods of clinical measurement", Lancet 327(8476):307–310 (limits = mean difference ± 1.96 SD).
    """
    p, t, _ = _pairs(pred, true, ("pred", "true"), "limits_of_agreement")
    diff = p - t
    if len(diff) == 0:
        return math.nan, math.nan, math.nan
    bias = float(diff.mean())
    if len(diff) < 2:
        return bias, math.nan, math.nan
    sd = float(diff.std(ddof=1))
    return bias, bias - _Z95 * sd, bias + _Z95 * sd


def roc_points(score_positive: Any, label: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve and AUROC of ``score_positive`` for the positive class ``label == 1``.

    Args:
        score_positive: ``(N,)`` scores, larger = more likely positive (probabilities or logits; a
            monotone transform leaves the curve unchanged). Non-finite scores are left out.
        label: ``(N,)`` 0/1 (or bool) ground truth, 1 = positive (reduced EF, EF < 50 %).

    Returns:
        ``(fpr (K,), tpr (K,), auroc)``; for fewer than two videos or a single class the curve is
        empty and ``auroc`` is NaN (undefined).

    Raises:
        DataError: shapes differ, or a label is not 0/1.

    Source: the exact-threshold ROC of scikit-learn's ``sklearn.metrics.roc_curve`` (one point per
    distinct score, ties taken together) and the trapezoidal area under it, which equals
    torchmetrics' ``binary_auroc`` (the project's metric); written with numpy so that drawing the
    leaderboard never imports torch.
    """
    s, y, _ = _pairs(score_positive, label, ("score_positive", "label"), "roc_points")
    y = _binary(y, "label", "roc_points")
    if len(y) < _MIN_VIDEOS or y.min() == y.max():
        return np.empty(0), np.empty(0), math.nan
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last video of each distinct score
    tps = np.cumsum(y)[last].astype(np.float64)
    fps = (last + 1) - tps
    tpr, fpr = np.r_[0.0, tps / tps[-1]], np.r_[0.0, fps / fps[-1]]
    return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def confusion_counts(pred_label: Any, true_label: Any) -> np.ndarray:
    """2x2 confusion counts: ``counts[i, j]`` = videos of true class ``i`` predicted as class ``j``.

    Args:
        pred_label, true_label: ``(N,)`` 0/1 (or bool) labels; class 1 = reduced EF (EF < 50 %).

    Returns:
        int64 array ``(2, 2)``, rows = true class, columns = predicted class.

    Raises:
        DataError: shapes differ, or a label is not 0/1.
    """
    return _counts(pred_label, true_label, "confusion_counts")


def _counts(pred_label: Any, true_label: Any, where: str) -> np.ndarray:
    p = _binary(_vector(pred_label, "pred_label", where), "pred_label", where)
    t = _binary(_vector(true_label, "true_label", where), "true_label", where)
    if len(p) != len(t):
        raise DataError(f"{where}: pred_label has {len(p)} values but true_label has {len(t)}")
    return np.bincount(2 * t + p, minlength=4).reshape(2, 2).astype(np.int64)


# ------------------------------------------------------------------------------------------- figures

def scatter(pred: Any, true: Any, *, units: str, title: str, path: str | os.PathLike) -> Path:
    """Predicted vs true scatter with the identity line; N and MAE in the legend.

    Args:
        pred, true: ``(N,)`` predictions and ground truth in natural units (EF in %, volumes in mL).
        units: the task's units as stored in run records: ``"%"`` (EF) or ``"mL"``.
        title: figure title (task, model, split).
        path: the PNG to write.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, written atomically.

    Raises:
        DataError: the arrays do not fit together (see module docstring) or the PNG cannot be written.

    Source: the predicted-vs-actual EF plot of EchoNet-Dynamic (Ouyang et al., Nature 2020, Fig. 2);
    MAE = mean |pred − true| (numpy; the same number :func:`echobench.metrics.regression_metrics`
    gives the leaderboard table).
    """
    where = str(path)
    p, t, dropped = _pairs(pred, true, ("pred", "true"), where)
    fig, ax = _new_axes(title)
    quantity = _axis_quantity(units)
    ax.set_xlabel(f"true {quantity}")
    ax.set_ylabel(f"predicted {quantity}")
    n = len(p)
    if n:
        mae = float(np.mean(np.abs(p - t)))  # as echobench.metrics computes it, without importing torch
        label = f"N = {n}, MAE = {mae:.2f} {_units_text(units)}"
        if dropped:
            label += f"\n({dropped} non-finite left out)"
        ax.scatter(t, p, s=12, alpha=0.6, color="#1f77b4", edgecolors="none", label=label)
        lo, hi = float(min(p.min(), t.min())), float(max(p.max(), t.max()))
        pad = max(hi - lo, 1.0) * 0.05
        lo, hi = lo - pad, hi + pad
        ax.plot([lo, hi], [lo, hi], color="black", linestyle="--", linewidth=1, label="identity (y = x)")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal", adjustable="box")
        ax.legend(loc="upper left", fontsize=8)
    if n < _MIN_VIDEOS:
        _few_videos_note(ax, n, dropped)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def bland_altman(pred: Any, true: Any, *, units: str, title: str, path: str | os.PathLike) -> Path:
    """Bland–Altman plot: mean of the two vs their difference (pred − true), with bias and limits.

    Draws the bias line and the 95 % limits of agreement (bias ± 1.96 SD, values in the legend) as
    computed by :func:`limits_of_agreement`.

    Args:
        pred, true: ``(N,)`` predictions and ground truth in natural units (EF in %, volumes in mL).
        units: ``"%"`` (EF) or ``"mL"``.
        title: figure title.
        path: the PNG to write.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, written atomically.

    Raises:
        DataError: the arrays do not fit together or the PNG cannot be written.

    Source: Bland & Altman (1986), Lancet 327(8476):307–310.
    """
    where = str(path)
    p, t, dropped = _pairs(pred, true, ("pred", "true"), where)
    fig, ax = _new_axes(title)
    quantity = _axis_quantity(units)
    ax.set_xlabel(f"mean of predicted and true {quantity}")
    ax.set_ylabel(f"predicted − true {quantity}")
    n = len(p)
    text_units = _units_text(units)
    if n:
        bias, low, high = limits_of_agreement(p, t)
        ax.scatter((p + t) / 2, p - t, s=12, alpha=0.6, color="#1f77b4", edgecolors="none",
                   label=f"N = {n}" + (f" ({dropped} non-finite left out)" if dropped else ""))
        ax.axhline(bias, color="#d62728", linewidth=1.5, label=f"bias {bias:+.2f} {text_units}")
        if n >= _MIN_VIDEOS:
            ax.axhline(high, color="#555555", linestyle="--", linewidth=1,
                       label=f"bias + 1.96 SD = {high:+.2f} {text_units}")
            ax.axhline(low, color="#555555", linestyle="--", linewidth=1,
                       label=f"bias − 1.96 SD = {low:+.2f} {text_units}")
        ax.axhline(0.0, color="black", linewidth=0.5)
        fig.legend(loc="outside lower center", ncols=2, fontsize=8)  # below the axes: covers no line or point
    if n < _MIN_VIDEOS:
        _few_videos_note(ax, n, dropped)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def roc(score_positive: Any, label: Any, *, title: str, path: str | os.PathLike,
        positive_name: str = "reduced EF (EF < 50 %)") -> Path:
    """ROC curve of ``score_positive`` for ``label == 1`` with AUROC in the legend.

    Args:
        score_positive: ``(N,)`` scores, larger = more likely ``positive_name`` (probabilities or logits).
        label: ``(N,)`` 0/1 ground truth, 1 = ``positive_name``.
        title: figure title.
        path: the PNG to write.
        positive_name: the positive class, shown on the figure (DESIGN §5: reduced EF is positive).

    Returns:
        ``path`` as a :class:`~pathlib.Path`, written atomically; with one class only the PNG says
        "AUROC undefined (one class)".

    Raises:
        DataError: shapes differ, a label is not 0/1, or the PNG cannot be written.

    Source: :func:`roc_points` (torchmetrics ``binary_roc`` / ``binary_auroc``).
    """
    where = str(path)
    s, y, dropped = _pairs(score_positive, label, ("score_positive", "label"), where)
    y = _binary(y, "label", where)
    fig, ax = _new_axes(title)
    ax.set_xlabel("false positive rate (1 − specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.plot([0, 1], [0, 1], color="#888888", linestyle=":", linewidth=1, label="chance")
    n, n_pos = len(y), int(y.sum())
    if n < _MIN_VIDEOS:
        _few_videos_note(ax, n, dropped)
    elif n_pos in (0, n):
        _note(ax, f"AUROC undefined (one class)\nN = {n}, {n_pos} {positive_name}")
    else:
        fpr, tpr, auroc = roc_points(s, y)
        ax.plot(fpr, tpr, color="#1f77b4", linewidth=2,
                label=f"AUROC = {auroc:.3f}\nN = {n}, {n_pos} positive"
                + (f", {dropped} non-finite left out" if dropped else ""))
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal", adjustable="box")
    ax.legend(loc="lower right", fontsize=8, title=f"positive: {positive_name}", title_fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def confusion(pred_label: Any, true_label: Any, *, labels: tuple[str, str] = ("EF ≥ 50 %", "EF < 50 %"),
              title: str, path: str | os.PathLike) -> Path:
    """2x2 confusion matrix with each cell's count (and share of all videos) written in it.

    Args:
        pred_label, true_label: ``(N,)`` 0/1 labels; ``labels[k]`` names class ``k`` (default: 1 = reduced EF).
        labels: display names of class 0 and class 1.
        title: figure title.
        path: the PNG to write.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, written atomically.

    Raises:
        DataError: shapes differ, a label is not 0/1, or the PNG cannot be written.
    """
    counts = _counts(pred_label, true_label, str(path))
    n = int(counts.sum())
    fig, ax = _new_axes(f"{title}\nN = {n}")
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(int(counts.max()), 1))
    for i in range(2):
        for j in range(2):
            share = f"\n{100 * counts[i, j] / n:.1f} %" if n else ""
            dark = counts[i, j] > 0.5 * counts.max() and counts.max() > 0
            ax.text(j, i, f"{counts[i, j]}{share}", ha="center", va="center", fontsize=13,
                    color="white" if dark else "black")
    ax.set_xticks([0, 1], labels=list(labels))
    ax.set_yticks([0, 1], labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n < _MIN_VIDEOS:
        _few_videos_note(ax, n, 0)
    return _save(fig, path)
