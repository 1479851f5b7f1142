"""Frozen-probe track at speed: a grid of >= 8 probes trained on cached features vs today's frozen runs.

Not part of the test run. Run:  python -m pytest benchmarks/test_probe_speed.py --benchmark-only -s

Side by side, in one session, on the same synthetic EchoNet-format data (tiny preset, echovisionfm):

- ``runs``: today's path, ``echobench run --freeze-backbone`` once per probe configuration
  (:func:`echobench.runner.run_experiment`, data decoded once and shared as a sweep does): the frozen
  backbone runs on every training step and every VAL pass of every configuration;
- ``cold``: ``echobench probe`` with an empty feature cache (extracts, then trains the grid);
- ``warm``: ``echobench probe`` again, features read from the cache (what every further grid,
  fraction or seed costs).

Both train the same configurations (``ECHOBENCH_BENCH_PROBES`` x ``ECHOBENCH_BENCH_LRS`` x
``ECHOBENCH_BENCH_WDS``; default linear, attentive-1, maxpool x 3 lrs x weight decay 0.05 = 9) for the same epochs, and both select on VAL after every epoch. The
issue's target: ``runs / warm >= 10`` for the whole commands. Training alone is also compared:
the runs' ``phase train`` seconds (their ``log.txt``) against the grid's training seconds
(``ProbeResult.train_seconds``). The ratios are printed and stored in the last benchmark's ``extra_info``.
``ECHOBENCH_BENCH_VIDEOS`` (default 24), ``ECHOBENCH_BENCH_EPOCHS`` (default 2) and ``ECHOBENCH_BENCH_PRESET``
(default tiny) set the work.

Measured (2 shared CPU cores at load ~24, tiny preset, 12 synthetic videos, 2 epochs, batch 8):
the default 9 configurations: runs 269.7 s, cold 39.6 s, warm 10.8 s: runs/warm 25.0x, runs/cold 6.8x,
training alone 17.4x. With heavy probes (linear, attentive-1, attentive-4, maxpool x 2 lrs = 8): runs
374.9 s, cold 95.9 s, warm 72.9 s: 5.1x, 3.9x, training alone 3.8x -- below the target, because at the
tiny preset a 4-block attentive probe (3 self-attention blocks over all 1568 tokens, trained) costs more
than the 2-block backbone it replaces (forward only); the cache removes the backbone, not the probe. With
a ViT-B backbone (12 blocks of 768) the backbone's share, and so the ratio, is larger.
"""

from __future__ import annotations

import os
import re
import time

import pytest

VIDEOS = int(os.environ.get("ECHOBENCH_BENCH_VIDEOS", "24"))
EPOCHS = int(os.environ.get("ECHOBENCH_BENCH_EPOCHS", "2"))
PROBES = tuple(os.environ.get("ECHOBENCH_BENCH_PROBES", "linear,attentive-1,maxpool").split(","))
LRS = tuple(float(x) for x in os.environ.get("ECHOBENCH_BENCH_LRS", "1e-3,3e-4,1e-4").split(","))
WDS = tuple(float(x) for x in os.environ.get("ECHOBENCH_BENCH_WDS", "0.05").split(","))
PRESET = os.environ.get("ECHOBENCH_BENCH_PRESET", "tiny")
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from echobench.data.synth import synthesize
    from echobench.probing import PROBES as KNOWN
    from echobench.protocols import get_protocol
    from echobench.registry import get_registry
    from echobench.runner import prepare_data

    out = tmp_path_factory.mktemp("probe-speed")
    synthesize(out / "data", videos=VIDEOS, seed=0)
    task = get_registry().get("task", "ef")
    prepared = prepare_data(out / "data", task, get_protocol("echovisionfm"))
    return {"out": out, "prepared": prepared, "heads": {p: KNOWN[p] for p in PROBES}}


def _probe_config(setup):
    from echobench.probing import ProbeConfig

    out = setup["out"]
    return ProbeConfig(backbone="echo-videomae", preset=PRESET, task="ef", data=out / "data", probes=PROBES, lrs=LRS,
                       weight_decays=WDS, samplers=("one",), epochs=EPOCHS, batch_size=8, n_boot=0, gpus=None,
                       results=out / "lb-probe", runs=out / "runs-probe")


def test_runs(benchmark, setup):
    """Today's frozen `run`, once per configuration."""
    from echobench.runner import RunConfig, run_experiment

    out = setup["out"]
    train = []

    def once():
        for (head, options), lr, wd in ((h, lr, wd) for h in setup["heads"].values() for lr in LRS for wd in WDS):
            cfg = RunConfig(backbone="echo-videomae", preset=PRESET, head=head, head_options=options, task="ef", data=out / "data",
                            freeze_backbone=True, epochs=EPOCHS, batch_size=8, lr=lr, weight_decay=wd, n_boot=0,
                            results=out / "lb-runs", runs=out / "runs")
            result = run_experiment(cfg, prepared=setup["prepared"])
            train.append(float(re.search(r"phase train: ([\d.]+) s", result.log.read_text()).group(1)))

    benchmark.group = f"frozen probes, {len(PROBES) * len(LRS) * len(WDS)} configurations, {VIDEOS} videos, {EPOCHS} epochs"
    start = time.perf_counter()
    benchmark.pedantic(once, rounds=1, iterations=1)
    TIMES["runs"], TIMES["runs_train"] = time.perf_counter() - start, sum(train)


def test_probe_cold(benchmark, setup):
    from echobench.probing import run_probes

    benchmark.group = f"frozen probes, {len(PROBES) * len(LRS) * len(WDS)} configurations, {VIDEOS} videos, {EPOCHS} epochs"
    start = time.perf_counter()
    result = benchmark.pedantic(lambda: run_probes(_probe_config(setup), prepared=setup["prepared"]), rounds=1,
                                iterations=1)
    TIMES["cold"] = time.perf_counter() - start
    assert result.extracted and not result.reused


def test_probe_warm(benchmark, setup):
    from echobench.probing import run_probes

    benchmark.group = f"frozen probes, {len(PROBES) * len(LRS) * len(WDS)} configurations, {VIDEOS} videos, {EPOCHS} epochs"
    start = time.perf_counter()
    result = benchmark.pedantic(lambda: run_probes(_probe_config(setup), prepared=setup["prepared"]), rounds=1,
                                iterations=1)
    TIMES["warm"], TIMES["warm_train"] = time.perf_counter() - start, result.train_seconds
    assert not result.extracted
    if "runs" in TIMES:
        ratios = {"runs/warm": TIMES["runs"] / TIMES["warm"], "runs/cold": TIMES["runs"] / TIMES.get("cold", float("nan")),
                  "train: runs/grid": TIMES["runs_train"] / TIMES["warm_train"]}
        benchmark.extra_info.update({**TIMES, **ratios})
        print(f"\nseconds: {TIMES}\nratios: " + ", ".join(f"{k} {v:.1f}x" for k, v in ratios.items()))
        assert ratios["runs/warm"] >= 10, ratios
