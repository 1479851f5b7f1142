"""echobench.metrics against sklearn/scipy and hand-worked values; the vectorized bootstrap against a
plain loop over the same draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, roc_auc_score

from echobench import metrics
from echobench.metrics import (Estimate, bootstrap_indices, ef50_from_ef, ef50_report, regression_metrics,
                               regression_report)

TRUE = np.array([62.0, 35.0, 48.0, 71.0, 55.0, 44.0, 58.0, 29.0, 66.0, 51.0])


def test_regression_point_estimates_match_sklearn_and_scipy():
    pred = 2 * TRUE + 5  # perfectly correlated but far off: Pearson r² = 1, sklearn R² very negative
    rep = regression_report(pred, TRUE, n_boot=0)
    assert rep["MAE"].value == pytest.approx(mean_absolute_error(TRUE, pred), rel=1e-12)
    assert rep["MAE"].value == pytest.approx(np.mean(TRUE + 5), rel=1e-12)  # by hand: |2t+5-t| = t+5
    assert rep["RMSE"].value == pytest.approx(math.sqrt(np.mean((TRUE + 5) ** 2)), rel=1e-12)
    assert rep["R2"].value == pytest.approx(r2_score(TRUE, pred), rel=1e-12)
    assert rep["R2"].value < -5
    assert rep["r"].value == pytest.approx(1.0, abs=1e-12)
    assert rep["r"].value ** 2 != pytest.approx(rep["R2"].value)
    assert math.isnan(rep["MAE"].low) and math.isnan(rep["R2"].high)  # n_boot = 0: no interval

    noisy = TRUE + np.array([3.0, -4.0, 1.5, -2.0, 0.5, 6.0, -1.0, 2.5, -3.5, 1.0])
    rep = regression_report(noisy, TRUE, n_boot=0)
    assert rep["R2"].value == pytest.approx(r2_score(TRUE, noisy), rel=1e-12)
    assert rep["r"].value == pytest.approx(pearsonr(noisy, TRUE).statistic, rel=1e-12)
    assert regression_metrics(noisy, TRUE) == {k: rep[k].value for k in ("MAE", "RMSE", "R2")}


def test_undefined_regression_metrics_are_nan():
    one = regression_report([50.0], [55.0], n_boot=20)
    assert one["MAE"].value == 5.0 and math.isnan(one["R2"].value) and math.isnan(one["r"].value)
    constant_pred = regression_report(np.full(TRUE.shape, 53.0), TRUE, n_boot=50)
    assert math.isnan(constant_pred["r"].value) and math.isnan(constant_pred["r"].low)
    assert constant_pred["R2"].value == pytest.approx(r2_score(TRUE, np.full(TRUE.shape, 53.0)))
    with pytest.raises(ValueError, match="differ in length"):
        regression_report([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        regression_report([1.0, np.nan], [1.0, 2.0])


def test_ef_band_maes_by_hand():
    ef = np.array([25.0, 39.99, 40.0, 54.99, 55.0, 70.0])
    err = np.array([2.0, 4.0, 1.0, 3.0, 5.0, 7.0])  # pred - true per video
    rep = regression_report(ef + err * np.array([1, -1, 1, -1, 1, -1]), ef, ef=ef, n_boot=0)
    assert rep["MAE[EF<40]"].value == pytest.approx(3.0)  # (2 + 4) / 2
    assert rep["MAE[EF40-54]"].value == pytest.approx(2.0)  # (1 + 3) / 2: 40 is in, 54.99 is in
    assert rep["MAE[EF>=55]"].value == pytest.approx(6.0)  # (5 + 7) / 2: 55 is in
    # bands follow the given true EF, not the target (a volume task here), and an empty band is NaN
    esv = np.array([30.0, 40.0, 50.0])
    rep = regression_report(esv + [1.0, 2.0, 6.0], esv, ef=[60.0, 45.0, 57.0], n_boot=0)
    assert math.isnan(rep["MAE[EF<40]"].value)
    assert rep["MAE[EF40-54]"].value == pytest.approx(2.0)
    assert rep["MAE[EF>=55]"].value == pytest.approx(3.5)


def _classification_case():
    rng = np.random.default_rng(7)
    true_ef = np.round(rng.normal(52, 14, 80), 1)
    true_ef[:3] = 50.0  # exactly 50 is normal
    pred_ef = np.round(true_ef + rng.normal(0, 8, 80), 0)  # rounding makes tied scores
    pred_ef[3:6] = [5.0, 8.0, 11.0]  # 50 - EF far outside [0, 1]: no sigmoid saturation may tie them,
    true_ef[3:6] = [39.5, 45.6, 60.0]  # and a normal video sits among reduced ones there
    return true_ef, pred_ef


def test_ef50_both_conventions_match_sklearn():
    true_ef, pred_ef = _classification_case()
    reduced, pred_reduced = true_ef < 50, pred_ef < 50
    rep = ef50_from_ef(pred_ef, true_ef, n_boot=0)
    assert rep["ACC"].value == pytest.approx(accuracy_score(reduced, pred_reduced), abs=1e-6)
    assert rep["F1"].value == pytest.approx(f1_score(reduced, pred_reduced), abs=1e-6)
    assert rep["AUROC"].value == pytest.approx(roc_auc_score(reduced, 50 - pred_ef), abs=1e-6)
    assert rep["F1[normal+]"].value == pytest.approx(f1_score(~reduced, ~pred_reduced), abs=1e-6)
    assert rep["AUROC[normal+]"].value == pytest.approx(roc_auc_score(~reduced, pred_ef), abs=1e-6)

    prob = np.clip((55 - pred_ef) / 30, 0, 1)  # a classifier's probability of reduced EF
    rep = ef50_report(prob, true_ef, threshold_score=0.5, n_boot=0)
    assert rep["ACC"].value == pytest.approx(accuracy_score(reduced, prob >= 0.5), abs=1e-6)
    assert rep["F1"].value == pytest.approx(f1_score(reduced, prob >= 0.5), abs=1e-6)
    assert rep["AUROC"].value == pytest.approx(roc_auc_score(reduced, prob), abs=1e-6)
    assert rep["AUROC[normal+]"].value == pytest.approx(roc_auc_score(~reduced, -prob), abs=1e-6)
    one_class = ef50_report([0.1, 0.7], [60.0, 70.0], threshold_score=0.5, n_boot=10)
    assert math.isnan(one_class["AUROC"].value) and math.isnan(one_class["AUROC"].low)
    assert one_class["ACC"].value == 0.5
    assert one_class["F1"].value == 0.0  # reduced EF predicted once, never present: 2TP/(2TP+FP+FN) = 0
    none_at_all = ef50_report([0.1, 0.2], [60.0, 70.0], threshold_score=0.5, n_boot=0)
    assert math.isnan(none_at_all["F1"].value)  # neither present nor predicted: 0/0
    assert none_at_all["F1[normal+]"].value == 1.0


def test_ef50_boundary_at_50():
    below = float(np.nextafter(50.0, 0.0))
    true_ef = np.array([50.0, below, 50.0, below, 30.0, 70.0])
    pred_ef = np.array([50.0, below, below, 50.0, 49.0, 51.0])
    # true EF 50 is normal, just below is reduced; predicted EF 50 is normal, just below is reduced
    rep = ef50_from_ef(pred_ef, true_ef, n_boot=0)
    assert rep["ACC"].value == pytest.approx(4 / 6, abs=1e-6)  # rows 2 and 3 are the two errors
    assert rep["F1"].value == pytest.approx(f1_score([0, 1, 0, 1, 1, 0], [0, 1, 1, 0, 1, 0]), abs=1e-6)
    assert ef50_from_ef([50.0], [50.0], n_boot=0)["ACC"].value == 1.0
    assert ef50_from_ef([below], [below], n_boot=0)["ACC"].value == 1.0


def _f1(y: np.ndarray, yhat: np.ndarray) -> float:
    den = 2 * np.sum(y & yhat) + np.sum(~y & yhat) + np.sum(y & ~yhat)
    return 2 * np.sum(y & yhat) / den if den else np.nan


def _pairwise_auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + P(tie) / 2 over all pairs."""
    sp, sn = score[positive][:, None], score[~positive][None, :]
    return float(np.mean((sp > sn) + 0.5 * (sp == sn))) if sp.size and sn.size else np.nan


