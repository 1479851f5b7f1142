"""Streaming store libraries on the same prepared clips: WebDataset (ours), litdata, mosaicml-streaming
(issue 15 Deliver 1: "pick by a benchmark you report, not by habit").

Not part of the test run. Run:  python -m pytest benchmarks/test_store_libraries.py -s

``SAMPLES`` prepared grey clips of 16x112x112 (16-frame MJPEG AVIs cut from the synthetic
EchoNet-format videos, decoded once: the arrays every store holds) are written

- by echobench's store (:func:`echobench.data.shards.write_shards`: WebDataset tar shards, raw
  uint8 ``(T, H, W, 1)`` per sample, byte offsets in ``index.parquet``; its write decodes the AVIs);
- by litdata (``litdata.optimize``, numpy serializer, no compression, one worker; read with its
  default ``batch_decode="auto"`` and with ``batch_decode=False``);
- by mosaicml-streaming (``streaming.MDSWriter``, ``ndarray:uint8:16,112,112,1``, no compression);

and read back, shuffled, as the tensor that goes to the device: ``(B, 16, 112, 112, 1)`` uint8
batches of ``BATCH`` through a DataLoader with ``num_workers=0`` and one torch thread (what a
DataLoader worker runs with: clips/s per core). Rows: echobench's ``ShardClipDataset`` (the items
``pretrain`` reads: clip plus frame indices, seed, position, flags), the same store read by
``read_clip`` alone (clip only, like the other libraries' items), the ``webdataset`` library's own
sequential reader over the same shards (a 64-sample shuffle buffer), litdata's
``StreamingDataset``/``StreamingDataLoader`` and mosaicml-streaming's ``StreamingDataset``. Every
reader must give the same set of clips (checked by hash). CPU seconds are the process's (all its
threads; the libraries read ahead in threads) plus any children's; ``ROUNDS`` interleaved rounds,
medians printed. A library that is not installed is skipped with its reason.
``ECHOBENCH_BENCH_ROUNDS`` (default 3) sets the rounds.
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import statistics
import time
from pathlib import Path

import numpy as np

ROUNDS = int(os.environ.get("ECHOBENCH_BENCH_ROUNDS", 3))
SAMPLES, T, SIZE, BATCH = 256, 16, 112, 8
SHAPE = (T, SIZE, SIZE, 1)
NOT_IN_BENCH_EXTRA = {  # why neither library is in the bench extra (pip install --dry-run beside torch 2.14.1)
    "litdata": "pip install litdata (its boto3/botocore pull python-dateutil below 3)",
    "mosaicml-streaming": "pip install mosaicml-streaming (0.13.0 downgrades numpy to 2.1.3 and transformers to 4.57)",
}


def _cpu() -> float:
    """CPU seconds of this process (every thread) and of its finished children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _prepared(tmp: Path) -> tuple[Path, list[np.ndarray]]:
    """``SAMPLES`` 16-frame grey AVIs under ``tmp/prepared`` and their decoded frames ``(16, 112, 112, 1)``."""
    from echobench.data.synth import synthesize
    from echobench.data.video import read_video, write_avi

    synthesize(tmp / "synth", videos=12, seed=0)
    folder = tmp / "prepared"
    k = 0
    for path in sorted((tmp / "synth" / "Videos").glob("*.avi")):
        frames = read_video(path)[:, :, :, 0]
        for start in range(0, len(frames) - T + 1, 4):
            if k < SAMPLES:
                write_avi(folder / f"clip-{k:04d}.avi", frames[start:start + T], 50.0, durable=False)
                k += 1
    assert k == SAMPLES, f"only {k} clips from the synthetic videos"
    clips = [read_video(folder / f"clip-{i:04d}.avi")[..., :1].copy() for i in range(SAMPLES)]
    return folder, clips


def _digest(batch) -> list[str]:
    """One hash per clip of a ``(B, 16, 112, 112, 1)`` uint8 batch."""
    assert tuple(batch.shape[1:]) == SHAPE and str(batch.dtype) == "torch.uint8", (batch.shape, batch.dtype)
    return [hashlib.sha1(clip.numpy().tobytes()).hexdigest() for clip in batch]


def _measure(batches) -> tuple[float, list[str]]:
    """(clips per CPU second, clip hashes) of one pass over ``batches`` (an iterable of uint8 batches)."""
    start = _cpu()
    seen = []
    n = 0
    for batch in batches:
        n += len(batch)
        seen.append(batch)
    rate = n / (_cpu() - start)
    return rate, sorted(h for batch in seen for h in _digest(batch))


