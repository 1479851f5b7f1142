"""Scores of the ``segmentation`` task kind (core code; DESIGN §5 style: natural units, 95 % intervals).

Per video and phase (ED, ES, the traced frames): Dice ``2|P ∩ T| / (|P| + |T|)`` and IoU
``|P ∩ T| / |P ∪ T|`` of the predicted mask ``P`` against the traced mask ``T`` at the video's frame
size (both empty: 1). Rows: ``Dice[ED]``, ``Dice[ES]``, ``IoU[ED]``, ``IoU[ES]`` and ``Dice`` (the mean of
the two phases per video), each the mean over videos with a percentile-bootstrap interval
(:func:`echobench.metrics.mean_report`).

EF from masks: each predicted ED and ES mask gives a method-of-discs volume
(:func:`echobench.data.masks.mask_volume_ml`: principal axis as long axis, 20 slabs, area-averaged
chords), and ``EF = (V_ED - V_ES) / V_ED * 100``. The pixel spacing cancels. These EF values are
scored like any EF model's (:func:`echobench.evaluation.score_outputs` with the ``ef`` task: MAE, RMSE,
R², r, EF bands and the derived ``ef50`` rows). On synthetic data the traced masks themselves give the
FileList EF within 3 points (``tests/data/test_masks.py``).

Baseline (the constant row's equivalent): the fixed TRAIN mean mask per phase (pixel-wise mean of the
TRAIN videos' traced masks, thresholded at 0.5), the same for every video.
"""

from __future__ import annotations

import numpy as np

from echobench.evaluation import Score

MEAN_MASK = "fixed mask (TRAIN mean)"
PHASES = ("ED", "ES")


def dice_iou(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dice and IoU ``(N, 2)`` of bool masks ``pred, true (N, 2, H, W)`` (both empty: 1).

    Raises:
        ValueError: the shapes differ or are not ``(N, 2, H, W)``.
    """
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    if pred.shape != true.shape or pred.ndim != 4 or pred.shape[1] != 2:
        raise ValueError(f"masks must both be (N, 2, H, W), got {pred.shape} and {true.shape}")
    inter = (pred & true).sum((-2, -1)).astype(np.float64)
    total = pred.sum((-2, -1)) + true.sum((-2, -1)).astype(np.float64)
    union = total - inter
    dice = np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return dice, iou


def mask_ef(masks: np.ndarray) -> np.ndarray:
    """EF in % ``(N,)`` from ED/ES masks ``(N, 2, H, W)`` by the method of discs (module docstring);
    0 when the ED mask is empty or its volume is not above the ES volume's negative."""
    from echobench.data.masks import mask_volume_ml

    out = np.zeros(len(masks))
    for i, (ed, es) in enumerate(masks):
        v_ed, v_es = mask_volume_ml(ed), mask_volume_ml(es)
        out[i] = 100.0 * (v_ed - v_es) / v_ed if v_ed > 0 else 0.0
    return out


def mean_masks(train_masks: np.ndarray) -> np.ndarray:
    """The fixed baseline masks ``(2, H, W)`` bool: pixel-wise TRAIN mean per phase >= 0.5."""
    return np.asarray(train_masks, dtype=np.float64).mean(axis=0) >= 0.5


def segmentation_scores(task_name: str, pred: np.ndarray, true: np.ndarray, *, n_boot: int = 1000,
                        seed: int = 0) -> tuple[list[Score], np.ndarray]:
    """The Dice/IoU rows of one split (module docstring) and the per-video Dice ``(N, 2)``."""
    from echobench.metrics import mean_report

    dice, iou = dice_iou(pred, true)
    values = {f"Dice[{p}]": dice[:, k] for k, p in enumerate(PHASES)}
    values |= {f"IoU[{p}]": iou[:, k] for k, p in enumerate(PHASES)}
    values["Dice"] = dice.mean(axis=1)
    return [Score(task_name, m, e, units="") for m, e in mean_report(values, n_boot=n_boot, seed=seed).items()], dice
