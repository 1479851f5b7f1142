"""Backbone + head + task adapter, assembled from registry names (DESIGN §3).

::

    clip (B, 3, T, H, W) --backbone--> Features tokens (B, L, D), grid (t, h, w)
                         --head------> (B, E)
                         --adapter---> (B, 1)   (Linear: regression value or one logit)
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from echobench.errors import EchobenchError, PluginError, UnknownNameError
from echobench.registry import Registry


class EchoModel(nn.Module):
    """The model a run trains: ``forward(clip (B,3,T,H,W), frame_indices (B,T)) -> (B,)``.

    With ``freeze_backbone()`` only the head and adapter train (the frozen-encoder probe track):
    backbone parameters get no gradient and the backbone stays in eval mode (no dropout, no BN
    statistic updates).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, *, outputs: int = 1) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.adapter = nn.Linear(int(head.out_dim), outputs)
        self.backbone_frozen = False

    def freeze_backbone(self) -> None:
        """Stop training the backbone (probe track)."""
        self.backbone_frozen = True
        self.backbone.requires_grad_(False)
        self.backbone.eval()

    def train(self, mode: bool = True) -> "EchoModel":
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

    def forward(self, clip: torch.Tensor, frame_indices: torch.Tensor) -> torch.Tensor:
        features = self.backbone(clip, frame_indices)
        return self.adapter(self.head(features)).squeeze(-1)


def _call(owner: str, factory, options: dict[str, Any]):
    """Call a plugin factory; a plugin's own failure becomes a one-line PluginError naming it."""
    try:
        return factory(**options)
    except EchobenchError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise PluginError(f"{owner} failed to build with options {options}: {type(exc).__name__}: {first}") from exc


def resolve_specs(registry: Registry, *, backbone: str, head: str, preset: str | None = None):
    """Look up the backbone and head specs and check the preset, before any expensive work.

    Raises:
        UnknownNameError: unknown backbone, head or preset.
    """
    bspec = registry.get("backbone", backbone)
    hspec = registry.get("head", head)
    if preset is not None and bspec.presets and preset not in bspec.presets:
        raise UnknownNameError(f"backbone {backbone!r} has no preset {preset!r}; presets: {', '.join(bspec.presets)}")
    return bspec, hspec


def _named_parameter(factory, name: str) -> bool:
    """True when ``factory`` declares ``name`` explicitly (not merely through ``**kwargs``)."""
    try:
        param = inspect.signature(factory).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind is not inspect.Parameter.VAR_KEYWORD


def build_model(registry: Registry, *, backbone: str, head: str, preset: str | None = None,
                weights: str | None = None, backbone_options: dict[str, Any] | None = None,
                clip_shape: tuple[int, int, int] | None = None, unit_input: bool | None = None) -> EchoModel:
    """Instantiate backbone and head by registry name.

    Input geometry: with ``clip_shape = (T, H, W)`` (the protocol's clip), a backbone factory that
    declares ``num_frames``/``image_size`` parameters receives them (e.g. ViViT's learned position
    table), and a head factory that declares ``grid`` receives the backbone's token grid ``(t, h, w)``
    (measured by one no-grad forward of a zero clip), so heads whose layers depend on it (STFF-Net's
    spatial-collapse conv) are fully built before the optimizer sees them. ``unit_input`` (clips in
    [0, 1], or already standardised by the protocol) goes to backbone factories that declare it, so
    a backbone applies its own input normalisation only to [0, 1] clips.

    Raises:
        UnknownNameError: unknown backbone/head/preset name.
        PluginError: the plugin's factory fails or breaks the contract (no ``embed_dim``/``out_dim``).
        WeightsError: ``weights`` missing or not matching (raised by the backbone factory).
    """
    bspec, hspec = resolve_specs(registry, backbone=backbone, head=head, preset=preset)
    options = dict(bspec.defaults)
    options.update(backbone_options or {})
    if preset is not None:
        options["preset"] = preset
    if weights is not None:
        options["weights"] = weights
    factory = bspec.load()
    if clip_shape is not None:
        for name, value in (("num_frames", clip_shape[0]), ("image_size", clip_shape[1])):
            if _named_parameter(factory, name) and name not in options:
                options[name] = value
    if unit_input is not None and _named_parameter(factory, "unit_input") and "unit_input" not in options:
        options["unit_input"] = unit_input
    net = _call(f"backbone {backbone!r}", factory, options)
    dim = getattr(net, "embed_dim", None)
    if not isinstance(dim, int):
        raise PluginError(f"backbone {backbone!r} does not expose an integer `embed_dim` (the Features dim D)")
    head_factory = hspec.load()
    head_options = {"dim": dim, **hspec.defaults}
    if clip_shape is not None and _named_parameter(head_factory, "grid"):
        was_training = net.training
        net.eval()
        with torch.no_grad():
            probe = torch.zeros((1, 3, *clip_shape), device=next(net.parameters()).device)
            head_options["grid"] = tuple(net(probe, torch.arange(clip_shape[0]).unsqueeze(0)).grid)
        net.train(was_training)
    head_module = _call(f"head {head!r}", head_factory, head_options)
    if not isinstance(getattr(head_module, "out_dim", None), int):
        raise PluginError(f"head {head!r} does not expose an integer `out_dim` (the embedding size E)")
    return EchoModel(net, head_module)
