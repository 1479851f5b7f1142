"""Backbone + head + task adapter, assembled from registry names (DESIGN §3).

::

    clip (B, 3, T, H, W) --backbone--> Features tokens (B, L, D), grid (t, h, w)
                         --head------> (B, E)
                         --adapter---> (B, 1)   (Linear: regression value or one logit)
"""

from __future__ import annotations

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


def build_model(registry: Registry, *, backbone: str, head: str, preset: str | None = None,
                weights: str | None = None, backbone_options: dict[str, Any] | None = None) -> EchoModel:
    """Instantiate backbone and head by registry name.

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
    net = _call(f"backbone {backbone!r}", bspec.load(), options)
    dim = getattr(net, "embed_dim", None)
    if not isinstance(dim, int):
        raise PluginError(f"backbone {backbone!r} does not expose an integer `embed_dim` (the Features dim D)")
    head_module = _call(f"head {head!r}", hspec.load(), {"dim": dim, **hspec.defaults})
    if not isinstance(getattr(head_module, "out_dim", None), int):
        raise PluginError(f"head {head!r} does not expose an integer `out_dim` (the embedding size E)")
    return EchoModel(net, head_module)