def _reference_interval(values: list[float]) -> tuple[float, float]:
    finite = np.asarray([v for v in values if np.isfinite(v)])
    return tuple(np.percentile(finite, [2.5, 97.5]))


def test_bootstrap_matches_a_plain_loop_over_the_same_draws(monkeypatch):
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 40 * 30)  # several chunks of 30 resamples
    rng = np.random.default_rng(3)
    true = rng.normal(56, 10, 40)
    true[:2] = [33.0, 36.0]  # EF<40 band of 2 videos: some resamples draw none of them
    true[2:] = np.clip(true[2:], 50, None)  # only those two are reduced (EF < 50)
    pred = true + rng.normal(0, 6, 40)
    pred_ef = np.clip(true + rng.normal(0, 6, 40), 51, None)
    pred_ef[:2] = [45.0, 52.0]  # two reduced videos, one predicted reduced: some resamples have neither
    n_boot, seed = 200, 11
    reg = regression_report(pred, true, ef=true, n_boot=n_boot, seed=seed)
    cls = ef50_from_ef(pred_ef, true, n_boot=n_boot, seed=seed)

    ref: dict[str, list[float]] = {k: [] for k in list(reg) + list(cls)}
    draws = np.random.default_rng(seed)
    empty_bands = 0
    for _ in range(n_boot):  # textbook formulas, one resample at a time
        i = draws.integers(0, 40, size=40)
        p, t = pred[i], true[i]
        err = np.abs(p - t)
        ref["MAE"].append(err.mean())
        ref["RMSE"].append(math.sqrt(np.mean((p - t) ** 2)))
        ref["R2"].append(1 - np.sum((p - t) ** 2) / np.sum((t - t.mean()) ** 2))
        ref["r"].append(np.corrcoef(p, t)[0, 1])
        bands = {"MAE[EF<40]": t < 40, "MAE[EF40-54]": (t >= 40) & (t < 55), "MAE[EF>=55]": t >= 55}
        empty_bands += not bands["MAE[EF<40]"].any()
        for key, sel in bands.items():
            ref[key].append(err[sel].mean() if sel.any() else np.nan)
        y, s = t < 50, 50 - pred_ef[i]
        ref["ACC"].append(np.mean(y == (s > 0)))
        ref["F1"].append(_f1(y, s > 0))
        ref["F1[normal+]"].append(_f1(~y, s <= 0))
        ref["AUROC"].append(_pairwise_auroc(s, y))
        ref["AUROC[normal+]"].append(_pairwise_auroc(-s, ~y))
    assert empty_bands > 0 and np.isnan(ref["F1"]).any()  # the NaN-replicate paths are exercised
    for name, est in {**reg, **cls}.items():
        low, high = _reference_interval(ref[name])
        assert (est.low, est.high) == pytest.approx((low, high), rel=1e-9, abs=1e-12), name
        assert est.low <= est.high


def test_indices_are_the_documented_rng_draws_in_any_chunking():
    rows = np.concatenate(list(bootstrap_indices(13, 50, seed=5, chunk=7)))
    assert np.array_equal(rows, np.random.default_rng(5).integers(0, 13, size=(50, 13)))


def test_same_seed_same_interval_other_seed_other_interval():
    true, pred = TRUE, TRUE + np.array([3.0, -4.0, 1.5, -2.0, 0.5, 6.0, -1.0, 2.5, -3.5, 1.0])
    a = regression_report(pred, true, ef=true, n_boot=300, seed=1)
    assert a == regression_report(pred, true, ef=true, n_boot=300, seed=1)
    b = regression_report(pred, true, ef=true, n_boot=300, seed=2)
    assert a["MAE"].value == b["MAE"].value and (a["MAE"].low, a["MAE"].high) != (b["MAE"].low, b["MAE"].high)
    assert isinstance(a["MAE"], Estimate) and a["MAE"].low < a["MAE"].value < a["MAE"].high
    assert ef50_from_ef(pred, true, n_boot=300, seed=4) == ef50_from_ef(pred, true, n_boot=300, seed=4)
