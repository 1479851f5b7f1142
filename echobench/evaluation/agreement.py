"""Agreement of a regression model with the reference measurement (track
:data:`~echobench.evaluation.tracks.AGREEMENT`), in the task's natural units (EF in %, volumes in mL).

- Bland–Altman (Bland & Altman, Lancet 1986): differences ``d = pred - true``; bias ``mean(d)`` and
  95 % limits of agreement ``bias ± 1.96 sd(d)`` (sample sd, ``ddof = 1``).
- Clinical EF categories (ASE/EACVI chamber quantification; 2021 universal definition of heart
  failure): reduced EF <= 40 %, mildly reduced 40 < EF < 50 % (the "41–49" band of integer EF),
  preserved EF >= 50 %. The predicted EF's category against the true EF's: fraction in the same
  category and Cohen's unweighted kappa (Cohen 1960; ``sklearn.metrics.cohen_kappa_score`` for the
  point value).
- Split-conformal prediction intervals (Lei et al., JASA 2018, §2.2; Angelopoulos & Bates 2021,
  §1): residuals ``|true - pred|`` on VAL give ``q`` = their ``ceil((n+1) * 0.9)``-th smallest; the
  interval ``pred ± q`` covers at least 90 % of exchangeable new videos. TEST coverage and ``q``.

Intervals are 95 % percentile bootstraps over videos (:func:`echobench.metrics.bootstrap_report`);
the conformal half-width's interval resamples the VAL videos it is fitted on.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from echobench.metrics import Estimate, bootstrap_report, pair

LOA_Z = 1.96  # 95 % limits of agreement (normal quantile, Bland & Altman 1986)
EF_CATEGORIES = ("EF<=40", "EF40-50", "EF>=50")  # reduced, mildly reduced, preserved (%)
CONFORMAL_LEVEL = 0.9


def bland_altman_report(pred, true, *, n_boot: int = 1000, seed: int = 0) -> dict[str, Estimate]:
    """``{"BA bias", "BA LoA low", "BA LoA high"}`` -> :class:`~echobench.metrics.Estimate`, in the
    units of ``true`` (``pred``, ``true``: ``(N,)``, same natural units; ``N >= 2``).

    Raises:
        ValueError: fewer than 2, non-1-D, non-finite or different-length inputs; ``n_boot < 0``.
    """
    pred, true = pair(pred, true, ("pred", "true"))
    n = pred.size
    if n < 2:
        raise ValueError("Bland-Altman limits need at least 2 videos")
    from echobench.results.plots import limits_of_agreement  # the numbers the leaderboard's plot draws

    d = torch.from_numpy(pred - true)
    bias, low, high = limits_of_agreement(pred, true)
    points = {"BA bias": bias, "BA LoA low": low, "BA LoA high": high}
    dc = d - d.mean()  # centred: the variance sums keep no cancellation
    terms = torch.stack([dc, dc * dc], dim=1)

    def batched(w: torch.Tensor) -> dict[str, torch.Tensor]:
        s, ss = (w @ terms).unbind(dim=1)
        mean_c = s / n
        sd_b = ((ss - n * mean_c * mean_c) / (n - 1)).clamp(min=0).sqrt()
        b = mean_c + bias
        return {"BA bias": b, "BA LoA low": b - LOA_Z * sd_b, "BA LoA high": b + LOA_Z * sd_b}

    return bootstrap_report(points, batched, n, n_boot, seed)


def ef_category(ef) -> np.ndarray:
    """``(N,)`` int64 category index into :data:`EF_CATEGORIES` of EF values ``(N,)`` in %:
    0 for EF <= 40, 1 for 40 < EF < 50, 2 for EF >= 50."""
    ef = np.asarray(ef, dtype=np.float64)
    return np.where(ef <= 40.0, 0, np.where(ef < 50.0, 1, 2)).astype(np.int64)


def _kappa(confusion: torch.Tensor, k: int) -> torch.Tensor:
    """Cohen's kappa of ``(b, k*k)`` confusion counts (row = true); NaN when chance agreement is 1."""
    c = confusion.reshape(-1, k, k)
    total = c.sum(dim=(1, 2))
    po = torch.diagonal(c, dim1=1, dim2=2).sum(dim=1) / total
    pe = (c.sum(dim=2) * c.sum(dim=1)).sum(dim=1) / (total * total)
    return torch.where(pe < 1, (po - pe) / (1 - pe).clamp(min=1e-300), math.nan)


