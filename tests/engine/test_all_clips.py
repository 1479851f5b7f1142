"""EchoNet-Dynamic all-clips test-time averaging: every clip start, batched, averaged per video."""

from __future__ import annotations

import numpy as np
import torch

from echobench.engine.devices import make_fabric
from echobench.engine.loop import predict_all_clips
from echobench.protocols import get_protocol


class _MeanOfClip(torch.nn.Module):
    """Output = mean pixel of the clip + mean source-frame index / 1000 (depends on the start)."""

    def forward(self, clip: torch.Tensor, frame_indices: torch.Tensor) -> torch.Tensor:
        return clip.mean(dim=(1, 2, 3, 4)) + frame_indices.float().mean(dim=1) / 1000


def test_all_clips_average_matches_a_plain_loop():
    protocol = get_protocol("echonet")
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8) for n in (70, 64, 40)]  # 40 < 32*2: padded
    stats = ([0.2, 0.3, 0.4], [0.5, 0.6, 0.7])
    fabric = make_fabric(gpus=0)
    model = _MeanOfClip()
    got = predict_all_clips(fabric, model, [lambda v=v: v for v in videos], protocol, batch_size=5, stats=stats)
    from echobench.data.clips import take_frames
    from echobench.data.transforms import prepare_clips

    for v, video in enumerate(videos):
        starts = range(protocol.num_starts(len(video)))
        assert len(starts) == max(1, len(video) - 31 * 2)
        outs = []
        for s in starts:
            ind = protocol.frame_indices(len(video), start=s)
            clip = torch.from_numpy(take_frames(video, ind))[None]
            x = prepare_clips(clip, protocol, train=False, mean=stats[0], std=stats[1])
            outs.append(float(model(x, torch.from_numpy(ind)[None])))
        assert got[v] == np.float64(np.mean(outs)) or abs(got[v] - np.mean(outs)) < 1e-5
