"""Clip decoding, padding and the on-device batch transform of each protocol."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from echobench.data.clips import ClipDataset, decode_clips, fit_frame_size, take_frames
from echobench.data.echonet import read_echonet
from echobench.data.transforms import channel_stats, prepare_clips
from echobench.data.video import write_avi
from echobench.protocols import get_protocol


def test_take_frames_pads_with_zero_frames():
    video = np.full((3, 4, 4, 3), 7, np.uint8)
    out = take_frames(video, np.array([0, 2, 4, 6]))
    assert out.shape == (4, 4, 4, 3) and out[:2].min() == 7 and out[2:].max() == 0


def test_prepare_clips_echovisionfm_resizes_to_224_in_unit_range():
    p = get_protocol("echovisionfm")
    clip = torch.randint(0, 256, (2, 16, 112, 112, 3), dtype=torch.uint8)
    x = prepare_clips(clip, p, train=False)
    assert x.shape == (2, 3, 16, 224, 224) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    flat = clip.float().div(255).mean()
    assert float(x.mean()) == pytest.approx(float(flat), abs=0.01)


def test_train_flips_are_one_draw_per_clip():
    p = get_protocol("echovisionfm")
    clip = torch.zeros((8, 16, 112, 112, 3), dtype=torch.uint8)
    clip[:, :, :10, :10] = 255  # a bright top-left corner
    x = prepare_clips(clip, p, train=True, generator=torch.Generator().manual_seed(0))
    corners = torch.stack([x[:, 0, :, :20, :20].mean((1, 2, 3)), x[:, 0, :, :20, -20:].mean((1, 2, 3)),
                           x[:, 0, :, -20:, :20].mean((1, 2, 3)), x[:, 0, :, -20:, -20:].mean((1, 2, 3))], 1)
    assert (corners.argmax(1).unique().numel() > 1)  # flips happened, differently per clip
    same_frames = x[:, 0, 0] - x[:, 0, -1]
    assert float(same_frames.abs().max()) == 0.0  # all frames of a clip flipped alike


def test_echonet_protocol_normalises_with_train_stats():
    p = get_protocol("echonet")
    videos = [np.random.default_rng(i).integers(0, 256, (10, 112, 112, 1), dtype=np.uint8) for i in range(3)]
    mean, std = channel_stats(videos)
    clip = torch.from_numpy(np.repeat(np.stack([v[:, :] for v in videos])[:, :10], 3, -1))
    x = prepare_clips(clip, p, train=False, mean=mean, std=std)
    assert x.shape == (3, 3, 10, 112, 112)
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-3) and float(x.std()) == pytest.approx(1.0, abs=1e-2)
    with pytest.raises(ValueError, match="TRAIN mean/std"):
        prepare_clips(clip, p, train=False)


def test_short_video_is_padded_and_counted(make_echonet):
    d = make_echonet(6)
    short = d.video(d.names[0])
    write_avi(short, np.full((20, 112, 112), 90, np.uint8), 50.0)
    data = read_echonet(d.root)
    record = next(r for r in data.records if r.file_name == d.names[0])
    decoded = decode_clips([record], get_protocol("echonet"))
    assert decoded.records == [record] and not decoded.skipped  # kept, never silently dropped
    assert decoded.notes == {"video shorter than one echonet clip (zero-padded)": 1}
    (message,) = decoded.messages
    assert d.names[0] in message and "\n" not in message and "padded" in message
    ds = ClipDataset([record], np.zeros(1), get_protocol("echonet"), train=False)
    item = ds[0]
    assert item["clip"].shape == (32, 112, 112, 3)
    assert int(item["clip"][:10].min()) > 0 and int(item["clip"][10:].max()) == 0  # frames 0..18 real, then zeros


def test_undecodable_video_is_skipped_and_counted(make_echonet):
    d = make_echonet(6)
    data = read_echonet(d.root)
    bad = replace(data.records[0], path=d.root / "Videos" / "gone.avi")
    decoded = decode_clips([bad, *data.records[1:]], get_protocol("echovisionfm"))
    assert decoded.skipped == {"video could not be decoded": 1}
    assert len(decoded.records) == len(data.records) - 1 and len(decoded.clips) == len(decoded.records)
    assert "gone.avi" in decoded.messages[0]


@pytest.mark.parametrize("protocol", ["echovisionfm", "echonet"])
def test_videos_of_other_sizes_are_resized_to_the_dataset_size(protocol, make_echonet):
    """EchoNet-Dynamic's release has 768x1024 / 768x1040 videos among 112x112: one batch must hold both."""
    from torch.utils.data import default_collate

    d = make_echonet(6)
    for name, size in ((d.names[0], (768, 1024)), (d.names[1], (768, 1040))):
        write_avi(d.video(name), np.full((70, *size), 90, np.uint8), 50.0)
    records = read_echonet(d.root).records
    p = get_protocol(protocol)
    decoded = decode_clips(records, p)
    assert decoded.records == records and not decoded.skipped and decoded.frame_size == (112, 112)
    assert decoded.notes["frame size differs from the dataset's 112x112 (resized to it)"] == 2
    assert sum("768x1040" in m and d.names[1] in m for m in decoded.messages) == 1
    ds = ClipDataset(decoded.records, np.zeros(len(records)), p, train=True, clips=decoded.clips,
                     frame_indices=decoded.frame_indices, frame_size=decoded.frame_size)
    batch = default_collate([ds[i] for i in range(len(ds))])
    grey_cached = decoded.clips is not None  # cached grey clips: one channel to the device; decoded per item: RGB
    assert batch["clip"].shape == (len(records), p.frames, 112, 112, 1 if grey_cached else 3)
    big = batch["clip"][records.index(next(r for r in records if r.file_name == d.names[0]))]
    assert abs(int(big[0].float().mean().round()) - 90) <= 2  # the picture, not zeros or noise


