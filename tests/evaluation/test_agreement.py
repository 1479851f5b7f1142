"""Agreement track: Bland-Altman, EF categories with Cohen's kappa, split-conformal intervals."""

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from echobench.evaluation.agreement import (bland_altman_report, conformal_quantile, conformal_report,
                                            ef_category, ef_category_report)


def test_bland_altman_hand_values():
    true = np.array([50.0, 60.0, 40.0, 55.0])
    pred = true + np.array([1.0, 3.0, -1.0, 1.0])  # d: mean 1, sample sd sqrt(8/3)
    rep = bland_altman_report(pred, true, n_boot=200, seed=0)
    sd = math.sqrt(8 / 3)
    assert rep["BA bias"].value == pytest.approx(1.0)
    assert rep["BA LoA low"].value == pytest.approx(1 - 1.96 * sd)
    assert rep["BA LoA high"].value == pytest.approx(1 + 1.96 * sd)
    assert rep["BA bias"].low <= 1.0 <= rep["BA bias"].high


def test_bland_altman_replicate_equals_direct_computation():
    from echobench.metrics import bootstrap_indices

    rng = np.random.default_rng(2)
    true, pred = rng.normal(55, 10, 80), rng.normal(55, 10, 80)
    idx = next(bootstrap_indices(80, 1, seed=9))[0]
    direct = bland_altman_report(pred[idx], true[idx], n_boot=0)
    rep = bland_altman_report(pred, true, n_boot=1, seed=9)
    for k in rep:
        assert rep[k].low == pytest.approx(direct[k].value)


def test_ef_categories_boundaries():
    assert ef_category([40.0, 40.01, 49.99, 50.0, 12.0, 70.0]).tolist() == [0, 1, 1, 2, 0, 2]


def test_ef_category_kappa_matches_sklearn():
    rng = np.random.default_rng(4)
    true = rng.uniform(15, 75, 300)
    pred = true + rng.normal(0, 6, 300)
    rep = ef_category_report(pred, true, n_boot=200, seed=0)
    ref = cohen_kappa_score(ef_category(true), ef_category(pred))
    assert rep["EF cat kappa"].value == pytest.approx(ref)
    assert rep["EF cat agreement"].value == pytest.approx(np.mean(ef_category(true) == ef_category(pred)))
    assert rep["EF cat kappa"].low <= ref <= rep["EF cat kappa"].high
    # the batched kappa of one resample equals sklearn's on that resample
    from echobench.metrics import bootstrap_indices

    idx = next(bootstrap_indices(300, 1, seed=7))[0]
    one = ef_category_report(pred, true, n_boot=1, seed=7)["EF cat kappa"]
    assert one.low == pytest.approx(cohen_kappa_score(ef_category(true[idx]), ef_category(pred[idx])))


def test_kappa_hand_value():
    # true: 0 0 1 2 ; pred: 0 1 1 2 -> po = 3/4, pe = (2*1 + 1*2 + 1*1)/16 = 5/16
    true = np.array([30.0, 35.0, 45.0, 60.0])
    pred = np.array([30.0, 45.0, 45.0, 60.0])
    kappa = ef_category_report(pred, true, n_boot=0)["EF cat kappa"].value
    assert kappa == pytest.approx((0.75 - 5 / 16) / (1 - 5 / 16))


def test_conformal_quantile_hand_value():
    val_true = np.zeros(9)
    val_pred = np.arange(1.0, 10.0)  # residuals 1..9; rank ceil(10 * 0.9) = 9 -> q = 9
    assert conformal_quantile(val_pred, val_true) == 9.0
    assert conformal_quantile(val_pred[:5], val_true[:5]) == math.inf  # ceil(6 * 0.9) = 6 > 5


def test_conformal_coverage_on_exchangeable_predictions_is_nominal():
    rng = np.random.default_rng(11)
    coverages = []
    for _ in range(20):
        true = rng.uniform(10, 80, 1500)
        pred = true + rng.standard_t(4, 1500) * 5  # heavy-tailed, exchangeable errors
        rep = conformal_report(pred[:500], true[:500], pred[500:], true[500:], n_boot=100, seed=0)
        cov = rep["PI90 coverage"].value
        assert abs(cov - 0.9) <= 0.05
        coverages.append(cov)
        assert rep["PI90 half-width"].low <= rep["PI90 half-width"].value <= rep["PI90 half-width"].high
    assert abs(np.mean(coverages) - 0.9) < 0.02


def test_conformal_undercovers_when_val_is_not_exchangeable_with_test():
    # the test can fail: intervals fitted on small VAL errors do not cover TEST's larger errors
    rng = np.random.default_rng(0)
    true = rng.uniform(10, 80, 1000)
    val_pred, test_pred = true[:500] + rng.normal(0, 2, 500), true[500:] + rng.normal(0, 6, 500)
    rep = conformal_report(val_pred, true[:500], test_pred, true[500:], n_boot=0)
    assert rep["PI90 coverage"].value < 0.6
