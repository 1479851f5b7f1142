"""Backbone + head + task adapter, assembled from registry names (DESIGN §3).

::

    clip (B, 3, T, H, W) --backbone--> Features tokens (B, L, D), grid (t, h, w)
                         --head------> (B, E)
                         --adapter---> (B, 1)   (Linear: regression value or one logit)
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import torch
from torch import nn

from echobench.contract.options import check_options, parse_options
from echobench.contract.specs import split_variant
from echobench.errors import EchobenchError, PluginError, UnknownNameError, describe
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


class DenseModel(nn.Module):
    """The model of a dense task (segmentation, frames): backbone + dense head, no adapter.

    ``forward(clip (B,3,T,H,W), frame_indices (B,T))`` returns the head's output: ``(B, T, H, W)``
    mask logits or ``(B, T, 2)`` ED/ES frame logits (:attr:`HeadSpec.output`).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, clip: torch.Tensor, frame_indices: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(clip, frame_indices))


def _call(owner: str, factory, options: dict[str, Any]):
    """Call a plugin factory; a plugin's own failure becomes a one-line PluginError naming it."""
    try:
        return factory(**options)
    except EchobenchError:
        raise
    except Exception as exc:
        raise PluginError(f"{owner} failed to build with options {options}: {describe(exc)}") from exc


def resolve_specs(registry: Registry, *, backbone: str, head: str, preset: str | None = None):
    """Look up the backbone and head specs and check the preset, before any expensive work.

    ``backbone`` may carry a variant tag, ``name:tag`` (e.g. ``video-resnet:r2plus1d_18``), for a
    backbone whose spec declares ``variant_option``; the tag is checked against that option.

    Raises:
        UnknownNameError: unknown backbone, head or preset; a tag on a backbone without variants.
        ConfigError: a tag that is not one of the variant option's choices (did-you-mean).
    """
    base, tag = split_variant(backbone)
    bspec = registry.get("backbone", base)
    hspec = registry.get("head", head)
    if preset is not None and bspec.presets and preset not in bspec.presets:
        raise UnknownNameError(f"backbone {base!r} has no preset {preset!r}; presets: {', '.join(bspec.presets)}")
    if tag is not None:
        variant_options(bspec, tag)
    return bspec, hspec


def variant_options(bspec, tag: str | None) -> dict[str, Any]:
    """``{variant_option: tag}`` for a ``name:tag`` backbone (``{}`` without a tag).

    Raises:
        UnknownNameError: the backbone declares no ``variant_option``.
        ConfigError: ``tag`` is not one of the declared choices.
    """
    if tag is None:
        return {}
    if not bspec.variant_option:
        raise UnknownNameError(f"backbone {bspec.name!r} has no variants; use the name without ':{tag}'")
    declared = {o.name: o for o in bspec.options}
    option = declared.get(bspec.variant_option)
    value = option.convert(tag, owner=f"backbone {bspec.name!r}") if option is not None else tag
    return {bspec.variant_option: value}


def parse_model_options(registry: Registry, *, backbone: str, head: str,
                        backbone_pairs: list[str] | tuple[str, ...] = (),
                        head_pairs: list[str] | tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse ``--backbone-option``/``--head-option`` ``KEY=VALUE`` pairs against the specs' declared options.

    Returns:
        ``(backbone_options, head_options)`` with typed values.
    Raises:
        UnknownNameError: unknown backbone or head.
        ConfigError: a pair without ``=``, an undeclared key or choice (did-you-mean), a bad value.
    """
    bspec = registry.get("backbone", backbone)
    hspec = registry.get("head", head)
    return (parse_options(backbone_pairs, bspec.options, owner=f"backbone {bspec.name!r}", flag="--backbone-option"),
            parse_options(head_pairs, hspec.options, owner=f"head {hspec.name!r}", flag="--head-option"))


def _named_parameter(factory, name: str) -> bool:
    """True when ``factory`` declares ``name`` explicitly (not merely through ``**kwargs``)."""
    try:
        param = inspect.signature(factory).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind is not inspect.Parameter.VAR_KEYWORD


def _takes(spec, factory, name: str) -> bool:
    """Whether core passes input ``name`` to the factory: as the spec's ``inputs`` declare, or (a spec
    written before ``inputs`` existed, for one release) when the factory's signature names it."""
    if spec.inputs is not None:
        return name in spec.inputs
    return _named_parameter(factory, name)


