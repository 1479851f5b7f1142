"""Shard store vs the AVI pre-training loader: device-ready uint8 clips per core (issue 15 item 1).

Not part of the test run. Run:  python -m pytest benchmarks/test_shard_store.py -s

Writes ``VIDEOS`` grey 224x224 AVIs of 74 frames (the median MIMIC-IV-ECHO loop length; the
synthetic EchoNet-format generator's frames upsampled 2x) with echobench's own AVI writer, turns them
into a shard store (:func:`echobench.data.shards.write_shards`), then draws the same keys
(:class:`~echobench.data.pretrain_clips.StepBatches`, 16 frames, stride 2, flips) from both
datasets and collates them into ``(B, 16, 224, 224, C)`` uint8 batches, the tensor that goes to the
device, in one process with one torch thread (``num_workers=0`` and ``torch.set_num_threads(1)``, as
in a DataLoader worker: clips/s per core; with torch's default threads the batch collate alone
spins every core and the figure is no longer per core). CPU seconds (process time: on a shared
machine wall time measures the neighbours) of ``ROUNDS`` interleaved rounds; medians, the ratio and
the per-core figure are printed. Target: >= 10x, and per core enough that 16 cores feed >= 1,600
clips/s. ``ECHOBENCH_BENCH_ROUNDS`` (default 3) sets the rounds.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

ROUNDS = int(os.environ.get("ECHOBENCH_BENCH_ROUNDS", 3))
VIDEOS, FRAMES, BATCH = 16, 74, 8
AVI_BATCHES, STORE_BATCHES = 6, 60


def _clips_per_cpu_second(dataset, n_videos: int, batches: int, seed: int) -> float:
    from torch.utils.data import DataLoader

    from echobench.data.pretrain_clips import StepBatches, collate_clips

    steps = StepBatches(n_videos=n_videos, seed=seed, global_batch=BATCH, rank=0, world_size=1, start_step=0,
                        total_steps=batches)
    start = time.process_time()
    for batch in DataLoader(dataset, batch_sampler=steps, num_workers=0, collate_fn=collate_clips):
        assert batch["clip"].shape[1:4] == (16, 224, 224)
    return batches * BATCH / (time.process_time() - start)


def test_store_vs_avi_loader_clips_per_core(tmp_path):
    import torch

    torch.set_num_threads(1)  # what a DataLoader worker runs with
    from echobench.data.pretrain_clips import PretrainClipDataset, list_pretrain_videos
    from echobench.data.shards import ShardClipDataset, open_store, write_shards
    from echobench.data.synth import synthesize
    from echobench.data.video import read_video, write_avi

    synth = tmp_path / "synth"
    synthesize(synth, videos=VIDEOS, seed=0)
    folder = tmp_path / "avi"
    folder.mkdir()
    for path in sorted((synth / "Videos").glob("*.avi")):
        frames = read_video(path)[:, :, :, 0]
        frames = np.resize(frames, (FRAMES, *frames.shape[1:])).repeat(2, axis=1).repeat(2, axis=2)
        write_avi(folder / path.name, frames, 50.0)
    start = time.process_time()
    report = write_shards(folder, tmp_path / "store")
    write_s = time.process_time() - start
    videos = list_pretrain_videos(folder)
    avi = PretrainClipDataset(videos.paths, frames=16, stride=2, frame_size=videos.frame_size)
    store = ShardClipDataset(open_store(tmp_path / "store"), frames=16, stride=2, frame_size=videos.frame_size)
    rates: dict[str, list[float]] = {"avi": [], "store": []}
    for r in range(ROUNDS):
        rates["avi"].append(_clips_per_cpu_second(avi, len(videos.paths), AVI_BATCHES, r))
        rates["store"].append(_clips_per_cpu_second(store, len(store), STORE_BATCHES, r))
    a, s = statistics.median(rates["avi"]), statistics.median(rates["store"])
    print(f"\nstore written: {report.samples} clips, {report.bytes / 2**20:.0f} MiB, {report.channels} channel(s), "
          f"{write_s:.1f} CPU-s")
    print(f"AVI loader: {a:.0f} clips/s per core; shard store: {s:.0f} clips/s per core (16x224x224 uint8, "
          f"{store.store.channels} channel); ratio {s / a:.1f}x; 16 cores ~ {16 * s:,.0f} clips/s; "
          f"medians of {ROUNDS} interleaved rounds")
