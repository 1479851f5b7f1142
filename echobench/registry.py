"""Plugin discovery and the name registry (DESIGN §2).

Plugins are modules registered under the entry-point group ``echobench`` (first-party ones too,
from this distribution's own ``pyproject.toml``). :func:`get_registry` loads them with pluggy,
calls each plugin's ``register_*`` hooks with a callback bound to that plugin, and keeps, per kind,
``name -> Entry(spec, plugin, distribution, version)``.

- ``ECHOBENCH_PLUGINS`` (comma-separated entry-point or distribution names) restricts which
  plugins load; unset means all, an empty value means none.
- Two plugins registering the same name is a :class:`PluginError` naming both.
- An unknown name is an :class:`UnknownNameError` with close-match suggestions.
- A plugin that fails to import is reported in ``Registry.load_errors`` by name; the others load.

Nothing here imports torch: specs name their implementations as ``"module:attr"`` strings.
Follows simonw/llm's ``plugins.py`` (entry points + env allowlist) and pluggy's ``check_pending``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterable

import pluggy

from echobench.contract import hookspecs
from echobench.errors import PluginError, UnknownNameError, describe
from echobench.contract.specs import SPEC_TYPES, Kind, _Spec, split_variant

GROUP = "echobench"
ENV_VAR = "ECHOBENCH_PLUGINS"
_HOOKS: dict[Kind, str] = {
    "backbone": "register_backbones",
    "head": "register_heads",
    "task": "register_tasks",
    "pretrainer": "register_pretrainers",
    "dataset": "register_datasets",
}


@dataclass(frozen=True)
class Entry:
    """One registered spec and where it came from."""

    spec: Any
    plugin: str  # entry-point name (or the name a test registered an object under)
    distribution: str  # distribution that provides the plugin ("-" for objects registered in-process)
    version: str


@dataclass
class Registry:
    """All specs by kind, plus the plugin manager and the plugins that failed to load."""

    pm: pluggy.PluginManager
    entries: dict[Kind, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in _HOOKS})
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)  # plugin -> (dist, version)
    load_errors: list[str] = field(default_factory=list)
    hook_arguments: dict[str, Any] = field(default_factory=dict)  # values of spec arguments other than `register`

    def get(self, kind: Kind, name: str) -> Any:
        """Return the spec registered as ``name``.

        Raises:
            UnknownNameError: no such name; the message lists close matches or what exists.
        """
        return self.entry(kind, name).spec

    def entry(self, kind: Kind, name: str) -> Entry:
        """Like :meth:`get` but returns the :class:`Entry` with its provenance. A backbone name may
        carry a variant tag (``video-resnet:r2plus1d_18``); the tag is checked by
        :func:`echobench.engine.model.resolve_specs`."""
        if kind == "backbone":
            name = split_variant(name)[0]
        table = self.entries[kind]
        if name in table:
            return table[name]
        close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
        hint = (f"did you mean {', '.join(repr(c) for c in close)}?" if close
                else f"known: {', '.join(sorted(table)) or 'none'}")
        raise UnknownNameError(f"unknown {kind} {name!r}; {hint} (see `echobench list`)")

    def names(self, kind: Kind) -> list[str]:
        return sorted(self.entries[kind])

    def register_plugin(self, plugin: object, name: str, *, distribution: str = "-", version: str = "-") -> None:
        """Register an in-process plugin object (tests, notebooks) and collect its specs."""
        self.pm.register(plugin, name=name)
        self.pm.check_pending()
        self.sources[name] = (distribution, version)
        self._collect(only=name)

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register_plugin` and its specs."""
        self.pm.unregister(name=name)
        for table in self.entries.values():
            for key in [k for k, e in table.items() if e.plugin == name]:
                del table[key]

    def _collect(self, only: str | None = None) -> None:
        for kind, hook_name in _HOOKS.items():
            hook = getattr(self.pm.hook, hook_name, None)
            if hook is None:  # a plugin manager built on other hookspecs (tests)
                continue
            for impl in hook.get_hookimpls():
                if only is not None and impl.plugin_name != only:
                    continue
                dist, version = self.sources.get(impl.plugin_name, ("-", "-"))

                def register(spec: _Spec, _kind: Kind = kind, _plugin: str = impl.plugin_name,
                             _dist: str = dist, _version: str = version) -> None:
                    expected = SPEC_TYPES[_kind]
                    if not isinstance(spec, expected):
                        raise PluginError(f"plugin {_plugin!r} registered a {type(spec).__name__} "
                                          f"through {hook_name}; expected {expected.__name__}")
                    table = self.entries[_kind]
                    if spec.name in table:
                        other = table[spec.name]
                        raise PluginError(f"{_kind} {spec.name!r} is registered twice: by plugin "
                                          f"{other.plugin!r} ({other.distribution}) and by plugin "
                                          f"{_plugin!r} ({_dist})")
                    table[spec.name] = Entry(spec, _plugin, _dist, _version)

                try:
                    call_hookimpl(hook, impl, {**self.hook_arguments, "register": register})
                except PluginError:
                    raise
                except Exception as exc:
                    self.load_errors.append(f"plugin {impl.plugin_name!r}: {hook_name} failed: {describe(exc)}")


