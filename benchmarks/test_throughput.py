"""Throughput of every backbone x head x preset, our encoders against Hugging Face's, and the clip
loader against an EchoNet-Dynamic-style whole-video OpenCV loader (issue 6).

Not part of the test run. Run:  python -m pytest benchmarks/test_throughput.py --benchmark-only -s

Everything is measured by :mod:`echobench.bench` (the library behind ``echobench bench``): medians of
``ECHOBENCH_BENCH_REPEATS`` interleaved rounds, ratios (utilization, ours/peer) per round, then the
median. At the end one throughput record with every result is written to
``ECHOBENCH_BENCH_RESULTS/throughput/`` (default ``leaderboard``; ``echobench leaderboard --throughput``
shows it). Environment knobs (comma lists): ``ECHOBENCH_BENCH_BACKBONES``, ``_HEADS`` (default all),
``_PRESETS`` (default ``tiny,small,base``), ``_SIZES`` (default ``112,224``: 224 is the paper's
16x3x224x224 input), ``_FRAMES`` (16), ``_BATCH`` (2), ``_DEVICE`` (cuda when present, else cpu),
``_DTYPE`` (bfloat16 on cuda, float32 on cpu), ``_COMPILE`` (0/1), ``_BREAKDOWN`` (0/1, CPU only;
default 1), ``_THREADS`` (torch's CPU threads; default torch's), ``_DATA`` (an EchoNet-format
directory for the loader; default synthetic videos), ``_LOADER_VIDEOS`` (16).
Running out of memory skips a model with its reason (recorded), it does not fail the run.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch

from echobench.engine.allocator import tune_cpu_allocator
from echobench.bench.loader import bench_loader
from echobench.bench.models import BenchSettings, bench_model, torch_dtype
from echobench.bench.peak import matmul_peak
from echobench.registry import get_registry
from echobench.bench.peers import bench_peer, declared_peers
from echobench.bench.run import BenchRun, device_label, rows
from echobench.registry import build_registry
from echobench.results.throughput import write_throughput

REGISTRY = build_registry()


def _env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(f"ECHOBENCH_BENCH_{name}")
    return [p.strip() for p in raw.split(",") if p.strip()] if raw else default


DEVICE = os.environ.get("ECHOBENCH_BENCH_DEVICE", "cuda" if torch.cuda.is_available() else "cpu")
if os.environ.get("ECHOBENCH_BENCH_THREADS"):
    torch.set_num_threads(int(os.environ["ECHOBENCH_BENCH_THREADS"]))
DTYPE = os.environ.get("ECHOBENCH_BENCH_DTYPE", "bfloat16" if DEVICE.startswith("cuda") else "float32")
REPEATS = int(os.environ.get("ECHOBENCH_BENCH_REPEATS", "5"))
FRAMES = int(os.environ.get("ECHOBENCH_BENCH_FRAMES", "16"))
BATCH = int(os.environ.get("ECHOBENCH_BENCH_BATCH", "2"))
COMPILE = os.environ.get("ECHOBENCH_BENCH_COMPILE", "0") == "1"
BREAKDOWN = DEVICE == "cpu" and os.environ.get("ECHOBENCH_BENCH_BREAKDOWN", "1") == "1"
BACKBONES = _env_list("BACKBONES", REGISTRY.names("backbone"))
HEADS = _env_list("HEADS", REGISTRY.names("head"))
PRESETS = _env_list("PRESETS", ["tiny", "small", "base"])
SIZES = [int(s) for s in _env_list("SIZES", ["112", "224"])]


def _settings(size: int) -> BenchSettings:
    return BenchSettings(frames=FRAMES, size=size, batch=BATCH, device=DEVICE, dtype=DTYPE, repeats=REPEATS,
                         compile=COMPILE, breakdown=BREAKDOWN)


@pytest.fixture(scope="module")
def runs():
    """Per input size, a :class:`BenchRun` collecting results; written as throughput records at the end."""
    collected: dict[int, BenchRun] = {}
    yield collected
    results = Path(os.environ.get("ECHOBENCH_BENCH_RESULTS", "leaderboard"))
    for run in collected.values():
        run.rows = rows(run, run.settings)
        path = write_throughput(run.rows, results, run.bench_id)
        print(f"\nthroughput record: {path}")


def _run(runs: dict[int, BenchRun], size: int) -> BenchRun:
    if size not in runs:
        settings = _settings(size)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        allocator = tune_cpu_allocator() if DEVICE == "cpu" else ""
        runs[size] = BenchRun(bench_id=f"{stamp}-{uuid.uuid4().hex[:6]}", settings=settings,
                              device=device_label(DEVICE),
                              peak=matmul_peak(DEVICE, torch_dtype(DTYPE), repeats=REPEATS))
        runs[size].notes += [allocator] if allocator else []
        print(f"\nmatmul peak {DEVICE} {DTYPE}: {runs[size].peak.gflops:.1f} GFLOP/s "
              f"({torch.get_num_threads()} threads)")
    return runs[size]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_model_throughput(benchmark, runs, backbone, head, preset, size):
    presets = REGISTRY.get("backbone", backbone).presets
    if presets and preset not in presets:
        pytest.skip(f"{backbone} has no preset {preset!r}")
    run = _run(runs, size)
    result = benchmark.pedantic(bench_model, args=(REGISTRY,), kwargs={
        "backbone": backbone, "head": head, "preset": preset, "settings": run.settings}, rounds=1, iterations=1)
    run.models.append(result)
    if result.skipped:
        pytest.skip(result.skipped)
    info = {"input": run.settings.input_label, "batch": BATCH, "device": run.device, "dtype": DTYPE,
            "params_M": result.cost.total_params / 1e6, "GFLOPs_per_clip": result.cost.forward_flops / 1e9,
            "infer_clips_per_s": result.infer_clips_per_s, "train_clips_per_s": result.train_clips_per_s,
            "infer_utilization": result.infer_utilization, "train_utilization": result.train_utilization,
            "train_peak_MiB": result.train_peak_mib}
    benchmark.extra_info.update(info)
    print(f"\n{backbone}+{head} ({preset}, {run.settings.input_label}): infer {result.infer_clips_per_s:.2f} clips/s "
          f"{result.infer_gflops_per_s:.1f} GFLOP/s util {result.infer_utilization:.2f}; train "
          f"{result.train_clips_per_s:.2f} clips/s util {result.train_utilization:.2f}; "
          f"mem {result.train_peak_mib:.0f} MiB")
    if result.infer_breakdown is not None:
        split, overall = result.infer_breakdown, result.infer_utilization
        print(f"  inference time: matmul {split.share('matmul'):.0%} at util {split.utilization('matmul', overall):.2f}, "
              f"attention {split.share('attention'):.0%} at {split.utilization('attention', overall):.2f}, other "
              f"{split.share('other'):.0%}; ceiling {split.ceiling(overall):.2f}")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", sorted(declared_peers(get_registry())))
def test_ours_against_hugging_face(benchmark, runs, name, preset, size):
    pytest.importorskip("transformers")
    run = _run(runs, size)
    result = benchmark.pedantic(bench_peer, args=(get_registry(), name, preset, run.settings), rounds=1, iterations=1)
    run.peers.append(result)
    if result.skipped:
        pytest.skip(result.skipped)
    benchmark.extra_info.update({k: v for k, v in vars(result).items() if isinstance(v, (int, float, str))})
    print(f"\n{name} vs {result.peer} ({preset}, {run.settings.input_label}): inference ours "
          f"{result.ours_infer_clips_per_s:.2f} / HF {result.peer_infer_clips_per_s:.2f} clips/s = "
          f"{result.infer_ratio:.2f}x; train {result.ours_train_clips_per_s:.2f} / {result.peer_train_clips_per_s:.2f}"
          f" = {result.train_ratio:.2f}x; max |diff| {result.max_abs_diff:.1e}")


def _videos(folder: Path) -> list[Path]:
    data = os.environ.get("ECHOBENCH_BENCH_DATA")
    count = int(os.environ.get("ECHOBENCH_BENCH_LOADER_VIDEOS", "16"))
    if data:
        return sorted(p for p in (Path(data) / "Videos").glob("*") if p.suffix.lower() == ".avi")[:count]
    from echobench.data.synth import synthesize

    synthesize(folder, videos=count, seed=0)
    return sorted((folder / "Videos").glob("*.avi"))


def test_loader_against_whole_video_opencv_and_vit_s_training(benchmark, runs):
    """Loader clips/s against the OpenCV whole-video loader, and against what a ViT-S training step
    (echo-videomae small + maxpool, 16x112x112) consumes, all in this run."""
    run = _run(runs, 112)
    consumer = bench_model(REGISTRY, backbone="echo-videomae", head="maxpool", preset="small",
                           settings=_settings(112))
    with tempfile.TemporaryDirectory() as tmp:
        videos = _videos(Path(tmp))
        result = benchmark.pedantic(bench_loader, args=(videos,), kwargs={"frames": FRAMES, "repeats": REPEATS},
                                    rounds=1, iterations=1)
    run.loader = result
    keeps_up = result.ours_clips_per_s / consumer.train_clips_per_s
    run.notes.append(f"loader {result.ours_clips_per_s:.1f} clips/s (1 process) = {keeps_up:.1f}x the "
                     f"{consumer.train_clips_per_s:.2f} clips/s a ViT-S training step consumes at 16x3x112x112")
    benchmark.extra_info.update({"ours_clips_per_s": result.ours_clips_per_s, "opencv_clips_per_s":
                                 result.opencv_clips_per_s, "ratio": result.ratio, "vit_s_train_clips_per_s":
                                 consumer.train_clips_per_s, "loader_over_training": keeps_up})
    print(f"\nloader ({len(videos)} videos, mean {result.mean_video_frames:.0f} frames, {FRAMES}-frame clips): ours "
          f"{result.ours_clips_per_s:.1f} / OpenCV whole-video {result.opencv_clips_per_s:.1f} clips/s = "
          f"{result.ratio:.2f}x (max |diff| {result.max_abs_diff:.0f}); ViT-S train step consumes "
          f"{consumer.train_clips_per_s:.2f} clips/s -> loader is {keeps_up:.1f}x that")
