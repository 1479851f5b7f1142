"""Method of discs: the table function (one vectorised pass, used by the reader for ED/ES) gives the
volume :func:`disc_volume_ml` gives frame by frame."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from echobench.data.discs import disc_volume_ml, volumes_from_tracings


def test_table_volumes_equal_frame_by_frame_volumes():
    rng = np.random.default_rng(0)
    rows, expected = [], []
    for v in range(30):
        for frame in (3, 17, 40)[: 2 + v % 2]:
            coords = rng.uniform(0, 112, (1 + int(rng.integers(1, 21)), 4))
            rows += [(f"0X{v:04d}" + (".avi" if v % 3 else ""), *c, frame) for c in coords]
            expected.append(disc_volume_ml(coords[0], coords[1:], 0.07))
    table = pl.DataFrame(rows, schema=["FileName", "X1", "Y1", "X2", "Y2", "Frame"], orient="row")
    got = volumes_from_tracings(table, 0.07)["Volume"].to_list()
    assert got == pytest.approx(expected, rel=1e-12)


def test_a_missing_coordinate_gives_no_volume_and_bad_spacing_is_refused():
    table = pl.DataFrame({"FileName": ["A"] * 3, "X1": [0.0, 1.0, None], "Y1": [0.0, 0.0, 0.0],
                          "X2": [0.0, 3.0, 4.0], "Y2": [9.0, 0.0, 0.0], "Frame": [1, 1, 1]})
    assert math.isnan(volumes_from_tracings(table, 1.0)["Volume"][0])  # never a volume from part of the chords
    with pytest.raises(ValueError, match="cm_per_pixel"):
        volumes_from_tracings(table, 0.0)
