"""Metrics in natural units (EF points, mL) with 95 % percentile-bootstrap intervals (DESIGN §5).

Regression: MAE, RMSE, R² (sklearn definition ``1 - SS_res / SS_tot``, torchmetrics ``r2_score``;
not Pearson r²), Pearson r, and MAE within true-EF bands. Reduced EF (``ef50``): accuracy, F1 and
AUROC with reduced EF (true EF < 50 %) as the positive class, plus F1 and AUROC with normal EF
positive — the convention of the EchoVisionFM paper's Table 1, reported so its numbers can be
compared. EchoNet-Dynamic (Ouyang et al., Nature 2020) reports the reduced-EF-positive AUROC.

Point estimates go through ``torchmetrics.functional``. Intervals: the videos are resampled with
replacement ``n_boot`` times (:func:`bootstrap_indices`, ``np.random.default_rng(seed)``; the same
draws for every metric of one report), each metric is recomputed on every resample in batched
tensor operations (sums over the drawn videos are products with the resample's count weights,
:func:`resample_weights`), and the 2.5th and 97.5th percentiles (numpy's linear interpolation) of the
replicates are the bounds (Efron & Tibshirani 1993, ch. 13, percentile interval). Replicates where a
metric is undefined (no video of an EF band drawn, one class only) are left out of its percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics.functional import mean_absolute_error, mean_squared_error, pearson_corrcoef, r2_score
from torchmetrics.functional.classification import binary_accuracy, binary_auroc, binary_f1_score

EF_REDUCED_BELOW = 50.0  # % ; ef50 positive class: true EF < 50 (EchoNet-Dynamic, EchoVisionFM)
EF_BANDS: dict[str, tuple[float, float]] = {  # MAE stratified by the videos' true EF (%), [low, high)
    "MAE[EF<40]": (-math.inf, 40.0),
    "MAE[EF40-54]": (40.0, 55.0),
    "MAE[EF>=55]": (55.0, math.inf),
}
CONFIDENCE = 0.95
_CHUNK_ELEMENTS = 1 << 22  # resampled values held at once (bounds memory for large N * n_boot)

Batched = Callable[[torch.Tensor], dict[str, torch.Tensor]]  # (b, N) resample counts -> metric -> (b,)


@dataclass(frozen=True)
class Estimate:
    """A metric value with its 95 % percentile-bootstrap interval, in the metric's natural units.

    ``low``/``high`` are NaN when no bootstrap was run (``n_boot == 0``) or no replicate was defined;
    ``value`` is NaN when the metric is undefined on the data (e.g. AUROC with one class only).
    """

    value: float
    low: float
    high: float


def vector(x, name: str) -> np.ndarray:
    """``x`` as a float64 ``(N,)`` array.

    Raises:
        ValueError: ``x`` is empty, not 1-D, or holds NaN/inf (the message names ``name``).
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def pair(a, b, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two float64 ``(N,)`` arrays of equal length (:func:`vector` each).

    Raises:
        ValueError: as :func:`vector`, or the lengths differ.
    """
    a, b = vector(a, names[0]), vector(b, names[1])
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} differ in length ({a.size} vs {b.size})")
    return a, b


def bootstrap_indices(n: int, n_boot: int, seed: int, *, chunk: int | None = None):
    """Yield the bootstrap resamples as ``(b, n)`` int64 index arrays, ``b <= chunk`` rows at a time.

    All rows together equal ``np.random.default_rng(seed).integers(0, n, size=(n_boot, n))``, and
    equal ``n_boot`` successive ``rng.integers(0, n, size=n)`` calls on one generator.
    """
    rng = np.random.default_rng(seed)
    chunk = chunk or max(1, _CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        yield rng.integers(0, n, size=(b, n))
        done += b


def resample_weights(idx: np.ndarray, n: int) -> torch.Tensor:
    """``(b, n)`` float64 counts: how often each video is drawn in each resample of ``idx`` ``(b, n)``.

    Every bootstrap statistic is a function of these counts (a resample's sum over drawn videos is
    ``counts @ per_video_terms``), which is what makes the bootstrap one batched matrix product.
    """
    idx_t = torch.from_numpy(np.ascontiguousarray(idx, dtype=np.int64))
    return torch.zeros(idx_t.shape[0], n, dtype=torch.float64).scatter_add_(
        1, idx_t, torch.ones(idx_t.shape, dtype=torch.float64))


def _percentile_interval(replicates: np.ndarray) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_report(points: dict[str, float], batched: Batched, n: int, n_boot: int, seed: int) -> dict[str, Estimate]:
    """Attach 95 % percentile-bootstrap intervals to ``points`` (metric -> value on all ``n`` videos).

    ``batched`` maps the ``(b, n)`` resample counts of :func:`resample_weights` to ``(b,)`` replicates of
    every metric of ``points``; the resamples are :func:`bootstrap_indices` ``(n, n_boot, seed)``, so
    metrics computed with the same ``n``, ``n_boot`` and ``seed`` share their draws. NaN replicates
    (metric undefined on a resample) are left out of the percentiles.

    Raises:
        ValueError: ``n_boot < 0``.
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    reps: dict[str, list[np.ndarray]] = {k: [] for k in points}
    for idx in bootstrap_indices(n, n_boot, seed):
        out = batched(resample_weights(idx, n))
        for k in points:
            reps[k].append(out[k].double().numpy())
    result = {}
    for k, value in points.items():
        low, high = _percentile_interval(np.concatenate(reps[k])) if n_boot else (math.nan, math.nan)
        result[k] = Estimate(float(value), low, high)
    return result


# --- regression ---------------------------------------------------------------------------------


def _r2_point(p: torch.Tensor, t: torch.Tensor) -> float:
    """sklearn R² (torchmetrics); NaN for N < 2 or constant true values (undefined)."""
    if t.numel() < 2 or bool(t.min() == t.max()):
        return math.nan
    return float(r2_score(p, t))


def _pearson_point(p: torch.Tensor, t: torch.Tensor) -> float:
    """Pearson r (torchmetrics); NaN for N < 2 or when either side is constant."""
    if t.numel() < 2 or bool(t.min() == t.max()) or bool(p.min() == p.max()):
        return math.nan
    return float(pearson_corrcoef(p, t))


def _regression_points(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    p, t = torch.from_numpy(pred), torch.from_numpy(true)
    return {
        "MAE": float(mean_absolute_error(p, t)),
        "RMSE": float(mean_squared_error(p, t, squared=False)),
        "R2": _r2_point(p, t),
        "r": _pearson_point(p, t),
    }


def regression_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² of ``pred`` against ``true`` (both ``(N,)``, same natural units), no intervals.

    R² is the sklearn definition, NaN when fewer than two samples are given or ``true`` is constant.

    Raises:
        ValueError: empty, non-1-D, non-finite or different-length inputs.
    """
    pred, true = pair(pred, true, ("pred", "true"))
    points = _regression_points(pred, true)
    return {k: points[k] for k in ("MAE", "RMSE", "R2")}


def _varies(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``(b,)``: whether the videos drawn in each resample (``w > 0``) hold two different ``x`` values."""
    drawn = w > 0
    return torch.where(drawn, x, math.inf).amin(dim=1) < torch.where(drawn, x, -math.inf).amax(dim=1)


def regression_report(pred, true, *, ef=None, n_boot: int = 1000, seed: int = 0) -> dict[str, Estimate]:
    """Regression metrics with 95 % percentile-bootstrap intervals (DESIGN §5).

    Args:
        pred, true: ``(N,)`` predictions and labels in natural units (EF in %, volumes in mL).
        ef: optional ``(N,)`` true EF in % of the same videos; adds MAE within the true-EF bands
            EF < 40, 40 <= EF < 55 and EF >= 55 (NaN for an empty band).
        n_boot: bootstrap resamples of the videos (0: no interval, NaN bounds).
        seed: seed of ``np.random.default_rng``; the same seed gives the same intervals.

    Returns:
        ``{"MAE", "RMSE", "R2", "r"}`` (+ the three ``"MAE[EF...]"`` keys with ``ef``) -> :class:`Estimate`.
        MAE/RMSE in the units of ``true``; R² (sklearn: ``1 - SS_res/SS_tot``; NaN for N < 2 or
        constant ``true``) and Pearson r (NaN when either side is constant) are unitless.

    Raises:
        ValueError: empty, non-1-D, non-finite or different-length inputs, or ``n_boot < 0``.
    """
    pred, true = pair(pred, true, ("pred", "true"))
    n = pred.size
    points = _regression_points(pred, true)
    p, t = torch.from_numpy(pred), torch.from_numpy(true)
    abs_err = (p - t).abs()
    bands: dict[str, torch.Tensor] = {}
    if ef is not None:
        ef, _ = pair(ef, true, ("ef", "true"))
        for key, (lo, hi) in EF_BANDS.items():
            sel = torch.from_numpy((ef >= lo) & (ef < hi))
            points[key] = float(mean_absolute_error(p[sel], t[sel])) if bool(sel.any()) else math.nan
            bands[key] = sel.double()
    # Per-video terms whose count-weighted sums give every resampled statistic; centring on the
    # full-sample means keeps the variance sums free of cancellation.
    pc, tc = p - p.mean(), t - t.mean()
    cols = [abs_err, (p - t) ** 2, tc, tc * tc, pc, pc * pc, pc * tc]
    cols += [m for m in bands.values()] + [m * abs_err for m in bands.values()]
    terms = torch.stack(cols, dim=1)  # (N, k)

    def batched(w: torch.Tensor) -> dict[str, torch.Tensor]:
        s = w @ terms  # (b, k) weighted sums
        sae, sse, st, stt, sp, spp, spt = s[:, :7].unbind(dim=1)
        ss_tot = stt - st * st / n
        var_p = spp - sp * sp / n
        t_varies, p_varies = _varies(w, t), _varies(w, p)
        out = {
            "MAE": sae / n,
            "RMSE": (sse / n).sqrt(),
            "R2": torch.where(t_varies, 1 - sse / ss_tot, math.nan) if n >= 2 else torch.full_like(sae, math.nan),
            "r": torch.where(t_varies & p_varies, (spt - sp * st / n) / (var_p * ss_tot).clamp(min=0).sqrt(),
                             math.nan),
        }
        k = len(bands)
        for j, key in enumerate(bands):
            count, total = s[:, 7 + j], s[:, 7 + k + j]
            out[key] = torch.where(count > 0, total / count.clamp(min=1), math.nan)
        return out

    return bootstrap_report(points, batched, n, n_boot, seed)


# --- reduced EF (EF < 50 %) ---------------------------------------------------------------------


def _average_ranks(s: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``(N,)`` scores, ties given their average rank (as scipy ``rankdata``)."""
    sorted_s, _ = torch.sort(s)
    left = torch.searchsorted(sorted_s, s, right=False)
    right = torch.searchsorted(sorted_s, s, right=True)
    return (left + right + 1).double() / 2


def _auroc_point(score: torch.Tensor, target: torch.Tensor) -> float:
    """torchmetrics ``binary_auroc``, NaN with one class only. The scores are passed as ranks scaled
    to [0, 1] (same order, same ties) because torchmetrics applies a sigmoid to scores outside
    [0, 1], and a float sigmoid saturates into ties for large scores such as ``50 - predicted EF``."""
    if bool(target.min() == target.max()):
        return math.nan
    scaled = (_average_ranks(score) - 1) / max(score.numel() - 1, 1)
    return float(binary_auroc(scaled, target))


def _weighted_auroc(score: torch.Tensor, target: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """AUROC of each resample from its count weights ``(b, N)``: the Mann-Whitney statistic
    ``P(score_pos > score_neg) + P(tie) / 2`` (the trapezoidal ROC area of sklearn/torchmetrics),
    summed over the distinct score values; NaN for a resample with one class only."""
    _, group = torch.unique(score, sorted=True, return_inverse=True)  # ascending score groups
    groups = int(group.max()) + 1
    pos = target.double()

    def auroc(w: torch.Tensor) -> torch.Tensor:
        w_pos = torch.zeros(w.shape[0], groups, dtype=torch.float64).index_add_(1, group, w * pos)
        w_neg = torch.zeros(w.shape[0], groups, dtype=torch.float64).index_add_(1, group, w * (1 - pos))
        below = w_neg.cumsum(dim=1) - w_neg  # negatives scored strictly lower than each group
        n_pos, n_neg = w_pos.sum(dim=1), w_neg.sum(dim=1)
        wins = (w_pos * (below + w_neg / 2)).sum(dim=1)
        return torch.where((n_pos > 0) & (n_neg > 0), wins / (n_pos * n_neg).clamp(min=1), math.nan)

    return auroc


def _f1(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    """F1 = 2TP / (2TP + FP + FN); NaN when the denominator is 0 (sklearn ``zero_division=np.nan``)."""
    den = 2 * tp + fp + fn
    return torch.where(den > 0, 2 * tp / den.clamp(min=1e-300), math.nan)


def _f1_point(pred: torch.Tensor, target: torch.Tensor) -> float:
    """torchmetrics ``binary_f1_score``, NaN when the positive class is neither present nor predicted
    (torchmetrics would say 0, which would drag bootstrap intervals down for a rare class)."""
    if not bool((pred.bool() | target.bool()).any()):
        return math.nan
    return float(binary_f1_score(pred, target))


def ef50_report(score_reduced, true_ef, *, threshold_score: float, n_boot: int = 1000,
                seed: int = 0, below: float = EF_REDUCED_BELOW) -> dict[str, Estimate]:
    """Reduced-EF classification metrics with 95 % percentile-bootstrap intervals (DESIGN §5).

    The positive class is reduced EF: true EF < 50 % (a true EF of exactly 50 is normal).

    Args:
        score_reduced: ``(N,)`` score, higher = more likely reduced (a probability of reduced EF, or
            ``50 - predicted EF`` for a regression model; see :func:`ef50_from_ef`).
        true_ef: ``(N,)`` true EF in %.
        threshold_score: a video is predicted reduced when ``score_reduced >= threshold_score``.
        n_boot, seed: as in :func:`regression_report`.
        below: the positive class is ``true_ef < below`` (a binary task's ``threshold`` on its label
            column, whatever the label; 50 % for ``ef50``).

    Returns:
        ``"ACC"``, ``"F1"``, ``"AUROC"`` (reduced EF positive) and ``"F1[normal+]"``,
        ``"AUROC[normal+]"`` (normal EF positive, score ``-score_reduced``: the EchoVisionFM paper's
        Table 1 convention) -> :class:`Estimate`, as fractions in [0, 1]. AUROC is NaN when only one
        class is present; F1 is NaN when its positive class is neither present nor predicted (0/0).
        (Flipping both the class and the score's sign leaves AUROC unchanged, so the two AUROCs agree;
        both are reported so each table's convention is explicit.)

    Raises:
        ValueError: empty, non-1-D, non-finite or different-length inputs, or ``n_boot < 0``.
    """
    score, true_ef = pair(score_reduced, true_ef, ("score_reduced", "true_ef"))
    n = score.size
    y = torch.from_numpy((true_ef < below).astype(np.int64))  # 1 = reduced EF
    yhat = torch.from_numpy((score >= threshold_score).astype(np.int64))  # compared in float64
    s = torch.from_numpy(score)
    points = {
        "ACC": float(binary_accuracy(yhat, y)),
        "F1": _f1_point(yhat, y),
        "AUROC": _auroc_point(s, y),
        "F1[normal+]": _f1_point(1 - yhat, 1 - y),
        "AUROC[normal+]": _auroc_point(-s, 1 - y),
    }
    yd, yhd = y.double(), yhat.double()
    confusion = torch.stack([yd * yhd, (1 - yd) * yhd, yd * (1 - yhd)], dim=1)  # TP, FP, FN per video
    auroc, auroc_normal = _weighted_auroc(s, y), _weighted_auroc(-s, 1 - y)

    def batched(w: torch.Tensor) -> dict[str, torch.Tensor]:
        tp, fp, fn = (w @ confusion).unbind(dim=1)
        tn = n - tp - fp - fn
        return {
            "ACC": (tp + tn) / n,
            "F1": _f1(tp, fp, fn),
            "AUROC": auroc(w),
            "F1[normal+]": _f1(tn, fn, fp),
            "AUROC[normal+]": auroc_normal(w),
        }

    return bootstrap_report(points, batched, n, n_boot, seed)


def ef50_from_ef(pred_ef, true_ef, *, below: float = EF_REDUCED_BELOW, **kw) -> dict[str, Estimate]:
    """:func:`ef50_report` for a regression model's predicted EF (``(N,)``, %).

    A video is predicted reduced when its predicted EF < 50 % (EF = 50 is normal, as for the true
    class). The score is ``50 - pred_ef`` (float64) and the threshold the smallest positive double:
    IEEE subtraction of two different doubles is never 0 (gradual underflow), so
    ``50 - pred_ef >= 5e-324`` holds exactly when ``pred_ef < 50``.

    ``below``: the class threshold on the label (a derived binary task's ``threshold``; 50 % for
    ``ef50``). Keyword arguments (``n_boot``, ``seed``) go to :func:`ef50_report`.
    """
    pred_ef = vector(pred_ef, "pred_ef")
    return ef50_report(below - pred_ef, true_ef, threshold_score=float(np.nextafter(0.0, 1.0)), below=below, **kw)


# --- means of per-video values (dense tasks: Dice, IoU, frame errors) --------------------------------
def mean_report(values: dict[str, np.ndarray], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Estimate]:
    """Mean of each per-video array ``values[name] (N,)`` with its 95 % percentile-bootstrap interval
    (the same resamples of the ``N`` videos for every name; :func:`bootstrap_report`).

    Raises:
        ValueError: an array is empty, not 1-D or not finite, or the arrays differ in length.
    """
    arrays = {k: vector(v, k) for k, v in values.items()}
    sizes = {a.size for a in arrays.values()}
    if len(sizes) != 1:
        raise ValueError(f"per-video arrays differ in length: {sorted(sizes)}")
    n = sizes.pop()
    terms = {k: torch.from_numpy(a) for k, a in arrays.items()}
    return bootstrap_report({k: float(a.mean()) for k, a in arrays.items()},
                            lambda w: {k: (w @ t) / w.sum(dim=1) for k, t in terms.items()}, n, n_boot, seed)
