"""Scores of the dense tasks: Dice/IoU per phase, EF from masks, frame errors, baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echobench.evaluation.frames import frame_scores, random_guess
from echobench.evaluation.segmentation import dice_iou, mask_ef, mean_masks, segmentation_scores


def _box(h0, h1, w0, w1, size=20):
    m = np.zeros((size, size), bool)
    m[h0:h1, w0:w1] = True
    return m


def test_dice_and_iou_of_known_overlaps():
    true = np.stack([np.stack([_box(0, 10, 0, 10), _box(0, 10, 0, 10)])])
    pred = np.stack([np.stack([_box(0, 10, 0, 5), _box(0, 10, 0, 10)])])  # half of ED, all of ES
    dice, iou = dice_iou(pred, true)
    assert dice[0] == pytest.approx([2 * 50 / 150, 1.0]) and iou[0] == pytest.approx([0.5, 1.0])
    empty = np.zeros((1, 2, 20, 20), bool)
    assert dice_iou(empty, empty)[0].tolist() == [[1.0, 1.0]]
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        dice_iou(pred, true[:, :1])


def test_segmentation_rows_have_intervals_and_per_phase_names():
    rng = np.random.default_rng(0)
    true = rng.random((12, 2, 20, 20)) > 0.5
    pred = true ^ (rng.random(true.shape) > 0.9)
    scores, dice = segmentation_scores("lv-seg", pred, true, n_boot=200)
    by = {s.metric: s.estimate for s in scores}
    assert set(by) == {"Dice[ED]", "Dice[ES]", "IoU[ED]", "IoU[ES]", "Dice"}
    assert by["Dice"].value == pytest.approx(dice.mean())
    assert by["Dice[ED]"].low <= by["Dice[ED]"].value <= by["Dice[ED]"].high
    assert not math.isnan(by["IoU[ES]"].low)


def test_mask_ef_and_the_mean_mask_baseline():
    ed, es = _box(2, 18, 6, 14), _box(2, 14, 7, 13)  # ES shorter and narrower
    ef = mask_ef(np.stack([np.stack([ed, es])]))
    assert 40 < ef[0] < 80
    assert mask_ef(np.stack([np.stack([ed, ed])]))[0] == pytest.approx(0.0)
    train = np.stack([np.stack([ed, es]), np.stack([ed, ed])])
    fixed = mean_masks(train)
    assert fixed.shape == (2, 20, 20) and (fixed[0] == ed).all() and (fixed[1] == ed).all()


def test_frame_scores_and_random_guess():
    true = np.array([[10, 25], [40, 52], [5, 20]])
    pred = np.array([[11, 25], [40, 60], [5, 17]])
    by = {s.metric: s for s in frame_scores("ed-es-frames", pred, true, n_boot=100)}
    assert by["frame MAE[ED]"].estimate.value == pytest.approx(1 / 3)
    assert by["frame MAE[ES]"].estimate.value == pytest.approx(11 / 3) and by["frame MAE[ES]"].units == "frames"
    assert by["within ±2[ES]"].estimate.value == pytest.approx(1 / 3) and by["within ±2[ES]"].units == ""
    clips = np.arange(3 * 16).reshape(3, 16) * 2
    guess = random_guess(clips)
    assert guess.shape == (3, 2) and np.isin(guess, clips).all()
    assert (random_guess(clips) == guess).all()  # fixed seed