def call_hookimpl(hook: Any, impl: Any, arguments: dict[str, Any]) -> Any:
    """Call one hook implementation with keyword arguments named by the hook's own spec.

    ``arguments`` holds a value for every argument of the hookspec; the implementation receives the
    ones it declares (pluggy: an implementation may declare fewer arguments than its spec, so specs
    can gain parameters without breaking plugins). Arguments with a default that the spec does not
    have are left to their default.

    Raises:
        PluginError: the spec has an argument no value was given for (a core bug), or the
            implementation declares a required argument the spec does not have.
    """
    spec_names = tuple(hook.spec.argnames) if hook.spec is not None else tuple(arguments)
    missing = [name for name in spec_names if name not in arguments]
    if missing:
        raise PluginError(f"hook {hook.name} called without its argument(s) {', '.join(missing)}")
    unknown = [name for name in impl.argnames if name not in spec_names]
    if unknown:
        raise PluginError(f"plugin {impl.plugin_name!r}: {hook.name} declares argument(s) {', '.join(unknown)} "
                          f"that the hookspec does not have ({', '.join(spec_names)})")
    return impl.function(**{name: arguments[name] for name in impl.argnames})


def _allowed() -> set[str] | None:
    raw = os.environ.get(ENV_VAR)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=GROUP)


def build_registry() -> Registry:
    """Discover plugins through entry points (filtered by ``ECHOBENCH_PLUGINS``) and collect specs.

    Raises:
        PluginError: two plugins registered the same name, or a plugin has a misspelled hook.
    """
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    registry = Registry(pm=pm)
    allowed = _allowed()
    seen: set[str] = set()
    for ep in sorted(_entry_points(), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else "-"
        version = ep.dist.version if ep.dist is not None else "-"
        if allowed is not None and ep.name not in allowed and dist not in allowed:
            continue
        if ep.name in seen:
            registry.load_errors.append(f"plugin {ep.name!r} ({dist}) skipped: another distribution "
                                        f"already provides an entry point named {ep.name!r}")
            continue
        try:
            module = ep.load()
        except Exception as exc:
            registry.load_errors.append(f"plugin {ep.name!r} ({dist} {version}) failed to import: "
                                        f"{describe(exc)}")
            continue
        try:
            pm.register(module, name=ep.name)
        except Exception as exc:
            registry.load_errors.append(f"plugin {ep.name!r} ({dist}) could not be registered: {exc}")
            continue
        seen.add(ep.name)
        registry.sources[ep.name] = (dist, version)
    if allowed:
        known = {ep.name for ep in _entry_points()} | {ep.dist.name for ep in _entry_points() if ep.dist is not None}
        for name in sorted(allowed - known):
            registry.load_errors.append(f"{ENV_VAR} names {name!r}, which matches no installed plugin or distribution")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"a plugin implements an unknown hook: {exc}") from exc
    registry._collect()
    return registry


_REGISTRY: Registry | None = None


def get_registry(*, reload: bool = False) -> Registry:
    """Return the process-wide registry, building it on first use (or again with ``reload``)."""
    global _REGISTRY
    if _REGISTRY is None or reload:
        _REGISTRY = build_registry()
    return _REGISTRY
