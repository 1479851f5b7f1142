"""Left-ventricular volume by the method of discs (Simpson's rule), from EchoNet-style tracings.

EchoNet-Dynamic (Ouyang et al., Nature 2020; ``VolumeTracings.csv`` of the public release, read by
``echonet/datasets/echo.py``) stores each traced frame as consecutive rows ``X1, Y1, X2, Y2`` in
pixel coordinates of the 112x112 frame: the first row is the LV long axis (apex to the middle of the
mitral annulus), the following rows are the disc chords, each perpendicular to the long axis. The
clinical method (ASE/EACVI chamber-quantification guideline, single-plane method of discs) uses 20
discs of equal height ``L / N``:

    V = sum_i  pi/4 * d_i**2 * L / N

with ``d_i`` the chord (disc diameter) lengths and ``L`` the long-axis length. Pixel volumes are
converted to mL (= cm^3) with ``cm_per_pixel ** 3``.

Note: the volumes in the official EchoNet ``FileList.csv`` were measured on the full-resolution
images by the clinical system; recomputing them from the 112x112 tracings needs a per-video pixel
spacing the release does not ship. For the synthetic data of :mod:`echobench.data.synth` the spacing
is known (``SYNTHETIC.json``) and recomputation reproduces the labels.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from echobench.errors import DataError

__all__ = ["N_DISCS", "disc_volume_ml", "volumes_from_tracings"]

N_DISCS = 20
"""Number of discs in the ASE method of discs (and in EchoNet-Dynamic's tracings)."""


def disc_volume_ml(long_axis: np.ndarray, chords: np.ndarray, cm_per_pixel: float) -> float:
    """Volume of one traced frame by the method of discs.

    Args:
        long_axis: ``(4,)`` ``X1, Y1, X2, Y2`` of the long axis, pixels.
        chords: ``(N, 4)`` ``X1, Y1, X2, Y2`` of the ``N`` disc chords, pixels (``N`` = 20 in
            EchoNet-Dynamic). Only their lengths are used; the disc height is ``L / N``.
        cm_per_pixel: pixel spacing in cm/pixel (isotropic).

    Returns:
        Volume in mL (cm^3).

    Raises:
        ValueError: wrong shapes, no chords, or ``cm_per_pixel <= 0``.
    """
    axis = np.asarray(long_axis, dtype=np.float64).reshape(-1)
    chords = np.asarray(chords, dtype=np.float64)
    if axis.shape != (4,):
        raise ValueError(f"long_axis must have shape (4,), got {axis.shape}")
    if chords.ndim != 2 or chords.shape[1] != 4 or len(chords) == 0:
        raise ValueError(f"chords must have shape (N, 4) with N >= 1, got {chords.shape}")
    if not cm_per_pixel > 0:
        raise ValueError(f"cm_per_pixel must be > 0, got {cm_per_pixel}")
    length = math.hypot(axis[2] - axis[0], axis[3] - axis[1])
    d2 = (chords[:, 2] - chords[:, 0]) ** 2 + (chords[:, 3] - chords[:, 1]) ** 2
    volume_px = float(np.sum(np.pi / 4.0 * d2) * length / len(chords))
    return volume_px * float(cm_per_pixel) ** 3


def volumes_from_tracings(tracings: pl.DataFrame, cm_per_pixel: float) -> pl.DataFrame:
    """Volume of every traced frame of an EchoNet-style ``VolumeTracings.csv`` table.

    Rows are grouped by ``(FileName, Frame)`` keeping file order; in each group the first row is
    the long axis and the remaining rows are the chords (see :func:`disc_volume_ml`).

    Args:
        tracings: columns ``FileName, X1, Y1, X2, Y2, Frame`` (extra columns are ignored);
            coordinates in pixels. FileName may carry ``.avi`` or not.
        cm_per_pixel: pixel spacing in cm/pixel.

    Returns:
        One row per traced frame, in order of first appearance: ``FileName`` (without ``.avi``),
        ``Frame`` (int), ``Volume`` (mL; null for a frame with a long axis but no chord).

    Raises:
        DataError: a required column is missing.
        ValueError: ``cm_per_pixel <= 0``.
    """
    if not cm_per_pixel > 0:
        raise ValueError(f"cm_per_pixel must be > 0, got {cm_per_pixel}")
    missing = [c for c in ("FileName", "X1", "Y1", "X2", "Y2", "Frame") if c not in tracings.columns]
    if missing:
        raise DataError(f"VolumeTracings: missing column(s) {', '.join(missing)}")
    d2 = (pl.col("X2") - pl.col("X1")) ** 2 + (pl.col("Y2") - pl.col("Y1")) ** 2  # squared length, px^2
    grouped = (
        tracings.select(
            pl.col("FileName").cast(pl.Utf8).str.replace(r"(?i)\.avi$", ""),
            pl.col("Frame").cast(pl.Int64),
            *(pl.col(c).cast(pl.Float64).fill_null(math.nan) for c in ("X1", "Y1", "X2", "Y2")),
        )
        .with_columns(d2.alias("d2"))
        .group_by(["FileName", "Frame"], maintain_order=True)
        # the same sum as disc_volume_ml, one vectorised pass for every frame (NaN propagates)
        .agg(pl.col("d2").first().sqrt().alias("length"), pl.col("d2").slice(1).sum().alias("sum_d2"),
             (pl.len() - 1).alias("discs"))
    )
    volume = pl.col("sum_d2") * (math.pi / 4.0) * pl.col("length") / pl.col("discs") * float(cm_per_pixel) ** 3
    return grouped.select("FileName", "Frame",
                          pl.when(pl.col("discs") > 0).then(volume).otherwise(None).cast(pl.Float64).alias("Volume"))
