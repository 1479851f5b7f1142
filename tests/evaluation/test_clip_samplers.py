"""Test-time clip samplers of the protocol-sensitivity view (echobench.evaluation.clip_samplers)."""

from __future__ import annotations

import numpy as np
import pytest

from echobench.errors import ConfigError
from echobench.evaluation.clip_samplers import check_samplers, sampler_clips
from echobench.protocols import get_protocol

VIDEO = np.zeros((100, 8, 8, 1), dtype=np.uint8)


def test_one_is_the_protocols_test_clip():
    for name in ("echovisionfm", "echonet"):
        p = get_protocol(name)
        (clip,), note = sampler_clips("one", p, VIDEO, 50.0)
        assert clip.tolist() == p.frame_indices(100, start=0).tolist() and note is None


def test_uniform_k_contiguous_spreads_starts_over_the_video():
    p = get_protocol("echonet")  # 32 frames at period 2: starts 0 .. 100 - 62 - 1 = 37
    clips, _ = sampler_clips("uniform-3", p, VIDEO, 50.0)
    assert [int(c[0]) for c in clips] == [0, 18, 37] and all(np.diff(c).tolist() == [2] * 31 for c in clips)


def test_uniform_k_linspace_interleaves_the_test_clip():
    p = get_protocol("echovisionfm")
    clips, _ = sampler_clips("uniform-2", p, VIDEO, 50.0)
    assert clips[0].tolist() == p.frame_indices(100).tolist()
    assert all(0 <= int(c.min()) and int(c.max()) <= 99 for c in clips)
    assert (clips[1] - clips[0]).max() >= 3 and (clips[1] >= clips[0]).all()  # shifted by half the spacing (6.6)


def test_all_is_every_start_and_not_offered_for_linspace():
    p = get_protocol("echonet")
    clips, _ = sampler_clips("all", p, VIDEO, 50.0)
    assert len(clips) == p.num_starts(100) == 38
    assert check_samplers(("one", "all", "beats"), get_protocol("echovisionfm")) == ("one", "beats")
    with pytest.raises(ConfigError, match="unknown clip sampler"):
        check_samplers(("uniform-0",), p)


def test_beats_fall_back_to_all_clips_with_a_reason():
    p = get_protocol("echonet")
    clips, note = sampler_clips("beats", p, VIDEO, 50.0)  # a blank video has no cycle
    assert note and len(clips) == p.num_starts(100)
