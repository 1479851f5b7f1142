"""Calibration track: ECE and Brier score against hand values and sklearn/torchmetrics."""

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from echobench.evaluation.calibration import calibration_report, reliability_curve


def test_ece_and_brier_hand_values():
    # bins of width 1/15: 0.1 and 0.12 share bin 1, 0.9 and 0.95 share bin 13
    prob = np.array([0.1, 0.12, 0.9, 0.95])
    target = np.array([0.0, 1.0, 1.0, 1.0])
    rep = calibration_report(prob, target, n_boot=0)
    # |(0.1 + 0.12) - 1| + |(0.9 + 0.95) - 2| = 0.78 + 0.15, over N = 4
    assert rep["ECE"].value == pytest.approx((0.78 + 0.15) / 4)
    assert rep["Brier"].value == pytest.approx((0.01 + 0.88**2 + 0.01 + 0.0025) / 4)


def test_brier_matches_sklearn_and_bootstrap_brackets_the_point():
    rng = np.random.default_rng(3)
    prob = rng.uniform(0, 1, 400)
    target = (rng.uniform(0, 1, 400) < prob**1.5).astype(float)  # miscalibrated
    rep = calibration_report(prob, target, n_boot=300, seed=1)
    assert rep["Brier"].value == pytest.approx(brier_score_loss(target, prob))
    for e in rep.values():
        assert e.low <= e.value <= e.high
    # a perfectly calibrated model's ECE is smaller than the miscalibrated one's
    calibrated = (rng.uniform(0, 1, 400) < prob).astype(float)
    assert calibration_report(prob, calibrated, n_boot=0)["ECE"].value < rep["ECE"].value


def test_bootstrap_replicate_equals_point_on_the_full_sample():
    # the batched replicate code must compute the same ECE as torchmetrics for a given resample
    from echobench.metrics import bootstrap_indices

    rng = np.random.default_rng(0)
    prob, target = rng.uniform(0, 1, 50), rng.integers(0, 2, 50).astype(float)
    idx = next(bootstrap_indices(50, 1, seed=5))[0]
    direct = calibration_report(prob[idx], target[idx], n_boot=0)["ECE"].value
    # percentile interval of one replicate is that replicate
    rep = calibration_report(prob, target, n_boot=1, seed=5)["ECE"]
    assert rep.low == pytest.approx(direct) and rep.high == pytest.approx(direct)


def test_reliability_curve_matches_sklearn():
    rng = np.random.default_rng(1)
    prob, target = rng.uniform(0, 1, 200), rng.integers(0, 2, 200).astype(float)
    predicted, observed, counts = reliability_curve(prob, target, n_bins=5)
    ref_obs, ref_pred = calibration_curve(target, prob, n_bins=5)
    np.testing.assert_allclose(predicted, ref_pred)
    np.testing.assert_allclose(observed, ref_obs)
    assert counts.sum() == 200


@pytest.mark.parametrize("prob,target", [([0.2, 1.2], [0, 1]), ([0.2, 0.3], [0, 2])])
def test_bad_input_is_a_value_error(prob, target):
    with pytest.raises(ValueError):
        calibration_report(prob, target)