def _checked(spec, kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """Options checked against the spec's declared schema (passed through when it declares none)."""
    if not spec.options or not options:
        return dict(options)
    return check_options(options, spec.options, owner=f"{kind} {spec.name!r}", flag=f"{kind} option")


def _measured_grid(bspec, net: nn.Module, clip_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The token grid of a backbone whose spec declares none (``BackboneSpec.token_grid``), measured by
    one no-grad forward pass of a zero clip, with a ``FutureWarning``: removed in the next release."""
    warnings.warn(f"backbone {bspec.name!r} declares no token_grid in its BackboneSpec; echobench measures it "
                  "with a forward pass for this release only (declare a tubelet size or a 'module:attr' rule)",
                  FutureWarning, stacklevel=3)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        probe = torch.zeros((1, 3, *clip_shape), device=next(net.parameters()).device)
        grid = tuple(net(probe, torch.arange(clip_shape[0]).unsqueeze(0)).grid)
    net.train(was_training)
    return grid


def build_model(registry: Registry, *, backbone: str, head: str, preset: str | None = None,
                weights: str | None = None, backbone_options: dict[str, Any] | None = None,
                head_options: dict[str, Any] | None = None,
                clip_shape: tuple[int, int, int] | None = None,
                unit_input: bool | None = None) -> EchoModel | DenseModel:
    """Instantiate backbone and head by registry name (``backbone`` may be ``name:variant``).

    Options: the spec's ``defaults``, then the variant tag, then ``backbone_options``/``head_options``
    (checked against the spec's declared ``options`` when it declares any).

    Input geometry: with ``clip_shape = (T, H, W)`` (the protocol's clip), a backbone whose spec lists
    ``num_frames``/``image_size`` in ``inputs`` receives them (e.g. ViViT's learned position table),
    and a head whose spec lists ``grid`` receives the backbone's token grid ``(t, h, w)`` (as the
    backbone's spec declares it, :meth:`~echobench.contract.specs.BackboneSpec.grid`), so heads whose
    layers depend on it (STFF-Net's spatial-collapse conv) are fully built before the optimizer sees
    them; a head listing
    ``clip_shape`` receives ``(T, H, W)``. A head whose spec's ``output`` is not ``"embedding"``
    gives a :class:`DenseModel` (no adapter). ``unit_input`` (clips in
    [0, 1], or already standardised by the protocol) goes to backbones that list it, so a backbone
    applies its own input normalisation only to [0, 1] clips.

    Raises:
        UnknownNameError: unknown backbone/head/preset name.
        ConfigError: an option the spec does not declare, or a value outside its choices.
        PluginError: the plugin's factory fails or breaks the contract (no ``embed_dim``/``out_dim``).
        WeightsError: ``weights`` missing or not matching (raised by the backbone factory).
    """
    bspec, hspec = resolve_specs(registry, backbone=backbone, head=head, preset=preset)
    options = dict(bspec.defaults)
    options.update(variant_options(bspec, split_variant(backbone)[1]))
    options.update(_checked(bspec, "backbone", backbone_options or {}))
    if preset is not None:
        options["preset"] = preset
    if weights is not None:
        options["weights"] = weights
    factory = bspec.load()
    declared_grid = bspec.grid(clip_shape, options) if clip_shape is not None else None  # ConfigError: no fit
    if clip_shape is not None:
        for name, value in (("num_frames", clip_shape[0]), ("image_size", clip_shape[1])):
            if _takes(bspec, factory, name) and name not in options:
                options[name] = value
    if unit_input is not None and _takes(bspec, factory, "unit_input") and "unit_input" not in options:
        options["unit_input"] = unit_input
    net = _call(f"backbone {backbone!r}", factory, options)
    dim = getattr(net, "embed_dim", None)
    if not isinstance(dim, int):
        raise PluginError(f"backbone {backbone!r} does not expose an integer `embed_dim` (the Features dim D)")
    head_factory = hspec.load()
    head_kwargs = {"dim": dim, **hspec.defaults, **_checked(hspec, "head", head_options or {})}
    if clip_shape is not None and _takes(hspec, head_factory, "grid"):
        head_kwargs["grid"] = declared_grid or _measured_grid(bspec, net, clip_shape)
    if clip_shape is not None and _takes(hspec, head_factory, "clip_shape"):
        head_kwargs["clip_shape"] = tuple(int(v) for v in clip_shape)
    head_module = _call(f"head {head!r}", head_factory, head_kwargs)
    if hspec.output != "embedding":  # a dense head: (B, T, H, W) or (B, T, 2) logits, no adapter
        return DenseModel(net, head_module)
    if not isinstance(getattr(head_module, "out_dim", None), int):
        raise PluginError(f"head {head!r} does not expose an integer `out_dim` (the embedding size E)")
    return EchoModel(net, head_module)
