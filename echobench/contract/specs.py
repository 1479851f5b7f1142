"""Plugin specs: small frozen dataclasses that describe what a plugin provides (DESIGN §2).

A spec names its implementation as a lazy ``"module:attr"`` string, so listing plugins never
imports torch or the model code; :func:`load_factory` imports it only when a run needs it. A spec
also declares what core needs to know without reading the factory's signature (STYLE rule 11): its
:class:`~echobench.contract.options.Option` schema (reachable from the CLI as ``KEY=VALUE``), which
inputs core supplies (``inputs``), the option a ``name:tag`` variant sets, and the reference
implementation ``echobench bench`` compares it with (:class:`PeerSpec`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from echobench.contract.options import Option
from echobench.errors import ConfigError, PluginError, describe

Kind = Literal["backbone", "head", "task", "pretrainer", "dataset"]


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
    ``(B, 3, T, H, W)`` to :class:`echobench.contract.features.Features`.

    ``presets`` names the size presets the factory accepts as ``preset=``. ``inputs`` lists what core
    passes from the protocol: ``num_frames``/``image_size`` (the clip's ``T`` and ``H = W``, e.g. for
    a learned position table) and ``unit_input`` (True when clips arrive in [0, 1]); ``None`` (a spec
    written before this field) falls back, for one release, to reading the factory's signature.
    ``variant_option`` names the option a ``name:tag`` backbone name sets (``video-resnet:r2plus1d_18``
    sets ``variant``, like timm's ``arch.tag``). ``peer``: the reference implementation `bench`
    compares this backbone with.

    ``token_grid`` declares the token grid ``(t, h, w)`` the backbone gives a clip ``(T, H, W)``
    (:meth:`grid`; heads that list ``grid`` in their inputs are built with it): a tubelet size
    ``(st, sh, sw)`` for non-overlapping tubelet embeddings (``(T // st, H // sh, W // sw)``, e.g.
    VideoMAE's 2x16x16), or ``"module:attr"`` naming ``fn(clip_shape, options) -> (t, h, w)`` (called
    with the factory's resolved options, e.g. a CNN's strides per variant). ``None`` (a spec written
    before this field): core measures it with one zero-clip forward pass, for one release, with a
    ``FutureWarning``.
    """

    presets: tuple[str, ...] = ()
    inputs: tuple[str, ...] | None = None
    variant_option: str = ""
    peer: "PeerSpec | None" = None
    options: tuple[Option, ...] = ()  # declared factory options (CLI: --backbone-option KEY=VALUE)
    token_grid: tuple[int, int, int] | str | None = None
    weights: "tuple[WeightsSpec, ...]" = ()  # named weights: --weights NAME.TAG (echobench.experiment.weights)

    def grid(self, clip_shape: tuple[int, int, int],
             options: dict[str, Any] | None = None) -> tuple[int, int, int] | None:
        """The declared token grid ``(t, h, w)`` for a clip ``(T, H, W)`` (frames, pixels), or None when
        the spec declares none.

        Raises:
            PluginError: the declared rule cannot be loaded or does not return three positive integers.
            ConfigError: raised by the rule: the options or clip do not fit the backbone.
        """
        if self.token_grid is None:
            return None
        if isinstance(self.token_grid, str):
            try:
                grid = load_factory(self.token_grid, owner=self.name)(tuple(clip_shape), dict(options or {}))
            except (PluginError, ConfigError):  # a ConfigError is the user's options, not the plugin
                raise
            except Exception as exc:
                raise PluginError(f"backbone {self.name!r}: token_grid {self.token_grid!r} failed for clip "
                                  f"{tuple(clip_shape)}: {type(exc).__name__}: {exc}") from exc
        else:
            grid = tuple(int(n) // int(s) for n, s in zip(clip_shape, self.token_grid))
        if len(tuple(grid)) != 3 or not all(isinstance(g, int) and g > 0 for g in grid):
            raise PluginError(f"backbone {self.name!r}: token grid {grid!r} for clip {tuple(clip_shape)} is not "
                              "three positive integers (t, h, w)")
        return tuple(grid)


@dataclass(frozen=True)
class WeightsSpec:
    """Named weights of a backbone, addressed as ``arch.tag`` (``echo-videomae.echovisionfm``; timm's
    architecture vs pretrained tag, STYLE rule 5): ``file`` is looked up in the weights folder
    (:func:`echobench.experiment.weights.weights_dir`; nothing is downloaded), ``sha256`` (64 hex) is
    checked before loading, ``source`` says where the file comes from (release URL, paper), ``licence``
    its terms, ``preset`` the size preset it fits (None: any)."""

    tag: str
    file: str
    sha256: str
    source: str
    licence: str
    preset: str | None = None
    summary: str = ""


@dataclass(frozen=True)
class HeadSpec(_Spec):
    """A head: ``factory(dim=D, **defaults, **options) -> nn.Module`` mapping Features to ``(B, E)``;
    the module exposes ``out_dim`` (E). With ``"grid"`` in ``inputs`` the factory also receives the
    backbone's token grid ``(t, h, w)`` for the protocol's clip; ``inputs=None`` (a spec written before
    this field) falls back, for one release, to reading the factory's signature. With
    ``"clip_shape"`` in ``inputs`` it also receives the protocol's clip shape ``(T, H, W)``.

    ``output`` says what the module returns, so core can pair heads with task kinds before building
    anything: ``"embedding"`` ``(B, E)`` (regression and binary tasks, through a linear adapter);
    ``"masks"`` ``(B, T, H, W)`` per-pixel logits (``segmentation`` tasks); ``"frames"`` ``(B, T, 2)``
    per-frame logits of the ED and ES phases (``frames`` tasks). Dense heads have no ``out_dim``.
    """

    inputs: tuple[str, ...] | None = None
    options: tuple[Option, ...] = ()  # declared factory options (CLI: --head-option KEY=VALUE)
    output: Literal["embedding", "masks", "frames"] = "embedding"


@dataclass(frozen=True)
class TaskSpec(_Spec):
    """A task on EchoNet-Dynamic-format data (DESIGN §5).

    ``label`` is the FileList column, ``kind`` ``"regression"`` or ``"binary"`` (one value per
    video), ``"segmentation"`` (LV cavity masks on the traced ED and ES frames; ``label`` is the EF
    column the masks' method-of-discs EF is scored against) or ``"frames"`` (ED/ES frame
    localisation); ``units`` the natural units metrics are reported in (``"%"`` for EF, ``"mL"`` for
    volumes, ``"frames"``). The dense kinds pair only with heads of the matching ``HeadSpec.output``
    (:data:`TASK_HEAD_OUTPUT`). ``version`` is bumped by any
    change that can move a score. ``threshold``: for binary tasks, positive when ``label < threshold``.
    ``derived``: binary tasks on the same label scored from this regression task's predictions
    (``ef`` declares ``("ef50",)``: EF < 50 % from the predicted EF), recorded under their own names.
    ``factory`` may be empty: tasks are data, not code. The label must be a label column of the
    dataset (:attr:`DatasetSpec.labels`, or a column its records carry; the task's units then apply).
    """

    label: str = "EF"
    kind: Literal["regression", "binary", "segmentation", "frames"] = "regression"
    units: str = "%"
    version: str = "1"
    threshold: float | None = None
    derived: tuple[str, ...] = ()


TASK_HEAD_OUTPUT = {"regression": "embedding", "binary": "embedding", "segmentation": "masks", "frames": "frames"}
"""The :attr:`HeadSpec.output` each task kind needs."""


@dataclass(frozen=True)
class PretrainerSpec(_Spec):
    """A self-supervised pre-training method: ``factory(**defaults, **options)`` builds its trainer
    (an :class:`echobench.contract.interfaces.Pretrainer`). ``options`` is the schema ``echobench
    pretrain --option KEY=VALUE`` is checked against (did-you-mean for unknown keys)."""

    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class DatasetSpec(_Spec):
    """A dataset layout (DESIGN §6; issue 14 item 3): ``factory(root, *, probe=False, progress=None)``
    reads a folder and returns :class:`echobench.contract.dataset.DatasetRecords` (usable records plus a
    report counting every skip with its reason). It raises :class:`~echobench.errors.DataError` (one
    line naming the file) only when the folder cannot be used at all.

    ``labels`` maps each label column the records carry to its units (``{"EF": "%", "ESV": "mL"}``):
    a task's ``label`` must be one of them, and external validation pairs datasets only when a task's
    label has the same units in both. ``subgroups`` lists subgroup columns records may carry in
    :attr:`VideoRecord.subgroups` (strata). ``markers`` are glob patterns relative to the root whose
    presence identifies the layout (``("FileList.csv",)``), used to detect a folder's dataset.
    ``synth`` (``"module:attr"``) writes a format-faithful synthetic copy:
    ``synth(root, *, videos=N, seed=S)``. ``masks`` (``"module:attr"``, optional) returns a
    record's LV cavity masks ``{frame: bool (H, W)}`` on its traced frames, at the video's size.
    ``split_rule`` documents how rows map to TRAIN/VAL/TEST; bump ``version`` for any change to the
    reader that can move a score (which rows, splits or labels).
    """

    labels: dict[str, str] = field(default_factory=dict)
    subgroups: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    synth: str = ""
    masks: str = ""
    views: tuple[str, ...] = ()
    split_rule: str = ""
    version: str = "1"


@dataclass(frozen=True)
class PeerSpec:
    """A comparison of a backbone with a reference implementation of the same function, declared by
    the plugin that owns the backbone (STYLE rule 12); ``echobench bench --peers`` runs it.

    ``factory`` (``"module:attr"``) is called as ``factory(preset=..., frames=T, size=S)`` and returns
    :class:`echobench.contract.interfaces.PeerModels`: ours and the reference, with the same config
    and weights, each mapping its input to hidden states ``(B, N, D)``. ``reference`` names the other
    side in records (e.g. ``transformers.VideoMAEModel``); ``requires`` lists the importable modules it
    needs (skipped with a note when one is missing); ``presets`` the sizes it can build.
    """

    factory: str
    reference: str
    requires: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()

    def load(self, owner: str) -> Callable[..., Any]:
        """Import and return the factory."""
        return load_factory(self.factory, owner=owner)


SPEC_TYPES: dict[Kind, type[_Spec]] = {
    "backbone": BackboneSpec,
    "head": HeadSpec,
    "task": TaskSpec,
    "pretrainer": PretrainerSpec,
    "dataset": DatasetSpec,
}


def split_variant(name: str) -> tuple[str, str | None]:
    """``"video-resnet:r2plus1d_18"`` -> ``("video-resnet", "r2plus1d_18")``; no tag -> ``(name, None)``."""
    base, sep, tag = name.partition(":")
    return (base, tag) if sep else (name, None)


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
        raise PluginError(f"{owner}: cannot import {module_name!r}: {describe(exc)}") from exc
    try:
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise PluginError(f"{owner}: {module_name!r} has no attribute {attr!r}") from exc
    return obj
