"""Plugin specs: small frozen dataclasses that describe what a plugin provides (DESIGN §2).

A spec names its implementation as a lazy ``"module:attr"`` string, so listing plugins never
imports torch or the model code; :func:`load_factory` imports it only when a run needs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from echobench.errors import PluginError

Kind = Literal["backbone", "head", "task", "pretrainer"]


@dataclass(frozen=True)
class _Spec:
    name: str
    summary: str
    factory: str  # "package.module:callable"
    defaults: dict[str, Any] = field(default_factory=dict)
    citation: str = ""
    licence: str = ""

    def load(self) -> Callable[..., Any]:
        """Import and return the factory callable (imports the implementation, e.g. torch)."""
        return load_factory(self.factory, owner=self.name)


@dataclass(frozen=True)
class BackboneSpec(_Spec):
    """A video backbone: ``factory(**defaults, **options) -> nn.Module`` mapping a clip
    ``(B, 3, T, H, W)`` to :class:`echobench.models.features.Features`.

    ``presets`` names the size presets the factory accepts as ``preset=``. A factory that declares
    ``num_frames``/``image_size`` parameters receives the protocol's clip length and size.
    """

    presets: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeadSpec(_Spec):
    """A head: ``factory(dim=D, **defaults, **options) -> nn.Module`` mapping Features to ``(B, E)``;
    the module exposes ``out_dim`` (E). A factory that declares a ``grid`` parameter also receives
    the backbone's token grid ``(t, h, w)`` for the protocol's clip."""


@dataclass(frozen=True)
class TaskSpec(_Spec):
    """A task on EchoNet-Dynamic-format data (DESIGN §5).

    ``label`` is the FileList column, ``kind`` ``"regression"`` or ``"binary"``, ``units`` the natural
    units metrics are reported in (``"%"`` for EF, ``"mL"`` for volumes). ``version`` is bumped by any
    change that can move a score. ``threshold``: for binary tasks, positive when ``label < threshold``.
    ``factory`` may be empty: tasks are data, not code.
    """

    label: str = "EF"
    kind: Literal["regression", "binary"] = "regression"
    units: str = "%"
    version: str = "1"
    threshold: float | None = None


@dataclass(frozen=True)
class PretrainerSpec(_Spec):
    """A self-supervised pre-training method: ``factory(**options)`` builds its trainer."""


SPEC_TYPES: dict[Kind, type[_Spec]] = {
    "backbone": BackboneSpec,
    "head": HeadSpec,
    "task": TaskSpec,
    "pretrainer": PretrainerSpec,
}


def load_factory(target: str, *, owner: str) -> Callable[..., Any]:
    """Resolve ``"module:attr"`` to the object it names.

    Raises:
        PluginError: the string is malformed, the module fails to import, or the attribute is missing.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"{owner}: factory {target!r} is not of the form 'module:attr'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a plugin's import error must name the plugin, not crash the CLI
        raise PluginError(f"{owner}: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    try:
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise PluginError(f"{owner}: {module_name!r} has no attribute {attr!r}") from exc
    return obj
