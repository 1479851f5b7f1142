"""The fine-tuning decode pass before the first step (issue 15 target: linear in videos, parallel over
``--num-workers``, 10,030 EchoNet-Dynamic videos on 16 cores extrapolated from the measured per-core
rate, target <= 2 min).

Not part of the test run. Run:  python -m pytest benchmarks/test_decode_pass.py -s

Decodes ``VIDEOS`` synthetic EchoNet-format videos (112x112 grey MJPEG AVIs of the synthetic
generator, EchoNet-Dynamic's layout, ~113 frames on average against EchoNet-Dynamic's ~175; TEST decoded whole, TRAIN/VAL only their clip's frames under
``echovisionfm``, everything whole and held under ``echonet``, TRAIN channel counts for its mean/std:
exactly what :func:`echobench.experiment.task_data.prepare_data` asks of
:func:`echobench.data.clips.decode_clips`) twice per protocol and round: half the videos in this
process (``workers=0``; every other video, so the same mix of splits), and all of them in this
process and with ``WORKERS`` worker processes. Per-core rate: videos per
CPU-second of this process and its workers (``os.times``: the workers are reaped before it is read).
Printed: videos/s per core in one process (at N/2 and N videos: linearity); for the workers, the
per-core rate of further videos and their fixed start-up (from the passes over N/2 and N videos), and
their wall-time speed-up on further videos (<= the cores free for them); and the time for 10,030
videos on 16 cores extrapolated from the workers' per-core rate. ``ECHOBENCH_BENCH_ROUNDS`` (default 3) sets the rounds.
"""

from __future__ import annotations

import os
import statistics
import time

ROUNDS = int(os.environ.get("ECHOBENCH_BENCH_ROUNDS", 3))
VIDEOS, WORKERS, ECHONET = 64, 2, 10_030


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(records, protocol, workers: int) -> tuple[float, float]:
    """(CPU-s, wall-s) of one decode pass as ``prepare_data`` runs it."""
    from echobench.data.clips import decode_clips

    cpu, wall = _cpu(), time.perf_counter()
    decoded = decode_clips(records, protocol, whole=lambda r: r.split == "TEST", hold=True,
                           histograms=(lambda r: r.split == "TRAIN") if protocol.normalization == "train-mean-std"
                           else None, workers=workers)
    assert len(decoded.records) == len(records)
    return _cpu() - cpu, time.perf_counter() - wall


def test_decode_pass_videos_per_core_and_workers(tmp_path):
    import torch

    torch.set_num_threads(1)
    from echobench.data.echonet import read_echonet
    from echobench.data.synth import synthesize
    from echobench.protocols import get_protocol

    synthesize(tmp_path / "data", videos=VIDEOS, seed=0)
    records = read_echonet(tmp_path / "data").records
    frames = statistics.mean(r.num_frames for r in records)
    for name in ("echovisionfm", "echonet"):
        protocol = get_protocol(name)
        half, one, marginal, start, speedup = [], [], [], [], []
        _timed(records[:4], protocol, 0)  # warm-up (imports)
        for _ in range(ROUNDS):
            cpu_half, _ = _timed(records[::2], protocol, 0)  # every other video: the same mix of splits
            half.append(len(records[::2]) / cpu_half)
            cpu_one, wall_one = _timed(records, protocol, 0)
            one.append(VIDEOS / cpu_one)
            cpu_w_half, wall_w_half = _timed(records[::2], protocol, WORKERS)
            cpu_w, wall_w = _timed(records, protocol, WORKERS)
            # the workers' cost per further video, and their fixed start-up, from N/2 and N videos
            marginal.append((VIDEOS - len(records[::2])) / (cpu_w - cpu_w_half))
            start.append(cpu_w_half - len(records[::2]) / marginal[-1])
            speedup.append(wall_one * (VIDEOS - len(records[::2])) / VIDEOS / (wall_w - wall_w_half))
        rate = statistics.median(marginal)
        print(f"\n{name}: {VIDEOS} videos of 112x112, {frames:.0f} frames on average; videos per CPU-second: "
              f"one process {statistics.median(one):.1f} ({statistics.median(half):.1f} for every other video: "
              f"linear); {WORKERS} workers {rate:.1f} per further video after a start-up of "
              f"{statistics.median(start):.2f} CPU-s; wall-time speed-up of {WORKERS} workers on further videos "
              f"{statistics.median(speedup):.2f}x (load {os.getloadavg()[0]:.1f}); 10,030 videos on 16 cores "
              f"~ {ECHONET / (16 * rate):.0f} s; medians of {ROUNDS} rounds")
