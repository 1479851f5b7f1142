"""Beat detection on synthetic echo videos whose simulator knows every beat (issue 16 checks):
heart rate within 10 % for >= 95 % of videos, ED/ES within 3 frames for >= 90 % of beats, and the
traced ED/ES frames of VolumeTracings.csv found."""

from __future__ import annotations

import numpy as np
import pytest

from echobench.data.echonet import read_echonet
from echobench.data.synth import draw_params
from echobench.data.video import read_video
from echobench.evaluation.beats import Beats, beat_clip_indices, detect_beats
from echobench.protocols import get_protocol

SEED = 0  # synth_small's seed


def _simulated_beats(index: int):
    """The simulator's heart rate (bpm), and every ED and ES frame inside the video."""
    p = draw_params(SEED, index)
    cycle = p.fps * 60.0 / p.hr_bpm  # frames per beat; render() puts phase 0 (ED) at ed_frame + k * cycle
    k = np.arange(-10, 10)
    inside = lambda f: f[(f >= 0) & (f <= p.frames - 1)]  # noqa: E731
    return p, inside(p.ed_frame + k * cycle), inside(p.es_frame + k * cycle)


@pytest.fixture(scope="module")
def detected(synth_small):
    records = {r.file_name: r for r in read_echonet(synth_small, probe=False).records}
    out = []
    for i in range(len(records)):
        p, ed, es = _simulated_beats(i)
        record = records[p.name]
        out.append((p, ed, es, record, detect_beats(read_video(record.path), record.fps)))
    return out


def _near(found: np.ndarray, frame: float) -> bool:
    return found.size > 0 and float(np.min(np.abs(found - frame))) <= 3


def test_heart_rate_within_10_percent_for_95_percent_of_videos(detected):
    ok = [b.found and abs(b.heart_rate(p.fps) - p.hr_bpm) <= 0.1 * p.hr_bpm for p, _, _, _, b in detected]
    assert np.mean(ok) >= 0.95, [p.name for (p, *_), good in zip(detected, ok) if not good]


def test_ed_es_within_3_frames_on_90_percent_of_beats(detected):
    hits = [_near(b.ed, f) for p, ed, _, _, b in detected for f in ed]
    hits += [_near(b.es, f) for p, _, es, _, b in detected for f in es]
    assert len(hits) > 150
    assert np.mean(hits) >= 0.90


def test_traced_ed_es_frames_are_found(detected):
    # VolumeTracings.csv traces one ED and one ES frame per video (its Frame column): the ED is the
    # smaller traced frame of the synthetic videos
    hits = []
    for p, _, _, record, b in detected:
        traced_ed, traced_es = record.traced_frames
        hits += [_near(b.ed, traced_ed), _near(b.es, traced_es)]
    assert np.mean(hits) >= 0.90


def test_a_video_without_a_cycle_is_not_found():
    rng = np.random.default_rng(0)
    still = np.repeat(rng.integers(0, 255, size=(1, 112, 112), dtype=np.uint8), 80, axis=0)
    b = detect_beats(still, 50.0)
    assert not b.found and b.reason and beat_clip_indices(get_protocol("echonet"), b, 80) == []
    noise = rng.integers(0, 255, size=(80, 112, 112), dtype=np.uint8)
    assert not detect_beats(noise, 50.0).found


def test_beat_clips_start_at_ed_and_fit_the_video():
    beats = Beats(True, 40.0, np.array([5, 45, 85]), np.array([18, 58, 98]), np.zeros(130))
    echonet = beat_clip_indices(get_protocol("echonet"), beats, 130)  # 32 frames, period 2: starts <= 66
    assert [int(c[0]) for c in echonet] == [5, 45] and all(c[-1] < 130 for c in echonet)
    linspace = beat_clip_indices(get_protocol("echovisionfm"), beats, 130)  # one cycle, 16 frames
    assert [(int(c[0]), int(c[-1])) for c in linspace] == [(5, 45), (45, 85), (85, 125)]
    # an ED without an ES after it is not a beat
    assert list(Beats(True, 40.0, np.array([5, 45]), np.array([18]), np.zeros(60)).beat_starts()) == [5]


def test_beats_pass_gives_the_strata_brightness_and_contrast(synth_small):
    """predict_beats' grey statistics equal video_statistics' own decode (so a run decodes TEST once)."""
    import torch

    from echobench.data.echonet import read_echonet
    from echobench.engine.devices import make_fabric
    from echobench.evaluation.beats import predict_beats
    from echobench.evaluation.strata import video_statistics
    from echobench.protocols import get_protocol

    records = read_echonet(synth_small).records[:3]

    class Constant(torch.nn.Module):
        def forward(self, x, frame_indices):
            return torch.zeros(x.shape[0])

    class Identity:
        def outputs(self, raw):
            return np.asarray(raw, dtype=np.float64)

    fabric = make_fabric(gpus=0)
    beats = predict_beats(fabric, Constant(), records, get_protocol("echovisionfm"), objective=Identity(), batch_size=4)
    mean, sd = video_statistics(records)
    assert np.allclose(beats.grey[:, 0], mean) and np.allclose(beats.grey[:, 1], sd) and (sd > 0).all()
