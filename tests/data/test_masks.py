"""LV masks from EchoNet tracings (echobench.data.masks): rasterised polygon, the dataset's masks,
and method-of-discs volumes from a mask."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echobench.data.masks import echonet_masks, mask_volume_ml, tracing_mask


def _rect_rows(x0, x1, y0, y1, chords=10):
    """A long axis down the middle, then horizontal chords from (x0, y) to (x1, y)."""
    ys = np.linspace(y0, y1, chords)
    axis = [[(x0 + x1) / 2, y0, (x0 + x1) / 2, y1]]
    return np.array(axis + [[x0, y, x1, y] for y in ys])


def test_tracing_mask_fills_the_chords_polygon_not_the_long_axis():
    rows = _rect_rows(10, 20, 30, 50)
    rows[0] = [0, 0, 111, 111]  # a long axis far outside the chords must not change the outline
    mask = tracing_mask(*rows.T, 112, 112)
    assert mask.shape == (112, 112) and mask.dtype == bool
    inside = np.zeros((112, 112), bool)
    inside[31:50, 11:20] = True  # strictly inside pixel centres
    assert mask[inside].all()
    assert not mask[:29].any() and not mask[52:].any() and not mask[:, :9].any() and not mask[:, 22:].any()
    assert 11 * 21 >= mask.sum() >= 9 * 19


def test_tracing_mask_rejects_bad_rows():
    rows = _rect_rows(10, 20, 30, 50)
    with pytest.raises(ValueError, match="at least 3 chords"):
        tracing_mask(*rows[:3].T, 112, 112)
    rows[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tracing_mask(*rows.T, 112, 112)


def test_mask_volume_of_an_ellipse_is_the_prolate_ellipsoid():
    yy, xx = np.mgrid[0:112, 0:112]
    a, b = 40.0, 15.0  # semi-axes along (rows) and across, pixels; tilted by 20 degrees
    t = math.radians(20)
    u = (yy - 56) * math.cos(t) + (xx - 56) * math.sin(t)
    v = -(yy - 56) * math.sin(t) + (xx - 56) * math.cos(t)
    mask = (u / a) ** 2 + (v / b) ** 2 <= 1
    assert mask_volume_ml(mask) == pytest.approx(4 / 3 * math.pi * a * b * b, rel=0.04)
    assert mask_volume_ml(mask, 0.1) == pytest.approx(mask_volume_ml(mask) * 1e-3)
    assert mask_volume_ml(np.zeros((8, 8), bool)) == 0.0


def test_echonet_masks_give_the_labelled_ef(synth_tiny):
    """On synthetic data the traced masks' method-of-discs EF is the FileList EF within 3 points."""
    from echobench.data.echonet import read_echonet

    records = read_echonet(synth_tiny).records
    errors = []
    for r in records:
        masks = echonet_masks(r)
        assert set(masks) == set(r.traced_frames)
        assert masks[r.ed_frame].shape == (r.frame_height, r.frame_width)
        ed, es = mask_volume_ml(masks[r.ed_frame]), mask_volume_ml(masks[r.es_frame])
        assert masks[r.ed_frame].sum() > masks[r.es_frame].sum()
        errors.append(abs(100 * (ed - es) / ed - r.ef))
    assert max(errors) < 3.0, errors


def test_echonet_masks_without_tracings_is_one_line_error(tmp_path):
    from echobench.contract.dataset import VideoRecord
    from echobench.errors import DataError

    rec = VideoRecord("A", tmp_path / "Videos" / "A.avi", "TRAIN", 50.0, 10, 112, 112)
    with pytest.raises(DataError, match="VolumeTracings.csv: not found"):
        echonet_masks(rec)
