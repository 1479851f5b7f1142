"""The whole extension contract of echobench (DESIGN §2, STYLE rule 1).

A plugin is a module registered under the entry-point group ``echobench`` that implements some of
these hooks with ``@echobench.hookimpl``. Registration hooks receive a ``register`` callback and call
it once per spec; first-party plugins use exactly the same hooks. Hooks are called with keyword
arguments and specs only ever gain parameters, so an implementation may accept fewer arguments
than its spec (pluggy allows it) and keeps working as the contract grows.

Plugins choose *what* is evaluated (backbones, heads, tasks, pretrainers, datasets), never
*how*: the training/evaluation loop, the splits and the metrics are core code, so every leaderboard
row is comparable. Entry modules must not import torch at top level.

Implementations are called with the hook's own argument names (``echobench.registry.call_hookimpl``).
"""

from __future__ import annotations

from typing import Callable

import pluggy

from echobench.contract.specs import BackboneSpec, DatasetSpec, HeadSpec, PretrainerSpec, TaskSpec

hookspec = pluggy.HookspecMarker("echobench")
hookimpl = pluggy.HookimplMarker("echobench")


@hookspec
def register_backbones(register: Callable[[BackboneSpec], None]) -> None:
    """Call ``register(BackboneSpec(...))`` for each video backbone this plugin provides."""


@hookspec
def register_heads(register: Callable[[HeadSpec], None]) -> None:
    """Call ``register(HeadSpec(...))`` for each head (Features -> (B, E)) this plugin provides."""


@hookspec
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Call ``register(TaskSpec(...))`` for each task this plugin provides."""


@hookspec
def register_pretrainers(register: Callable[[PretrainerSpec], None]) -> None:
    """Call ``register(PretrainerSpec(...))`` for each pre-training method this plugin provides."""



@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Call ``register(DatasetSpec(...))`` for each dataset layout this plugin reads."""
