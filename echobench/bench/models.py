"""Throughput of one registered backbone x head: inference and training-step clips/s, peak memory,
achieved GFLOP/s and utilization against the matmul peak measured in the same rounds.

A *training step* is what :mod:`echobench.engine.loop` does per batch: forward, MSE loss on the
``(B,)`` output, backward, AdamW step, gradients set to None. *Inference* is a forward pass under
``torch.inference_mode``. Per round (see :mod:`echobench.bench.timing`) the inference batch, the
training step and one peak matmul are timed back to back; utilization is the median over rounds
of (counted FLOPs / time) / (peak FLOPs / peak time).

GPU path (``device="cuda"``): compute in ``dtype`` through ``torch.autocast`` (bf16 by default on
the CLI), attention through ``F.scaled_dot_product_attention`` (the backbones call it; PyTorch picks
its fused flash / memory-efficient kernels for bf16 on CUDA), channels-last-3d memory format for
convolutional backbones (more than one Conv3d), TF32 matmuls for float32, and optionally
``torch.compile``. The peak is then a matmul in the same dtype. On the CPU the same code runs
(float32 default; bf16 autocast if asked).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

from echobench.bench.breakdown import TimeBreakdown, time_breakdown
from echobench.bench.flops import ModelCost, count_flops_by_op, model_cost
from echobench.bench.memory import PeakMemory
from echobench.bench.peak import default_size, matmul_work
from echobench.bench.timing import interleaved, median, median_ratio
from echobench.engine.model import build_model
from echobench.errors import EchobenchError, describe
from echobench.registry import Registry


@dataclass(frozen=True)
class BenchSettings:
    """How every model of a run is measured.

    Attributes:
        frames, size: clip ``T`` and ``H = W``; the input is ``(batch, 3, T, size, size)``.
        batch: clips per forward / training step.
        device: ``"cpu"`` or ``"cuda"``.
        dtype: compute dtype name, ``"float32"`` or ``"bfloat16"`` (autocast).
        repeats: timed rounds (medians over them are reported).
        compile: wrap the models (and both sides of the peer comparisons) in ``torch.compile``; needs a
            working C++ compiler on the CPU (see :func:`compile_if_asked`).
        peak_n: matrix side of the matmul peak (None = device default).
        min_seconds: each timed sample repeats its work until this long (short kernels on a GPU).
        threads: CPU threads for torch (``torch.set_num_threads``) during the run; None = as is.
        keep_cpu_memory: keep freed CPU memory in the process between steps
            (:func:`echobench.engine.allocator.tune_cpu_allocator`; process-wide, CPU runs only).
        breakdown: also profile the inference batch and split its time into matrix multiplies,
            attention and the rest (:mod:`echobench.bench.breakdown`; CPU only).
    """

    frames: int = 16
    size: int = 112
    batch: int = 2
    device: str = "cpu"
    dtype: str = "float32"
    repeats: int = 5
    compile: bool = False
    peak_n: int | None = None
    min_seconds: float = 0.05
    threads: int | None = None
    keep_cpu_memory: bool = True
    breakdown: bool = False

    @property
    def clip_shape(self) -> tuple[int, int, int]:
        return (self.frames, self.size, self.size)

    @property
    def input_label(self) -> str:
        return f"{self.frames}x3x{self.size}x{self.size}"


@dataclass
class ModelThroughput:
    """Measured throughput of one backbone x head (rates in clips/s, GFLOP/s; memory in MiB).

    ``skipped`` holds a one-line reason when the model could not be measured (e.g. out of memory);
    the numbers are then NaN.
    """

    backbone: str
    head: str
    preset: str
    cost: ModelCost | None = None
    infer_clips_per_s: float = math.nan
    train_clips_per_s: float = math.nan
    infer_gflops_per_s: float = math.nan
    train_gflops_per_s: float = math.nan
    infer_utilization: float = math.nan
    train_utilization: float = math.nan
    infer_peak_mib: float = math.nan
    train_peak_mib: float = math.nan
    peak_gflops: list[float] = field(default_factory=list)  # per-round matmul peak samples
    infer_breakdown: TimeBreakdown | None = None  # with ``settings.breakdown``
    skipped: str = ""


def torch_dtype(name: str):
    """``"float32"``/``"bfloat16"`` -> the torch dtype (ValueError otherwise)."""
    import torch

    table = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    if name not in table:
        raise ValueError(f"dtype must be one of {', '.join(table)}, got {name!r}")
    return table[name]


def autocast(device: str, dtype: str):
    """``torch.autocast`` for a non-float32 compute dtype, else a no-op context."""
    import torch

    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=str(device).split(":")[0], dtype=torch_dtype(dtype))


def is_convolutional(model) -> bool:
    """True for CNN backbones (more than one ``Conv3d``; a ViT has only its tubelet embedding)."""
    from torch import nn

    return sum(isinstance(m, nn.Conv3d) for m in model.backbone.modules()) > 1


def prepare_for_device(model, settings: BenchSettings):
    """Move ``model`` to the device and apply the GPU-path options; returns the model to call."""
    import torch

    model = model.to(settings.device)
    if settings.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        if is_convolutional(model):
            model = model.to(memory_format=torch.channels_last_3d)
    return compile_if_asked(model, settings)


def compile_if_asked(model, settings: BenchSettings):
    """``torch.compile(model)`` when ``settings.compile``, else ``model`` unchanged.

    On the CPU this model's compilation also uses Inductor's *freezing*, switched on around this
    model's calls only (a wrapper module): graphs compiled for inference (no autograd) treat the
    weights as constants, so Inductor pre-packs them for oneDNN/MKL and fuses the bias and GELU into
    the matrix multiplies; training graphs are unaffected. Measured for issue 6 on ViT-S + maxpool,
    16x112x112, batch 2, one thread: inference utilization 0.73-0.77 eager, 0.79-0.81 compiled.
    A frozen inference graph keeps the weights it was compiled with, which is why this lives in the
    benchmark (timing does not depend on weight values) and not in ``echobench run``.
    """
    import torch

    if not settings.compile:
        return model
    if settings.device.startswith("cuda"):
        return torch.compile(model)
    import torch._inductor.config as inductor_config

    class Freezing(torch.nn.Module):
        """Calls the compiled module with Inductor's ``freezing`` on for the call: Inductor reads it when
        a graph is compiled (at the first call), and ``torch.compile(options={"freezing": True})`` is
        not applied to it (torch 2.14, measured); afterwards it is off again for the rest of the process."""

        def __init__(self, compiled) -> None:
            super().__init__()
            self.compiled = compiled

        def forward(self, *args, **kwargs):
            with inductor_config.patch(freezing=True):
                return self.compiled(*args, **kwargs)

    return Freezing(torch.compile(model))


def _inputs(settings: BenchSettings, convolutional: bool):
    import torch

    gen = torch.Generator().manual_seed(0)
    clip = torch.rand((settings.batch, 3, *settings.clip_shape), generator=gen).to(settings.device)
    if convolutional and settings.device.startswith("cuda"):
        clip = clip.contiguous(memory_format=torch.channels_last_3d)
    frames = torch.arange(settings.frames, device=settings.device).expand(settings.batch, -1)
    target = torch.rand(settings.batch, generator=gen).to(settings.device)
    return clip, frames, target


def bench_model(registry: Registry, *, backbone: str, head: str, preset: str | None,
                settings: BenchSettings) -> ModelThroughput:
    """Measure ``backbone`` + ``head`` at ``preset`` (see module docstring).

    A model that cannot run is not an error, so one bad combination never costs a run: running out
    of memory, a plugin that fails to build (:class:`echobench.errors.EchobenchError`) or rejects the
    input (``ValueError``/``RuntimeError``, e.g. a size its patches do not divide) returns the result
    with ``skipped`` set to a one-line reason.
    """
    import torch

    result = ModelThroughput(backbone=backbone, head=head, preset=preset or "-")
    memory = PeakMemory(settings.device)
    memory.baseline()
    torch.manual_seed(0)
    try:
        result.cost = model_cost(registry, backbone=backbone, head=head, preset=preset, clip_shape=settings.clip_shape)
        model = build_model(registry, backbone=backbone, head=head, preset=preset, clip_shape=settings.clip_shape)
        _measure(model, result, settings, memory)
    except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
        result.skipped = f"out of memory at batch {settings.batch}, input {settings.input_label} ({type(exc).__name__})"
    except (EchobenchError, ValueError, RuntimeError) as exc:
        result.skipped = f"cannot run at input {settings.input_label}: {describe(exc)}"
    finally:
        if settings.device.startswith("cuda"):
            torch.cuda.empty_cache()
    return result


def _measure(model, result: ModelThroughput, settings: BenchSettings, memory: PeakMemory) -> None:
    import torch
    import torch.nn.functional as F

    convolutional = is_convolutional(model)
    clip, frames, target = _inputs(settings, convolutional)
    flops_by_op = None
    if settings.breakdown:  # counted on the eager model, on the device's own kernels
        with torch.inference_mode():
            flops_by_op = count_flops_by_op(lambda: model.eval().to(settings.device)(clip, frames))
    model = prepare_for_device(model, settings)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def infer() -> Any:
        model.eval()
        with torch.inference_mode(), autocast(settings.device, settings.dtype):
            return model(clip, frames)

    def train() -> Any:
        model.train()
        with autocast(settings.device, settings.dtype):
            output = model(clip, frames).float()  # (B,) a score, or a dense head's (B, T, ...) map
            loss = F.mse_loss(output, target.view(-1, *[1] * (output.dim() - 1)).expand_as(output))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    peak, peak_flops = matmul_work(settings.peak_n or default_size(settings.device), settings.device,
                                   torch_dtype(settings.dtype))
    peak()
    infer()  # first calls: lazy initialisation (and compilation with torch.compile) stay out of the figures
    train()  # optimizer state exists before memory is measured, as in any step after the first
    for name, fn in (("infer", infer), ("train", train)):  # these runs are also the timing warm-up
        memory.start()
        fn()
        setattr(result, f"{name}_peak_mib", memory.stop())
    samples = interleaved({"infer": infer, "train": train, "peak": peak}, repeats=settings.repeats,
                          device=settings.device, warmup=0, min_seconds=settings.min_seconds)
    b, cost = settings.batch, result.cost
    peak_rate = [peak_flops / s for s in samples["peak"]]
    result.peak_gflops = [r / 1e9 for r in peak_rate]
    result.infer_clips_per_s = b / median(samples["infer"])
    result.train_clips_per_s = b / median(samples["train"])
    result.infer_gflops_per_s = cost.forward_flops * result.infer_clips_per_s / 1e9
    result.train_gflops_per_s = cost.train_flops * result.train_clips_per_s / 1e9
    # utilization per round: (model FLOPs / model time) / (peak FLOPs / peak time), then the median
    result.infer_utilization = median_ratio([cost.forward_flops * b / s for s in samples["infer"]], peak_rate)
    result.train_utilization = median_ratio([cost.train_flops * b / s for s in samples["train"]], peak_rate)
    if flops_by_op is not None:
        result.infer_breakdown = time_breakdown(infer, flops_by_op, calls=max(1, min(settings.repeats, 3)))
