"""Protocols (DESIGN §5): frame indices, padding, target scaling, lookup errors."""

from __future__ import annotations

import numpy as np
import pytest

from echobench.errors import UnknownNameError
from echobench.protocols import get_protocol


def test_echovisionfm_linspace_over_whole_video():
    p = get_protocol("echovisionfm")
    idx = p.frame_indices(151)
    assert idx.tolist() == np.linspace(0, 150, 16).astype(int).tolist()
    assert idx[0] == 0 and idx[-1] == 150 and len(idx) == 16
    assert p.frame_indices(8).tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7]  # short: repeats
    assert not p.needs_padding(8)


def test_echonet_period_two_clips_and_padding():
    p = get_protocol("echonet")
    assert p.frame_indices(200, start=5).tolist() == list(range(5, 5 + 64, 2))
    assert p.num_starts(200) == 200 - 62
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = p.frame_indices(100, rng=rng)
        assert 0 <= idx[0] and idx[-1] <= 99
    assert p.needs_padding(40) and not p.needs_padding(64)
    assert p.frame_indices(40).tolist()[-1] == 62  # beyond the video: a padding frame


def test_targets_round_trip_in_natural_units():
    p = get_protocol("echovisionfm")
    assert p.encode_target(55.0, "%") == pytest.approx(0.55)
    assert p.encode_target(100.0, "mL") == pytest.approx(np.log(100.0))
    assert p.decode_target(p.encode_target(42.0, "mL"), "mL") == pytest.approx(42.0)
    assert get_protocol("echonet").encode_target(55.0, "%") == pytest.approx(55.0)


def test_unknown_protocol():
    with pytest.raises(UnknownNameError, match="known: echovisionfm, echonet"):
        get_protocol("echovision")
