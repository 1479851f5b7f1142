"""The one polygon rasteriser: pixel centres inside the outline, as the EchoNet reference code."""

from __future__ import annotations

import numpy as np
import pytest

from echobench.data.polygon import polygon_mask


def test_square_and_triangle_cover_the_pixel_centres_inside():
    square = polygon_mask([2.2, 7.6, 7.6, 2.2], [1.0, 1.0, 5.0, 5.0], 10, 12)  # vertices round to (2..8, 1..5)
    assert square.shape == (10, 12) and square.dtype == bool
    rows, cols = np.nonzero(square)
    assert rows.min() >= 1 and rows.max() <= 5 and cols.min() >= 2 and cols.max() <= 8
    assert square[2:5, 3:8].all() and square.sum() <= 7 * 5
    triangle = polygon_mask([0, 10, 0], [0, 0, 10], 12, 12)
    assert triangle[2, 2] and not triangle[8, 8]  # the half below the diagonal x + y = 10 only


@pytest.mark.parametrize("x, y, size, words", [
    ([0, 1], [0, 1], (4, 4), "at least 3"),
    ([0, 1, 2], [0, 1], (4, 4), "differ in length"),
    ([0, np.nan, 2], [0, 1, 2], (4, 4), "NaN"),
    ([0, 1, 2], [0, 1, 2], (0, 4), "positive"),
])
def test_bad_polygons_are_refused(x, y, size, words):
    with pytest.raises(ValueError, match=words):
        polygon_mask(x, y, *size)
