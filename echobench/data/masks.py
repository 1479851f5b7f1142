"""LV cavity masks from EchoNet-style tracings, and method-of-discs volumes from masks.

:func:`tracing_mask` rasterises one traced frame of ``VolumeTracings.csv`` (its rows ``X1, Y1, X2,
Y2``: the long axis first, then the disc chords; see :mod:`echobench.data.discs`) the way the
EchoNet-Dynamic reference code builds its segmentation targets (github.com/echonet/dynamic,
``echonet/datasets/echo.py``, ``LargeTrace``/``SmallTrace``): the long-axis row is dropped, the
polygon runs down the chords' first ends and back up their second ends, its vertices are rounded to
whole pixels, and every pixel whose centre ``(row, column)`` lies inside it is set (the reference
uses ``skimage.draw.polygon``; here ``matplotlib.path.Path.contains_points`` tests the same pixel
centres, since scikit-image is not a dependency; pixels exactly on an edge may differ).

:func:`echonet_masks` is the EchoNet-Dynamic dataset's ``DatasetSpec.masks``: a record's masks on its
traced frames. :func:`mask_discs` and :func:`mask_volume_ml` go the other way, from a mask to a long
axis, disc diameters and a volume (the approximation is documented there).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import polars as pl

from echobench.data.discs import N_DISCS
from echobench.errors import DataError

__all__ = ["echonet_masks", "mask_discs", "mask_volume_ml", "tracing_mask", "tracings_by_frame"]


def tracing_mask(x1, y1, x2, y2, height: int, width: int) -> np.ndarray:
    """Rasterise one traced frame into an LV cavity mask (EchoNet-Dynamic ``echo.py``).

    Args:
        x1, y1, x2, y2: ``(K,)`` the frame's rows of ``VolumeTracings.csv`` in file order, pixels:
            row 0 is the long axis (not part of the outline), rows 1.. the disc chords.
        height, width: the frame size in pixels.

    Returns:
        ``(height, width)`` bool, True inside the polygon ``chord first ends, then the second ends in
        reverse`` (vertices rounded to whole pixels, pixel centres at integer coordinates).

    Raises:
        ValueError: the four arrays differ in length, fewer than 3 chords (no area), a non-finite
            coordinate, or a non-positive frame size.
    """
    cols = [np.asarray(v, dtype=np.float64).reshape(-1) for v in (x1, y1, x2, y2)]
    if len({c.size for c in cols}) != 1:
        raise ValueError(f"X1, Y1, X2, Y2 differ in length ({', '.join(str(c.size) for c in cols)})")
    if cols[0].size < 4:
        raise ValueError(f"a traced frame needs the long axis and at least 3 chords, got {cols[0].size} row(s)")
    from echobench.data.polygon import polygon_mask  # the one rasteriser (pixel-centre test, rounded vertices)

    return polygon_mask(np.concatenate([cols[0][1:], cols[2][1:][::-1]]),
                        np.concatenate([cols[1][1:], cols[3][1:][::-1]]), height, width)


@functools.lru_cache(maxsize=8)
def _tracings(path: str, mtime_ns: int, size: int) -> dict[str, dict[int, np.ndarray]]:
    """``{stem: {frame: (K, 4) X1, Y1, X2, Y2}}`` of one ``VolumeTracings.csv`` (cached per file state)."""
    from echobench.data.echonet import _TRACING_COLUMNS
    from echobench.data.readers import read_table, video_stem_expr

    df = read_table(path, _TRACING_COLUMNS)
    missing = [c for c in _TRACING_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    df = df.select(video_stem_expr(pl.col("FileName")),
                   *(pl.col(c).cast(pl.Float64, strict=False) for c in ("Frame", "X1", "Y1", "X2", "Y2")))
    df = df.filter(pl.col("Frame").is_finite() & (pl.col("Frame") >= 0) & (pl.col("Frame") == pl.col("Frame").floor()))
    out: dict[str, dict[int, np.ndarray]] = {}
    for (stem, frame), group in df.group_by(["FileName", "Frame"], maintain_order=True):
        out.setdefault(stem, {})[int(frame)] = group.select("X1", "Y1", "X2", "Y2").to_numpy()
    return out


def tracings_by_frame(root: str | os.PathLike) -> dict[str, dict[int, np.ndarray]]:
    """Every traced frame of ``root/VolumeTracings.csv``: ``{FileName stem: {frame: (K, 4) float64}}``
    (rows in file order; rows without a whole, non-negative Frame left out, as the reader counts them).

    Raises:
        DataError: the file is missing, cannot be parsed, or lacks a column (one line naming it).
    """
    path = Path(root) / "VolumeTracings.csv"
    try:
        st = path.stat()
    except OSError:
        raise DataError(f"{path}: not found (segmentation needs the tracings)") from None
    return _tracings(str(path.resolve()), st.st_mtime_ns, st.st_size)


def echonet_masks(record) -> dict[int, np.ndarray]:
    """LV cavity masks of an EchoNet-Dynamic record on its traced frames (``DatasetSpec.masks``).

    The record's video lives in ``root/Videos/``; its tracings are in ``root/VolumeTracings.csv``.

    Returns:
        ``{frame: (frame_height, frame_width) bool}`` for every traced frame whose rows make a
        polygon (frames with fewer than 3 chords or bad coordinates are left out).

    Raises:
        DataError: the tracings file is missing or unusable.
    """
    root = Path(record.path).parent.parent
    frames = tracings_by_frame(root).get(record.file_name, {})
    out = {}
    for frame, rows in sorted(frames.items()):
        try:
            out[frame] = tracing_mask(*rows.T, record.frame_height, record.frame_width)
        except ValueError:
            continue
    return out


def mask_discs(mask: np.ndarray, *, discs: int = N_DISCS) -> tuple[float, np.ndarray]:
    """Long-axis length and disc diameters of an LV cavity mask (single-plane method of discs).

    Approximation (the tracer's apex and mitral-annulus points are not in a mask): the long axis is
    the mask's principal axis (the first eigenvector of its pixel coordinates' covariance), its
    length ``L`` the extent of the pixel centres along it plus one pixel; the axis is cut into
    ``discs`` slabs of height ``L / discs`` and each disc's diameter is its slab's pixel area divided
    by the slab height (the mean chord of the slab). For a convex, axis-aligned cavity this is the
    ASE method of discs with area-averaged chords; the EF derived from two such volumes does not
    depend on the pixel spacing.

    Args:
        mask: ``(H, W)`` bool.
        discs: number of discs (ASE: 20).

    Returns:
        ``(L, d)``: length in pixels and ``(discs,)`` diameters in pixels; ``(0.0, zeros)`` for an
        empty mask.
    """
    yx = np.argwhere(np.asarray(mask, dtype=bool)).astype(np.float64)
    if len(yx) == 0:
        return 0.0, np.zeros(discs)
    centred = yx - yx.mean(axis=0)
    if len(yx) > 1:
        _, vectors = np.linalg.eigh(centred.T @ centred)
        axis = vectors[:, -1]
    else:
        axis = np.array([1.0, 0.0])
    along = centred @ axis
    lo, length = along.min() - 0.5, float(np.ptp(along)) + 1.0
    slab = np.minimum((along - lo) / (length / discs), discs - 1).astype(np.int64)
    area = np.bincount(slab, minlength=discs).astype(np.float64)
    return length, area / (length / discs)


def mask_volume_ml(mask: np.ndarray, cm_per_pixel: float = 1.0) -> float:
    """Method-of-discs volume of an LV cavity mask, ``sum pi/4 d_i^2 L/N`` (:func:`mask_discs`).

    Returns mL for ``cm_per_pixel`` in cm/pixel (the default 1.0 gives pixel^3: enough for EF).

    Raises:
        ValueError: ``cm_per_pixel <= 0``.
    """
    if not cm_per_pixel > 0:
        raise ValueError(f"cm_per_pixel must be > 0, got {cm_per_pixel}")
    length, d = mask_discs(mask)
    return float(np.sum(math.pi / 4.0 * d**2) * length / len(d)) * float(cm_per_pixel) ** 3
