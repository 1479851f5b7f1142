"""Subgroups and acquisition strata (track :data:`~echobench.evaluation.tracks.STRATA`): every
metric of the task's main table also within each stratum of TEST, with its n and 95 % bootstrap
interval. A stratum with fewer than :data:`MIN_N` videos is shown but not ranked.

Stratifiers: the clinical EF category of the true EF (<= 40, 40-50, >= 50 %; as
:func:`echobench.evaluation.agreement.ef_category`), and TEST tertiles (``numpy.quantile`` at 1/3,
2/3; lower tertile ``T1`` = values <= the 1/3 quantile) of the frame rate (FileList FPS), the frame
count, the video's mean grey level (brightness) and its grey-level sd (contrast); and each value of
every subgroup column the dataset declares (:func:`subgroup_strata`). Rows are named
``<metric>[<stratifier>:<stratum>]``; the stratum names its bounds (or the subgroup's value).
"""

from __future__ import annotations

import numpy as np

from echobench.evaluation.agreement import EF_CATEGORIES, ef_category

from echobench.evaluation.tracks import MIN_N  # noqa: E402  (torch-free home, read by the leaderboard)


def video_statistics(records) -> tuple[np.ndarray, np.ndarray]:
    """Per video of ``records``: mean grey level and grey-level sd over all pixels and frames
    (0-255), each ``(N,)``.

    Raises:
        DataError: a video cannot be decoded.
    """
    from echobench.data.video import read_video

    arr = np.array([grey_statistics(read_video(r.path)) for r in records], dtype=np.float64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def grey_statistics(video: np.ndarray) -> tuple[float, float]:
    """Mean grey level and grey-level sd (0-255) over all pixels and frames of ``video (N, H, W, C)``
    uint8 (channels averaged): the brightness and contrast strata. :func:`echobench.evaluation.beats.predict_beats`
    computes it from the video it already decoded, so a run decodes TEST once for both."""
    v = video.astype(np.float32).mean(axis=-1)
    return float(v.mean()), float(v.std())


def tertiles(values: np.ndarray, label: str, fmt: str = "{:.3g}") -> list[tuple[str, np.ndarray]]:
    """``(stratum name, (N,) bool mask)`` for the three tertiles of ``values`` (empty tertiles dropped)."""
    values = np.asarray(values, dtype=np.float64)
    q1, q2 = np.quantile(values, [1 / 3, 2 / 3])
    groups = [(f"{label}:T1 (<={fmt.format(q1)})", values <= q1),
              (f"{label}:T2 ({fmt.format(q1)}-{fmt.format(q2)}]", (values > q1) & (values <= q2)),
              (f"{label}:T3 (>{fmt.format(q2)})", values > q2)]
    return [(name, mask) for name, mask in groups if mask.any()]


def strata(ef, fps, frames, brightness, contrast) -> list[tuple[str, np.ndarray]]:
    """Every stratum of the module docstring as ``(name, (N,) bool mask)``."""
    ef = np.asarray(ef, dtype=np.float64)
    known = np.isfinite(ef)  # EF strata only where the dataset has an EF label (NaN: none)
    category = ef_category(np.where(known, ef, 0.0))
    out = [(f"EF category:{name}", (category == i) & known) for i, name in enumerate(EF_CATEGORIES)
           if ((category == i) & known).any()]
    out += tertiles(fps, "FPS") + tertiles(frames, "frames", "{:.0f}")
    out += tertiles(brightness, "brightness", "{:.1f}") + tertiles(contrast, "contrast", "{:.1f}")
    return out


def subgroup_strata(records, columns) -> list[tuple[str, np.ndarray]]:
    """``(name, (N,) bool mask)`` per value of each subgroup column a dataset declares
    (``DatasetSpec.subgroups``: vendor, sex, age band, image quality...), over ``records``
    (:class:`~echobench.contract.dataset.VideoRecord`, their ``subgroups``), values in sorted order;
    a video without a value for the column is in no stratum of it. Named ``<column>:<value>``."""
    out = []
    for column in columns:
        values = np.array([str(r.subgroups.get(column, "")) for r in records], dtype=object)
        out += [(f"{column}:{value}", values == value) for value in sorted(set(values) - {""})]
    return out


def stratum_scores(task, outputs: np.ndarray, labels: np.ndarray, ef: np.ndarray, groups, *, n_boot: int = 1000,
                   seed: int = 0) -> list:
    """The task's own main-table metrics (no EF-band MAE: the EF category strata replace it) within each
    stratum ``groups`` (``(name, mask)``); each :class:`~echobench.evaluation.Score` carries its ``n``."""
    from dataclasses import replace

    from echobench.evaluation import score_outputs
    from echobench.evaluation.tracks import STRATA

    rows = []
    for name, mask in groups:
        for s in score_outputs(task, outputs[mask], labels[mask], ef[mask], n_boot=n_boot, seed=seed):
            if s.task == task.name and not s.metric.startswith("MAE[EF"):
                rows.append(replace(s, metric=f"{s.metric}[{name}]", track=STRATA.tag, n=int(mask.sum())))
    return rows
