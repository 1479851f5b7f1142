"""Polygon -> pixel mask, the one rasteriser for traced outlines (issue 17: LV masks from tracings).

Follows the EchoNet reference code (github.com/echonet/dynamic, ``echonet/datasets/echo.py``, which
builds ``LargeTrace``/``SmallTrace`` with ``skimage.draw.polygon`` from vertices rounded to whole
pixels): a pixel is inside when its centre ``(row, column)`` (integer coordinates) lies inside the
polygon. scikit-image is not a dependency, so ``matplotlib.path.Path.contains_points`` tests the same
centres (pixels exactly on an edge may differ from scikit-image's).
"""

from __future__ import annotations

import numpy as np

__all__ = ["polygon_mask"]


def polygon_mask(x, y, height: int, width: int) -> np.ndarray:
    """Rasterise a closed polygon.

    Args:
        x, y: ``(K,)`` vertex columns and rows in pixels, in outline order (the last vertex joins the
            first); rounded to whole pixels.
        height, width: the frame size in pixels.

    Returns:
        ``(height, width)`` bool, True where the pixel centre lies inside the polygon.

    Raises:
        ValueError: ``x`` and ``y`` differ in length, fewer than 3 vertices, a non-finite
            coordinate, or a non-positive frame size.
    """
    from matplotlib.path import Path as Outline

    x, y = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (x, y))
    if x.size != y.size:
        raise ValueError(f"x and y differ in length ({x.size} and {y.size})")
    if x.size < 3:
        raise ValueError(f"a polygon needs at least 3 vertices, got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("polygon coordinates contain NaN or infinite values")
    if height < 1 or width < 1:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    rows, cols = np.mgrid[0:height, 0:width]
    inside = Outline(np.column_stack([np.rint(x), np.rint(y)])).contains_points(
        np.column_stack([cols.ravel(), rows.ravel()]))
    return inside.reshape(height, width)