def ef_category_report(pred_ef, true_ef, *, n_boot: int = 1000, seed: int = 0) -> dict[str, Estimate]:
    """Agreement of predicted and true clinical EF category (:func:`ef_category`).

    Args:
        pred_ef, true_ef: ``(N,)`` predicted and true EF in %.

    Returns:
        ``"EF cat agreement"`` (fraction of videos in the same category) and ``"EF cat kappa"``
        (Cohen's unweighted kappa; NaN when both sides use one category only) ->
        :class:`~echobench.metrics.Estimate`.

    Raises:
        ValueError: empty, non-1-D, non-finite or different-length inputs; ``n_boot < 0``.
    """
    from sklearn.metrics import cohen_kappa_score

    pred_ef, true_ef = pair(pred_ef, true_ef, ("pred_ef", "true_ef"))
    k = len(EF_CATEGORIES)
    cp, ct = ef_category(pred_ef), ef_category(true_ef)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # undefined kappa (one category on both sides) is NaN, said above
        kappa = float(cohen_kappa_score(ct, cp, labels=list(range(k))))
    points = {"EF cat agreement": float(np.mean(cp == ct)), "EF cat kappa": kappa}
    cell = torch.nn.functional.one_hot(torch.from_numpy(ct * k + cp), k * k).double()  # (N, k*k)
    n = cp.size

    def batched(w: torch.Tensor) -> dict[str, torch.Tensor]:
        confusion = w @ cell
        return {"EF cat agreement": torch.diagonal(confusion.reshape(-1, k, k), dim1=1, dim2=2).sum(dim=1) / n,
                "EF cat kappa": _kappa(confusion, k)}

    return bootstrap_report(points, batched, n, n_boot, seed)


def conformal_rank(n: int, level: float = CONFORMAL_LEVEL) -> int:
    """The 1-based rank ``ceil((n + 1) * level)`` of the VAL residual that is the conformal quantile
    (``> n``: the interval is infinite)."""
    return math.ceil((n + 1) * level - 1e-9)


def conformal_quantile(val_pred, val_true, *, level: float = CONFORMAL_LEVEL) -> float:
    """Split-conformal half-width ``q`` (units of ``val_true``) from VAL ``(M,)`` predictions and labels;
    ``inf`` when VAL has too few videos (``ceil((M+1) level) > M``).

    Raises:
        ValueError: empty, non-1-D, non-finite or different-length inputs; ``level`` not in (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    val_pred, val_true = pair(val_pred, val_true, ("val_pred", "val_true"))
    k = conformal_rank(val_pred.size, level)
    r = np.sort(np.abs(val_true - val_pred))
    return float(r[k - 1]) if k <= r.size else math.inf


def conformal_report(val_pred, val_true, test_pred, test_true, *, level: float = CONFORMAL_LEVEL,
                     n_boot: int = 1000, seed: int = 0) -> dict[str, Estimate]:
    """TEST coverage and half-width of split-conformal intervals ``pred ± q`` fitted on VAL.

    Args:
        val_pred, val_true: ``(M,)`` VAL predictions and labels (natural units) that fit ``q``.
        test_pred, test_true: ``(N,)`` TEST predictions and labels scored.
        level: nominal coverage (0.9: 90 % intervals).

    Returns:
        ``"PI90 coverage"`` (fraction of TEST videos with ``|true - pred| <= q``; interval from TEST
        resamples) and ``"PI90 half-width"`` (``q`` in the labels' units; interval from VAL
        resamples) -> :class:`~echobench.metrics.Estimate` (the names follow ``level``).

    Raises:
        ValueError: as :func:`conformal_quantile`; ``n_boot < 0``.
    """
    q = conformal_quantile(val_pred, val_true, level=level)
    test_pred, test_true = pair(test_pred, test_true, ("test_pred", "test_true"))
    name = f"PI{round(level * 100)}"
    covered = torch.from_numpy((np.abs(test_true - test_pred) <= q).astype(np.float64))
    n = covered.numel()
    coverage = bootstrap_report({f"{name} coverage": float(covered.mean())},
                                lambda w: {f"{name} coverage": w @ covered / n}, n, n_boot, seed)
    residuals = np.abs(np.asarray(val_true, np.float64) - np.asarray(val_pred, np.float64))
    order = np.argsort(residuals, kind="stable")
    sorted_r = torch.from_numpy(np.append(residuals[order], math.inf))
    m, k = residuals.size, conformal_rank(residuals.size, level)

    def width(w: torch.Tensor) -> dict[str, torch.Tensor]:
        below = (w[:, torch.from_numpy(order)].cumsum(dim=1) < k).sum(dim=1)  # resample's k-th residual
        return {f"{name} half-width": sorted_r[below]}

    half = bootstrap_report({f"{name} half-width": q}, width, m, n_boot, seed)
    return {**coverage, **half}
