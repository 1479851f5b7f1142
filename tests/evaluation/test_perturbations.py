"""Robustness perturbations: deterministic per seed, same shape/dtype, and monotone in severity in
the image statistic each one changes (issue 16 check), on a synthetic echo video."""

from __future__ import annotations

import numpy as np
import pytest

from echobench.data.synth import draw_params, render
from echobench.evaluation.perturbations import PERTURBATIONS, SEVERITIES, perturb


@pytest.fixture(scope="module")
def video():
    p = draw_params(0, 0)
    frames = render(p, np.random.default_rng(1))[:24]  # (T, 112, 112) uint8 echo-like frames
    return frames[..., None]


def _mean(v):
    return float(v.astype(np.float64).mean())


def _abs_diff(a, b):
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


STATISTIC = {  # grows with severity
    "depth": lambda clean, out: 1 - _mean(out[:, 80:]) / _mean(clean[:, 80:]),  # deep rows lose brightness
    "shadow": lambda clean, out: float((out.astype(np.float64) < 0.5 * clean).mean()),  # shadowed pixels
    "speckle": _abs_diff,
    "gain": lambda clean, out: abs(_mean(out) - _mean(clean)),
    "fps": lambda clean, out: float((np.abs(np.diff(out.astype(np.int16), axis=0)).sum(axis=(1, 2, 3)) == 0).mean()),
    "jpeg": _abs_diff,
    "zoom": _abs_diff,
}


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_deterministic_per_seed_and_monotone_in_severity(name, video):
    assert set(STATISTIC) == set(PERTURBATIONS)
    stats = []
    for severity in SEVERITIES:
        out = perturb(video, name, severity, seed=3)
        assert out.shape == video.shape and out.dtype == np.uint8
        assert np.array_equal(out, perturb(video, name, severity, seed=3))  # same seed: same bytes
        stats.append(STATISTIC[name](video, out))
    assert 0 < stats[0] < stats[1] < stats[2], stats


def test_seeded_perturbations_change_with_the_seed(video):
    for name in ("shadow", "speckle", "zoom"):
        assert not np.array_equal(perturb(video, name, 2, seed=0), perturb(video, name, 2, seed=1)), name


@pytest.mark.parametrize("args", [("blur", 1), ("gain", 4), ("gain", 0)])
def test_bad_name_or_severity_is_a_value_error(video, args):
    with pytest.raises(ValueError):
        perturb(video, *args)
