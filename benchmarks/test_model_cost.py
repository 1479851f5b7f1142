"""Parameters and GFLOPs per clip of every registered backbone x head at the paper's input
(16 x 3 x 224 x 224), counted with ``torch.utils.flop_counter`` (issue: models).

Not part of the test run. Run:  python -m pytest benchmarks/test_model_cost.py --benchmark-only -s
The FLOP count runs on the ``meta`` device (no compute, no memory), so even the base presets are
counted on a laptop; the timed part is the count itself (:func:`echobench.bench.flops.model_cost`, shared
with ``echobench bench``). ``ECHOBENCH_BENCH_PRESET`` picks the preset (default ``base``; ``tiny`` for a
quick look). FLOPs: multiply-adds count as 2.
"""

from __future__ import annotations

import os

import pytest

from echobench.bench.flops import model_cost
from echobench.registry import build_registry

REGISTRY = build_registry()
PRESET = os.environ.get("ECHOBENCH_BENCH_PRESET", "base")
CLIP = (1, 3, 16, 224, 224)


def _preset(backbone: str) -> str | None:
    presets = REGISTRY.get("backbone", backbone).presets
    if PRESET in presets:
        return PRESET
    return "18" if "18" in presets else (presets[0] if presets else None)


def _count(backbone: str, head: str) -> dict[str, float]:
    cost = model_cost(REGISTRY, backbone=backbone, head=head, preset=_preset(backbone), clip_shape=CLIP[2:])
    return {"backbone_params_M": cost.backbone_params / 1e6, "head_params_M": cost.head_params / 1e6,
            "total_params_M": cost.total_params / 1e6, "GFLOPs_per_clip": cost.forward_flops / 1e9,
            "train_GFLOPs_per_clip": cost.train_flops / 1e9}


@pytest.mark.parametrize("backbone", REGISTRY.names("backbone"))
@pytest.mark.parametrize("head", REGISTRY.names("head"))
def test_params_and_gflops(benchmark, backbone, head):
    result = benchmark.pedantic(_count, args=(backbone, head), rounds=1, iterations=1)
    benchmark.extra_info.update({"preset": _preset(backbone), "input": "x".join(map(str, CLIP[1:])), **result})
    print(f"\n{backbone}({_preset(backbone)})+{head}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.items()))
