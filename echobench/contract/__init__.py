"""The whole plugin contract of echobench in one place (DESIGN §2-§3, STYLE rules 1, 11, 12).

- :mod:`~echobench.contract.hookspecs`: the ``register_*`` hooks and ``hookimpl``;
- :mod:`~echobench.contract.specs`: the spec dataclasses a plugin registers (``BackboneSpec``,
  ``HeadSpec``, ``TaskSpec``, ``PretrainerSpec``, ``DatasetSpec``, ``PeerSpec``);
- :mod:`~echobench.contract.dataset`: what a dataset reader returns (``VideoRecord``,
  ``DataReport``, ``DatasetRecords``);
- :mod:`~echobench.contract.options`: declared options (``Option``) and their ``KEY=VALUE`` parser;
- :mod:`~echobench.contract.features`: ``Features``, the tensor a backbone hands a head;
- :mod:`~echobench.contract.interfaces`: ``Backbone``, ``Head``, ``Pretrainer``, ``PeerModels``;
- the toolkit: :mod:`~echobench.contract.weights` (safe loading), :mod:`~echobench.contract.presets`
  (named sizes), :mod:`~echobench.contract.layers` (shared transformer layers),
  :mod:`~echobench.contract.reading` (what dataset readers share: tables, video folders, probing,
  ED/ES frames, label checks, NIfTI sequences, outline masks), :mod:`~echobench.contract.writing`
  (the atomic writers and ``write_avi`` a synthetic generator writes with).

Every name is re-exported by the top-level :mod:`echobench` package, so a plugin writes
``from echobench import hookimpl, BackboneSpec, Features``. Names are resolved lazily: importing
this package (or ``echobench``) does not import torch; ``Features`` and the layers do.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES: dict[str, str] = {
    "hookimpl": "hookspecs", "hookspec": "hookspecs",
    "BackboneSpec": "specs", "HeadSpec": "specs", "TaskSpec": "specs", "PretrainerSpec": "specs",
    "PeerSpec": "specs", "DatasetSpec": "specs", "WeightsSpec": "specs",
    "VideoRecord": "dataset", "DataReport": "dataset", "DatasetRecords": "dataset", "SPLITS": "dataset", "load_factory": "specs", "split_variant": "specs",
    "Option": "options", "parse_options": "options", "check_options": "options",
    "Features": "features",
    "Backbone": "interfaces", "Head": "interfaces", "Pretrainer": "interfaces", "PeerModels": "interfaces",
    "read_state_dict": "weights", "load_state": "weights", "LoadReport": "weights", "strip_prefix": "weights",
    "VIT_SIZES": "presets", "preset_options": "presets",
    "Attention": "layers", "Block": "layers", "sinusoid_position_table": "layers",
    **{name: "reading" for name in (
        "EF_TOLERANCE", "LABEL_CHECKS", "MAX_FPS", "VIDEO_SUFFIXES", "VideoInfo", "ed_es_frames", "index_videos",
        "label_notes", "nifti_fps", "nifti_shape", "pick_video", "polygon_mask", "probe_or_skip", "probe_reason",
        "probe_video", "read_nifti", "read_table", "video_stem", "video_stem_expr")},
    "atomic_write_bytes": "writing", "atomic_write_text": "writing", "write_avi": "writing",
}
_ERRORS = ("EchobenchError", "ConfigError", "DataError", "PluginError", "UnknownNameError", "WeightsError")

__all__ = sorted([*_NAMES, *_ERRORS])


def __getattr__(name: str) -> Any:
    if name in _ERRORS:
        return getattr(importlib.import_module("echobench.errors"), name)
    if name in _NAMES:
        value = getattr(importlib.import_module(f"echobench.contract.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'echobench.contract' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
