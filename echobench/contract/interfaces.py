"""What core expects of the objects plugin factories return (DESIGN §3): :class:`Backbone`,
:class:`Head`, :class:`Pretrainer` and, for reference comparisons, :class:`PeerModels`.

These are structural (``typing.Protocol``): a plugin class satisfies them by having the documented
attributes and methods; it need not inherit from them. Imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Backbone(Protocol):
    """A video backbone (an ``nn.Module``): ``backbone(clip, frame_indices) -> Features``.

    Attributes:
        embed_dim: ``D``, the feature dimension of :attr:`Features.tokens` ``(B, L, D)``.

    ``clip`` is ``(B, 3, T, H, W)`` float (values as the protocol says: [0, 1], or standardised when
    the spec's ``unit_input`` input is False); ``frame_indices`` ``(B, T)`` long source-frame indices.
    """

    embed_dim: int

    def __call__(self, clip: Any, frame_indices: Any = None) -> Any: ...


@runtime_checkable
class Head(Protocol):
    """A head (an ``nn.Module``): ``head(features) -> (B, E)`` float.

    Attributes:
        out_dim: ``E``, the embedding size the task adapter ``Linear(E, outputs)`` reads.
    """

    out_dim: int

    def __call__(self, features: Any) -> Any: ...


class Pretrainer(Protocol):
    """What a pretrainer plugin's factory returns (``PretrainerSpec.factory(**options)``).

    Attributes: ``name``; ``backbone`` (the backbone whose ``--weights`` loads :meth:`encoder_state`);
    ``frames``, ``stride`` (clip length and temporal stride), ``size`` (pixels), ``flips``.
    """

    name: str
    backbone: str
    frames: int
    stride: int
    size: int
    flips: bool

    def config(self) -> dict[str, Any]:
        """JSON description of the model and inputs (checked on resume)."""

    def build(self) -> Any:
        """A new ``nn.Module`` to train."""

    def loss(self, module: Any, clip: Any, sample_seeds: Sequence[int], batch_seed: int) -> Any:
        """Scalar loss of ``clip (B, 3, T, S, S)`` in [0, 1] by calling ``module`` (it may be wrapped)."""

    def pictures(self, model: Any, clip: Any, sample_seeds: Sequence[int], batch_seed: int) -> dict[str, Any]:
        """``original``/``masked``/``reconstructed`` clips ``(B, 3, T, S, S)`` in [0, 1]."""

    def encoder_state(self, model: Any) -> dict[str, Any]:
        """The state dict to save as ``encoder.safetensors``."""

    def no_weight_decay(self, name: str, param: Any) -> bool:
        """True for parameters excluded from weight decay."""


@dataclass
class PeerModels:
    """Two modules computing the same function, returned by a :class:`~echobench.contract.specs.PeerSpec`
    factory, with the same config and weights.

    ``ours`` takes the clip ``(B, 3, T, H, W)``; ``reference_layout`` says how ``reference`` takes it:
    ``"BCTHW"`` the same, ``"BTCHW"`` permuted (Hugging Face video models). ``reference_kwarg`` passes
    the input by keyword (e.g. ``"pixel_values"``); ``*_output`` names the attribute of the call's
    result holding the hidden states ``(B, N, D)`` (e.g. ``"tokens"`` of :class:`Features`,
    ``"last_hidden_state"`` of an HF output); ``None`` means the result is the tensor. Core prepares
    both inputs outside the timed region.
    """

    ours: Any
    reference: Any
    reference_layout: Literal["BCTHW", "BTCHW"] = "BCTHW"
    ours_output: str | None = None
    reference_kwarg: str | None = None
    reference_output: str | None = None


__all__ = ["Backbone", "Head", "Pretrainer", "PeerModels"]