class _ClipOnly:
    """The echobench store read by :meth:`~echobench.data.shards.ShardClipDataset.read_clip` alone:
    sample ``i`` -> its ``(16, 112, 112, 1)`` uint8 frames (what the other libraries' items are; the
    DataLoader's collate stacks them into the batch tensor, for every reader alike)."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.dataset.read_clip(index, np.arange(T))


def _readers(tmp: Path, folder: Path, clips: list[np.ndarray]) -> tuple[dict, dict, dict]:
    """``{name: (seed -> iterable of uint8 batches)}``, write CPU seconds per store, and skip reasons."""
    import torch
    from torch.utils.data import DataLoader

    from echobench.data.pretrain_clips import StepBatches, collate_clips
    from echobench.data.shards import ShardClipDataset, open_store, write_shards

    readers, writes, skipped = {}, {}, {}
    start = _cpu()
    write_shards(folder, tmp / "wds")
    writes["echobench store (WebDataset tar)"] = _cpu() - start
    store = open_store(tmp / "wds")
    ours = ShardClipDataset(store, frames=T, stride=1, flips=False)

    def steps(seed: int) -> StepBatches:
        return StepBatches(n_videos=SAMPLES, seed=seed, global_batch=BATCH, rank=0, world_size=1, start_step=0,
                           total_steps=SAMPLES // BATCH)

    readers["echobench ShardClipDataset (pretrain items)"] = lambda seed: (
        b["clip"] for b in DataLoader(ours, batch_sampler=steps(seed), num_workers=0, collate_fn=collate_clips))
    readers["echobench store, read_clip only"] = lambda seed: DataLoader(
        _ClipOnly(ours), batch_size=BATCH,
        sampler=torch.randperm(SAMPLES, generator=torch.Generator().manual_seed(seed)).tolist(),
        num_workers=0)

    import webdataset as wds

    shards = [str(p) for p in sorted((tmp / "wds").glob("shard-*.tar"))]

    def wds_batches(seed: int):
        pipeline = (wds.WebDataset(shards, shardshuffle=False, empty_check=False).shuffle(64, rng=random.Random(seed))
                    .map(lambda s: np.frombuffer(s["u8"], np.uint8).reshape(SHAPE)))
        return DataLoader(pipeline, batch_size=BATCH, num_workers=0)

    readers["webdataset.WebDataset (the library's sequential reader)"] = wds_batches

    try:
        import litdata
    except ImportError as exc:
        skipped["litdata"] = f"not installed ({exc}); {NOT_IN_BENCH_EXTRA['litdata']}"
    else:
        start = _cpu()
        litdata.optimize(fn=lambda i: {"clip": clips[i]}, inputs=list(range(SAMPLES)), output_dir=str(tmp / "litdata"),
                         chunk_bytes="64MB", num_workers=1, verbose=False, start_method="fork")
        writes[f"litdata {litdata.__version__}"] = _cpu() - start

        def litdata_batches(seed: int, batch_decode):
            dataset = litdata.StreamingDataset(str(tmp / "litdata"), shuffle=True, seed=seed, batch_decode=batch_decode)
            return (b["clip"] for b in litdata.StreamingDataLoader(dataset, batch_size=BATCH, num_workers=0))

        # its default batch_decode="auto" decoded each shuffled clip ~56 times here (profiled): shown both ways
        readers[f"litdata {litdata.__version__} StreamingDataset (default)"] = (
            lambda seed: litdata_batches(seed, "auto"))
        readers[f"litdata {litdata.__version__} StreamingDataset (batch_decode=False)"] = (
            lambda seed: litdata_batches(seed, False))

    try:
        import streaming
    except ImportError as exc:
        skipped["mosaicml-streaming"] = f"not installed ({exc}); {NOT_IN_BENCH_EXTRA['mosaicml-streaming']}"
    else:
        start = _cpu()
        with streaming.MDSWriter(out=str(tmp / "mds"), columns={"clip": "ndarray:uint8:16,112,112,1"},
                                 size_limit=64 << 20) as writer:
            for clip in clips:
                writer.write({"clip": clip})
        writes[f"mosaicml-streaming {streaming.__version__}"] = _cpu() - start

        def mds_batches(seed: int):
            from streaming.base.util import clean_stale_shared_memory

            clean_stale_shared_memory()
            dataset = streaming.StreamingDataset(local=str(tmp / "mds"), shuffle=True, shuffle_seed=seed,
                                                 batch_size=BATCH)
            return (b["clip"] for b in DataLoader(dataset, batch_size=BATCH, num_workers=0))

        readers[f"mosaicml-streaming {streaming.__version__} StreamingDataset"] = mds_batches
    return readers, writes, skipped


def test_store_libraries_clips_per_core(tmp_path):
    import torch

    torch.set_num_threads(1)  # what a DataLoader worker runs with
    folder, clips = _prepared(tmp_path)
    expected = sorted(hashlib.sha1(c.tobytes()).hexdigest() for c in clips)
    readers, writes, skipped = _readers(tmp_path, folder, clips)
    rates: dict[str, list[float]] = {name: [] for name in readers}
    for r in range(ROUNDS):
        for name, batches in readers.items():
            rate, seen = _measure(batches(r))
            assert seen == expected, f"{name}: other clips than were written"
            rates[name].append(rate)
    load = os.getloadavg()[0]
    print(f"\n{SAMPLES} grey clips 16x112x112 uint8, batches of {BATCH}, one core (num_workers=0, one torch thread); "
          f"clips per CPU-second, medians of {ROUNDS} interleaved rounds; load average {load:.1f}")
    best = max(rates, key=lambda n: statistics.median(rates[n]))
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"  {name:66s} {median:8.0f} clips/s per core  ({median / statistics.median(rates[best]):.2f}x the best)")
    for name, seconds in writes.items():
        print(f"  write: {name:59s} {seconds:6.2f} CPU-s" + ("  (decodes the AVIs)" if "echobench" in name else ""))
    for name, reason in skipped.items():
        print(f"  skipped {name}: {reason}")