def test_fit_frame_size_keeps_a_clip_of_that_size_and_antialiases_the_others():
    clip = np.random.default_rng(0).integers(0, 256, (2, 112, 112, 1), dtype=np.uint8)
    assert fit_frame_size(clip, (112, 112)) is clip and fit_frame_size(clip, None) is clip
    stripes = np.zeros((1, 768, 1024, 3), np.uint8)
    stripes[:, :, ::2] = 255  # one-pixel stripes: an aliasing resize would give 0 or 255 columns
    small = fit_frame_size(stripes, (112, 112))
    assert small.shape == (1, 112, 112, 3) and small.dtype == np.uint8
    assert 120 <= int(small.min()) and int(small.max()) <= 135


@pytest.mark.parametrize("workers", [0, 2])
def test_decoding_stops_when_asked(make_echonet, monkeypatch, workers):
    """Ctrl-C while decoding stops before the next video, not after the whole dataset (with worker
    processes, they stop too; they may have decoded a video or two ahead)."""
    from echobench.data import clips
    from echobench.engine.loop import Interrupted

    d = make_echonet(6)
    records = read_echonet(d.root).records
    log = d.root / "decoded.txt"  # appended to by whichever process decodes
    real = clips.read_frames

    def counted(path, select):
        with open(log, "a") as fh:
            fh.write(f"{path}\n")
        return real(path, select)

    monkeypatch.setattr(clips, "read_frames", counted)
    polls = iter([False, False, True])
    with pytest.raises(Interrupted, match="2 of 6 decoded"):
        decode_clips(records, get_protocol("echovisionfm"), stop=lambda: next(polls), workers=workers,
                     whole=lambda _r: False)
    # in this process exactly the 2 taken; workers at most those plus the 2 x 2 they prefetch
    assert 2 <= len(log.read_text().splitlines()) <= (2 if workers == 0 else 6)


@pytest.mark.parametrize("protocol", ["echovisionfm", "echonet"])
def test_decoding_in_worker_processes_gives_the_one_process_result(protocol, make_echonet):
    """`decode_clips(workers=2)` (the default on a machine with cores to spare) equals decoding in this
    process: the same records in order, clips, frame indices, held frames, channel counts, skips
    (a missing file), notes (a short video, a 160x128 one resized) and messages."""
    d = make_echonet(8)
    write_avi(d.video(d.names[0]), np.full((20, 112, 112), 90, np.uint8), 50.0)
    write_avi(d.video(d.names[1]), np.full((70, 160, 128), 90, np.uint8), 50.0)
    records = read_echonet(d.root).records
    records = [records[0], replace(records[1], path=d.root / "Videos" / "gone.avi"), *records[1:]]
    p = get_protocol(protocol)
    options = dict(whole=lambda r: r.split == "TEST", hold=True, histograms=lambda r: r.split == "TRAIN")
    one, many = decode_clips(records, p, workers=0, **options), decode_clips(records, p, workers=2, **options)
    assert one.records == many.records and len(one.records) == len(records) - 1
    assert (one.skipped, one.notes, one.messages, one.frame_size, one.streamed) == (
        many.skipped, many.notes, many.messages, many.frame_size, many.streamed)
    assert one.notes["frame size differs from the dataset's 112x112 (resized to it)"] == 1
    assert one.skipped == {"video could not be decoded": 1}
    for name in ("clips", "frame_indices", "videos", "counts"):
        a, b = getattr(one, name), getattr(many, name)
        assert (a is None) == (b is None), name
        for x, y in zip(a or [], b or []):
            assert (x is None and y is None) or np.array_equal(x, y), name
    assert one.videos is not None and any(v is not None for v in one.videos)


