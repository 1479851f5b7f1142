"""Backbones side by side with the reference implementations their plugins declare (STYLE rule 12).

A backbone plugin declares a comparison as the :class:`echobench.PeerSpec` of its
:class:`echobench.BackboneSpec` (first party: ``videomae`` against ``transformers.VideoMAEModel``,
``vivit`` against ``transformers.VivitModel``); its factory returns :class:`echobench.PeerModels`
with both sides built from the same config and weights. Core never names a plugin: turning a plugin
off (``ECHOBENCH_PLUGINS``) removes its comparison. Inputs are prepared outside the timed region
(``pixel_values (B, T, 3, H, W)`` for Hugging Face models), and the largest absolute difference of
the outputs is recorded as proof that the two compute the same function.

Timed work: a forward pass (``inference_mode``), and a training step (forward, mean-square loss
of the hidden states, backward, AdamW step), interleaved round by round (see
:mod:`echobench.bench.timing`); the ratio ours/reference is the median of per-round ratios.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from echobench.bench.models import BenchSettings, autocast, compile_if_asked, torch_dtype
from echobench.bench.timing import interleaved, median, median_ratio
from echobench.contract.interfaces import PeerModels
from echobench.contract.specs import PeerSpec
from echobench.errors import ConfigError, describe
from echobench.registry import Registry


def declared_peers(registry: Registry) -> dict[str, PeerSpec]:
    """``{backbone name: PeerSpec}`` for every registered backbone that declares a comparison."""
    return {name: spec.peer for name in registry.names("backbone")
            if (spec := registry.get("backbone", name)).peer is not None}


def missing_requirement(peer: PeerSpec) -> str | None:
    """The first module of ``peer.requires`` that is not installed, or None."""
    return next((m for m in peer.requires if importlib.util.find_spec(m) is None), None)


@dataclass
class PeerPair:
    """Two modules computing the same function: ``ours(ours_input)`` and ``peer(peer_input)`` each
    return hidden states ``(B, N, D)``."""

    name: str
    preset: str
    ours: Any
    peer: Any
    ours_input: Any
    peer_input: Any
    max_abs_diff: float = math.nan


@dataclass
class PeerThroughput:
    """Clips/s of ours and the peer (inference and training step) and the per-round median ratios
    ours/peer (> 1: ours is faster)."""

    name: str
    peer: str
    preset: str
    max_abs_diff: float = math.nan
    ours_infer_clips_per_s: float = math.nan
    peer_infer_clips_per_s: float = math.nan
    infer_ratio: float = math.nan
    ours_train_clips_per_s: float = math.nan
    peer_train_clips_per_s: float = math.nan
    train_ratio: float = math.nan
    skipped: str = ""


class _Hidden(nn.Module):
    """Call ``net`` (by keyword ``kwarg`` when given) and return the result's ``output`` attribute."""

    def __init__(self, net: nn.Module, kwarg: str | None, output: str | None) -> None:
        super().__init__()
        self.net, self.kwarg, self.output = net, kwarg, output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(**{self.kwarg: x}) if self.kwarg else self.net(x)
        return getattr(out, self.output) if self.output else out


def peer_pair(name: str, peer: PeerSpec, preset: str, settings: BenchSettings) -> PeerPair:
    """Build the declared comparison of backbone ``name`` at ``preset``, move both sides to the device
    (compiled alike with ``--compile``), make the inputs and record the output difference (float32, eval).

    Raises:
        ConfigError: a preset the comparison has no size for, or a required module is missing.
        PluginError: the factory cannot be imported.
    """
    if peer.presets and preset not in peer.presets:
        raise ConfigError(f"{name} comparison has no size for preset {preset!r}; choose from {', '.join(peer.presets)}")
    missing = missing_requirement(peer)
    if missing:
        raise ConfigError(f"the {name} comparison needs `{missing}` (pip install 'echobench[bench]')")
    models: PeerModels = peer.load(f"backbone {name!r} peer")(preset=preset, frames=settings.frames,
                                                             size=settings.size)
    gen = torch.Generator().manual_seed(0)
    clip = torch.rand((settings.batch, 3, *settings.clip_shape), generator=gen)
    ours = _Hidden(models.ours, None, models.ours_output)
    reference = _Hidden(models.reference, models.reference_kwarg, models.reference_output)
    pair = PeerPair(name, preset, compile_if_asked(ours.to(settings.device).eval(), settings),
                    compile_if_asked(reference.to(settings.device).eval(), settings), clip.to(settings.device),
                    (clip.permute(0, 2, 1, 3, 4).contiguous() if models.reference_layout == "BTCHW" else clip)
                    .to(settings.device))
    with torch.inference_mode():
        pair.max_abs_diff = float((pair.ours(pair.ours_input) - pair.peer(pair.peer_input)).abs().max())
    return pair


def _steps(module, x, settings: BenchSettings) -> tuple[Callable[[], Any], Callable[[], Any]]:
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)

    def infer():
        module.eval()
        with torch.inference_mode(), autocast(settings.device, settings.dtype):
            return module(x)

    def train():
        module.train()
        with autocast(settings.device, settings.dtype):
            loss = module(x).float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return infer, train


def bench_peer(registry: Registry, name: str, preset: str, settings: BenchSettings) -> PeerThroughput:
    """Build the comparison backbone ``name`` declares at ``preset`` and time it (see module docstring).

    Running out of memory or an input the models reject (``ValueError``/``RuntimeError``) is not an
    error: the result is returned with ``skipped`` set to a one-line reason.

    Raises:
        ConfigError: the backbone declares no comparison, a preset it has no size for, or a required
            module (``transformers``) is missing.
        UnknownNameError: unknown backbone.
    """
    peer = registry.get("backbone", name).peer
    if peer is None:
        raise ConfigError(f"backbone {name!r} declares no reference comparison; "
                          f"those that do: {', '.join(declared_peers(registry)) or 'none'}")
    torch_dtype(settings.dtype)
    result = PeerThroughput(name=name, peer=peer.reference, preset=preset)
    try:
        pair = peer_pair(name, peer, preset, settings)
        result.max_abs_diff = pair.max_abs_diff
        ours_infer, ours_train = _steps(pair.ours, pair.ours_input, settings)
        peer_infer, peer_train = _steps(pair.peer, pair.peer_input, settings)
        samples = interleaved({"ours_infer": ours_infer, "peer_infer": peer_infer, "ours_train": ours_train,
                               "peer_train": peer_train}, repeats=settings.repeats, device=settings.device,
                              min_seconds=settings.min_seconds)
    except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
        result.skipped = f"out of memory at batch {settings.batch}, input {settings.input_label} ({type(exc).__name__})"
        return result
    except (ValueError, RuntimeError) as exc:  # e.g. a size the patches do not divide
        result.skipped = f"cannot run at input {settings.input_label}: {describe(exc)}"
        return result
    finally:
        if settings.device.startswith("cuda"):
            torch.cuda.empty_cache()
    b = settings.batch
    for mode in ("infer", "train"):
        setattr(result, f"ours_{mode}_clips_per_s", b / median(samples[f"ours_{mode}"]))
        setattr(result, f"peer_{mode}_clips_per_s", b / median(samples[f"peer_{mode}"]))
        setattr(result, f"{mode}_ratio", median_ratio(samples[f"peer_{mode}"], samples[f"ours_{mode}"]))
    return result
