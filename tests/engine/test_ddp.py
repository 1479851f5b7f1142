"""``run`` under DDP: each process takes its share of every global batch, evaluation gathers exactly
one prediction per video, and 2 gloo processes give the TEST metrics of 1 process (same global batch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from torch.utils.data import DistributedSampler

from echobench.engine.loop import EpochSampler, one_per_video
from echobench.errors import TrainingError


def test_one_per_video_drops_distributed_sampler_padding_and_checks_the_count() -> None:
    n, world = 5, 2  # DistributedSampler pads rank 1 with video 0 again: 6 predictions for 5 videos
    shares = [list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False)) for r in range(world)]
    assert sum(map(len, shares)) == 6
    indices = np.array(shares[0] + shares[1])
    values = indices * 10.0 + np.array([0, 0, 0, 0, 0, 0.5])  # the padded duplicate differs a little
    assert one_per_video(indices, values, n).tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert one_per_video(np.array([1, -1, 0]), np.array([1.0, np.nan, 0.0]), 2).tolist() == [0.0, 1.0]  # -1: gather padding
    with pytest.raises(TrainingError, match="4 distinct videos of 5"):
        one_per_video(indices[indices != 3], values[indices != 3], n)


@pytest.mark.parametrize("n, batch, world", [(7, 4, 2), (15, 4, 2), (5, 4, 3), (6, 3, 1)])
def test_epoch_sampler_shares_add_up_to_the_global_batches(n: int, batch: int, world: int) -> None:
    samplers = [EpochSampler(n, seed=3, batch_size=batch, rank=r, world_size=world) for r in range(world)]
    for s in samplers:
        s.seek(epoch=2)
    order = samplers[0].order().tolist()
    shares = [list(s) for s in samplers]
    assert all(len(s) == samplers[0].steps == -(-n // batch) for s in shares)
    for step in range(samplers[0].steps):
        assert len({len(s[step]) for s in shares}) == 1  # same work on every rank
        real = []
        for r, s in enumerate(samplers):
            indices, count, offset, size = s.share(step)
            assert indices == shares[r][step] and size == len(order[step * batch:(step + 1) * batch])
            assert indices[:count] == order[step * batch + offset:step * batch + offset + count]
            real += indices[:count]
        assert real == order[step * batch:(step + 1) * batch]  # the global batch, in order, once
    samplers[0].seek(epoch=2, step=1)
    assert list(samplers[0]) == shares[0][1:]  # resumes mid-epoch


SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from echobench.runner import RunConfig, run_experiment

    data, out, processes = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    cfg = RunConfig(backbone="echo-videomae", head="maxpool", task="ef", data=data, preset="tiny", epochs=1,
                    batch_size=4, lr=1e-3, n_boot=10, gpus=0, cpu_processes=processes,
                    results=out / "leaderboard", runs=out / "runs")
    result = run_experiment(cfg)
    if result is not None:  # rank 0
        (out / "result.json").write_text(json.dumps({"metrics": result.metrics, "run_dir": str(result.run_dir)}))
""")


@pytest.fixture(scope="module")
def odd_splits(tmp_path_factory) -> Path:
    """21 synthetic videos: TRAIN 15, VAL 3, TEST 3 (odd: the samplers pad, the last batch of 3 splits 2 + 1)."""
    from echobench.data.synth import synthesize

    root = tmp_path_factory.mktemp("odd_splits") / "data"
    synthesize(root, videos=21, seed=0)
    return root


def _run(script: Path, data: Path, out: Path, processes: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(data), str(out), str(processes)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


@pytest.mark.slow
def test_two_gloo_processes_give_the_test_metrics_of_one(odd_splits, tmp_path) -> None:
    """maxpool head: no BatchNorm, whose statistics are per process on CPU (SyncBatchNorm needs CUDA)."""
    script = tmp_path / "run_ddp.py"
    script.write_text(SCRIPT)
    one = _run(script, odd_splits, tmp_path / "one", 1)
    two = _run(script, odd_splits, tmp_path / "two", 2)
    for split in ("VAL", "TEST"):
        assert one["metrics"][split].keys() == two["metrics"][split].keys()
        for metric, value in one["metrics"][split].items():
            if np.isfinite(value):
                assert two["metrics"][split][metric] == pytest.approx(value, rel=1e-3, abs=1e-3), (split, metric)
    preds = [pl.read_parquet(Path(r["run_dir"]) / "predictions.parquet").filter(pl.col("clips") == "one")
             .sort("split", "clips", "FileName")
             for r in (one, two)]
    assert preds[0].height == preds[1].height == 6  # VAL 3 + TEST 3, one clip each: one row per video
    assert preds[0]["FileName"].to_list() == preds[1]["FileName"].to_list()
    assert np.allclose(preds[0]["prediction"].to_numpy(), preds[1]["prediction"].to_numpy(), rtol=1e-4, atol=1e-3)
    runs = list((tmp_path / "two" / "runs").iterdir())
    assert len(runs) == 1  # one run directory and one record, written by rank 0
    assert len(list((tmp_path / "two" / "leaderboard").rglob("*.parquet"))) == 1