def test_channel_stats_stream_one_video_at_a_time_and_match_float64_sums():
    """Grey and colour videos mixed; a generator is consumed lazily (one decoded video held at a time)."""
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 256, (5, 16, 16, c), dtype=np.uint8) for c in (1, 3, 1)]
    held: list[int] = []

    def stream():
        for i, v in enumerate(videos):
            held.append(i)
            yield v
            held.remove(i)  # resumed only once the consumer has finished with video i

    seen = []
    mean, std = channel_stats(v for v in stream() if not seen.append(len(held)))
    assert max(seen) == 1
    ref = np.concatenate([np.repeat(v, 3, -1) if v.shape[-1] == 1 else v for v in videos]).reshape(-1, 3) / 255.0
    assert np.allclose(mean, ref.mean(0), rtol=0, atol=1e-12) and np.allclose(std, ref.std(0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("protocol", ["echovisionfm", "echonet"])
def test_grey_clips_travel_as_one_channel_and_become_the_same_input_on_the_device(protocol):
    """Issue 15 item 5: a grey cached clip is batched as ``(B, T, H, W, 1)`` and expanded to three
    channels after the resize, giving exactly the input its RGB copy gives (resize, flips, mean/std)."""
    p = get_protocol(protocol)
    rng = np.random.default_rng(0)
    grey = [rng.integers(0, 256, (p.frames, 20, 24, 1), dtype=np.uint8) for _ in range(3)]
    records = [None] * 3  # cached clips: the records' files are never read
    indices = [np.arange(p.frames)] * 3
    ours = ClipDataset(records, np.zeros(3), p, train=False, clips=grey, frame_indices=indices)
    assert ours[0]["clip"].shape == (p.frames, 20, 24, 1)
    mixed = ClipDataset(records, np.zeros(3), p, train=False, clips=[*grey[:2], np.repeat(grey[2], 3, -1)],
                        frame_indices=indices)
    assert mixed[0]["clip"].shape == (p.frames, 20, 24, 3)  # one batch, one shape
    one = torch.stack([ours[i]["clip"] for i in range(3)])
    stats = ([0.2, 0.2, 0.2], [0.3, 0.3, 0.3])
    x = prepare_clips(one, p, train=True, mean=stats[0], std=stats[1], flip_draws=torch.tensor([[0.1, 0.9]] * 3))
    y = prepare_clips(one.expand(-1, -1, -1, -1, 3), p, train=True, mean=stats[0], std=stats[1],
                      flip_draws=torch.tensor([[0.1, 0.9]] * 3))
    assert x.shape == (3, 3, p.frames, p.size, p.size) and torch.equal(x, y)


@pytest.mark.parametrize("channels", [1, 3])
def test_train_flips_flip_exactly_the_drawn_clips_of_the_model_input(channels):
    """Flips are applied to the one-channel frames before the expansion and normalisation (speed): the
    result equals flipping the finished, normalised three-channel input of the drawn clips, bit for bit."""
    p = get_protocol("echovisionfm")
    clip = torch.randint(0, 256, (4, 4, 32, 40, channels), dtype=torch.uint8)
    draws = torch.tensor([[0.1, 0.9], [0.9, 0.1], [0.2, 0.3], [0.7, 0.8]])  # h only, v only, both, none
    plain = prepare_clips(clip, p, train=False)
    flipped = prepare_clips(clip, p, train=True, flip_draws=draws)
    expected = torch.stack([plain[0].flip(-1), plain[1].flip(-2), plain[2].flip(-1).flip(-2), plain[3]])
    assert flipped.shape == (4, 3, 4, p.size, p.size) and flipped.is_contiguous()
    assert torch.equal(flipped, expected)


def test_frames_over_the_budget_are_kept_on_disk_memory_mapped(make_echonet, tmp_path, monkeypatch):
    """Past the decode budget the further videos' frames go to files under the spill folder and come
    back memory-mapped: the same arrays as held in memory, the files unlinked at once (nothing left);
    with spilling off, or too little free disk, the run streams as before and says why."""
    import shutil

    d = make_echonet(6)
    records = read_echonet(d.root).records
    p = get_protocol("echonet")
    held = decode_clips(records, p, hold=True, workers=0)
    two = sum(v.nbytes for v in held.videos[:2])
    spill = tmp_path / "spill"
    spill.mkdir()
    kept = decode_clips(records, p, hold=True, budget=two, spill=spill, workers=0)
    assert [isinstance(v, np.memmap) for v in kept.videos] == [False, False, True, True, True, True]
    assert all(np.array_equal(a, b) for a, b in zip(held.videos, kept.videos))
    assert not kept.streamed and "frames of 4 videos" in kept.spilled and str(spill) in kept.spilled
    assert not any(spill.iterdir())  # unlinked once mapped: the space returns with the mappings
    ds = ClipDataset(kept.records, np.zeros(len(records)), p, train=False, videos=kept.videos,
                     frame_size=kept.frame_size)
    reference = ClipDataset(held.records, np.zeros(len(records)), p, train=False, videos=held.videos,
                            frame_size=held.frame_size)
    assert torch.equal(ds[5]["clip"], reference[5]["clip"])

    off = decode_clips(records, p, hold=True, budget=two, spill=None, workers=0)
    assert off.videos is None and "streamed" in off.streamed and not off.spilled
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: shutil._ntuple_diskusage(10, 10, 10))
    full = decode_clips(records, p, hold=True, budget=two, spill=spill, workers=0)
    assert full.videos is None and "not spilled to disk" in full.streamed and "free" in full.streamed


def test_decode_workers_follow_the_cores_and_never_spawn(monkeypatch):
    """Default: the available cores shared by the node's processes (0 when that leaves one); 0 where
    processes would start by spawn (macOS, Windows: a worker re-imports the caller's script)."""
    import multiprocessing

    from echobench.data.clips import decode_workers
    from echobench.engine import devices

    monkeypatch.setattr(devices, "available_cores", lambda: 16)
    assert (decode_workers(), decode_workers(processes=8), decode_workers(processes=16), decode_workers(3)) == (
        16, 2, 0, 3)
    monkeypatch.setattr(multiprocessing, "get_start_method", lambda allow_none=False: "spawn")
    assert decode_workers() == 0 and decode_workers(4) == 4


def test_an_error_in_a_decode_worker_is_the_same_one_line_error(make_echonet, monkeypatch):
    from echobench.data import clips
    from echobench.errors import ConfigError

    d = make_echonet(4)

    def broken(path):
        raise ConfigError(f"{path}: no such setting")

    monkeypatch.setattr(clips, "read_video", broken)
    with pytest.raises(ConfigError, match=r"^\S+\.avi: no such setting$"):
        decode_clips(read_echonet(d.root).records, get_protocol("echonet"), workers=2)


def test_a_decode_worker_that_stops_answering_leaves_the_rest_to_this_process(make_echonet, monkeypatch):
    """A worker that hangs (or dies) does not hang the run: after the wait the videos still to come are
    decoded here, the result is the one-process result, and the messages say so."""
    import os
    import time

    from echobench.data import clips

    d = make_echonet(5)
    records = read_echonet(d.root).records
    p = get_protocol("echovisionfm")
    expected = decode_clips(records, p, workers=0)
    real, main = clips.read_video, os.getpid()
    monkeypatch.setattr(clips, "read_video", lambda path: time.sleep(3) if os.getpid() != main else real(path))
    monkeypatch.setattr(clips, "WORKER_TIMEOUT_S", 1)
    got = decode_clips(records, p, workers=2)
    assert got.records == expected.records and len(got.clips) == len(records)
    assert all(np.array_equal(a, b) for a, b in zip(got.clips, expected.clips))
    assert any("decoding workers failed" in m and "5 videos are decoded in this process" in m for m in got.messages)
