"""The dense clip rule (echobench.data.dense_clips): ED and ES are always in the clip, at positions
that vary from video to video, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from echobench.data.dense_clips import dense_frame_indices, dense_step
from echobench.protocols import get_protocol


@pytest.mark.parametrize("protocol", ["echonet", "echovisionfm"])
@pytest.mark.parametrize("ed,es,n", [(10, 25, 120), (40, 5, 60), (0, 1, 20), (3, 90, 100), (70, 79, 80)])
def test_clip_holds_ed_and_es(protocol, ed, es, n):
    p = get_protocol(protocol)
    for seed in range(5):
        idx, pos = dense_frame_indices(p, n, ed, es, np.random.default_rng(seed))
        assert idx.shape == (p.frames,) and pos.shape == (2,)
        assert idx[pos[0]] == ed and idx[pos[1]] == es and pos[0] != pos[1]
        assert (np.diff(idx) > 0).all(), idx  # still in time order
        assert idx.min() >= 0


def test_step_grows_only_when_ed_es_would_not_fit():
    p = get_protocol("echonet")  # 32 frames, period 2
    assert dense_step(p, 10, 30) == 2
    assert dense_step(p, 0, 93) == 3  # ceil(93 / 31)


def test_positions_vary_between_draws_and_stay_inside_the_video_when_possible():
    p = get_protocol("echovisionfm")  # 16 frames, step 1
    seen = set()
    for seed in range(20):
        idx, pos = dense_frame_indices(p, 100, 40, 52, np.random.default_rng(seed))
        seen.add(int(pos[0]))
        assert idx.max() < 100
    assert len(seen) >= 3  # the ED position is not a constant a model could learn


def test_rejects_equal_or_outside_frames():
    p = get_protocol("echonet")
    with pytest.raises(ValueError, match="distinct"):
        dense_frame_indices(p, 50, 10, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="distinct"):
        dense_frame_indices(p, 50, 10, 50, np.random.default_rng(0))
