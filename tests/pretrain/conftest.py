"""Small pre-training inputs: short, low-resolution clips cut from the synthetic EchoNet videos."""

from __future__ import annotations

from pathlib import Path

import pytest

N_CLIPS, FRAMES, SHORT_FRAMES = 8, 40, 20


@pytest.fixture(scope="session")
def small_clips(synth_small, tmp_path_factory) -> Path:
    """A plain folder of 8 AVI clips, 56x56 px, 40 frames (the first one 20 frames: shorter than
    16 frames x stride 2), cut from ``synth_small`` so pre-training tests decode little."""
    from echobench.data.video import read_video, write_avi

    out = tmp_path_factory.mktemp("pretrain_clips")
    for i, path in enumerate(sorted((synth_small / "Videos").glob("*.avi"))[:N_CLIPS]):
        video = read_video(path)[:FRAMES, ::2, ::2, 0]
        write_avi(out / path.name, video[:SHORT_FRAMES] if i == 0 else video, 50.0)
    return out
