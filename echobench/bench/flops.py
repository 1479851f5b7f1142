"""Parameters and FLOPs per clip, counted with ``torch.utils.flop_counter`` (no compute).

Models are built on the ``meta`` device, so even the base presets at the paper's 16x3x224x224 input
are counted in a second without memory. FLOPs count multiply-adds as 2 (matmul, convolution, SDPA
attention); element-wise work (norms, activations, the optimizer) is not counted, so achieved
GFLOP/s and utilization measure the tensor-core-style work the model really needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from echobench.engine.model import build_model
from echobench.registry import Registry


def _cpu_attention_formulas() -> dict:
    """FLOP formulas for the CPU fused attention ops, which ``torch.utils.flop_counter`` does not count
    (it counts the CUDA flash / memory-efficient / cuDNN ones): the same ``sdpa_flop_count`` formulas."""
    import torch
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten
    forward = lambda q, k, v, *args, out_shape=None, **kwargs: sdpa_flop_count(q, k, v)  # noqa: E731
    backward = lambda grad, q, k, v, *args, out_shape=None, **kwargs: sdpa_backward_flop_count(grad, q, k, v)  # noqa: E731
    formulas = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        formulas[aten._scaled_dot_product_flash_attention_for_cpu] = forward
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward"):
        formulas[aten._scaled_dot_product_flash_attention_for_cpu_backward] = backward
    return formulas


def count_flops_by_op(fn: Callable[[], object]) -> dict[str, int]:
    """FLOPs of everything ``fn()`` runs (forward and, if it calls it, backward) per operator name
    (``"aten.addmm"``), via ``FlopCounterMode``; CPU fused attention is counted as on CUDA."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=_cpu_attention_formulas())
    with counter:
        fn()
    return {str(op): int(flops) for op, flops in counter.get_flop_counts().get("Global", {}).items()}


def count_flops(fn: Callable[[], object]) -> int:
    """Total FLOPs of everything ``fn()`` runs (see :func:`count_flops_by_op`)."""
    return sum(count_flops_by_op(fn).values())


@dataclass(frozen=True)
class ModelCost:
    """Size and work of one backbone x head at one input.

    Attributes:
        backbone_params, head_params, total_params: parameter counts (total adds the task adapter).
        forward_flops: FLOPs of one forward pass of one clip.
        train_flops: FLOPs of forward + backward of one clip (parameters and input gradients as in
            a training step: input needs no gradient).
    """

    backbone_params: int
    head_params: int
    total_params: int
    forward_flops: int
    train_flops: int


def model_cost(registry: Registry, *, backbone: str, head: str, preset: str | None,
               clip_shape: tuple[int, int, int]) -> ModelCost:
    """Count parameters and FLOPs per clip of ``backbone`` + ``head`` for clips ``(1, 3, T, H, W)``.

    Args:
        clip_shape: ``(T, H, W)``.
    Raises:
        UnknownNameError, PluginError, ConfigError: from :func:`echobench.engine.model.build_model`.
    """
    import torch

    t = clip_shape[0]
    with torch.device("meta"):
        model = build_model(registry, backbone=backbone, head=head, preset=preset, clip_shape=clip_shape)
        clip = torch.empty((1, 3, *clip_shape))
        frames = torch.arange(t).expand(1, -1)
    # grad mode on (no inference fast path): nn.MultiheadAttention's fast path has no meta kernel
    forward = count_flops(lambda: model.eval()(clip, frames))
    train = count_flops(lambda: model.train()(clip, frames).sum().backward())
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return ModelCost(backbone_params=count(model.backbone), head_params=count(model.head),
                     total_params=count(model), forward_flops=forward, train_flops=train)
