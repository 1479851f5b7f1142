"""The plugin system (DESIGN §2): discovery through entry points, provenance, duplicates,
did-you-mean, the allowlist variable, and broken plugins."""

from __future__ import annotations

import sys

import pytest

from echobench import hookimpl
from echobench.errors import PluginError, UnknownNameError
from echobench.registry import ENV_VAR, build_registry
from echobench import BackboneSpec, HeadSpec
from tests.helpers import write_dist


def test_first_party_plugins_come_through_entry_points():
    registry = build_registry()
    entry = registry.entry("backbone", "echo-videomae")
    assert entry.distribution == "echobench" and entry.plugin == "videomae"
    assert {"echo-videomae", "videomae"} <= set(registry.names("backbone"))
    assert "maxpool" in registry.names("head")
    assert "ef" in registry.names("task")


def test_unknown_name_suggests_close_matches():
    registry = build_registry()
    with pytest.raises(UnknownNameError, match="did you mean 'echo-videomae'"):
        registry.get("backbone", "echo-videomea")
    with pytest.raises(UnknownNameError, match="known: .*maxpool"):
        registry.get("head", "zzzzzz")


def test_duplicate_name_is_an_error_naming_both_plugins():
    registry = build_registry()

    class Clash:
        @hookimpl
        def register_heads(self, register):
            register(HeadSpec(name="maxpool", summary="imposter", factory="x:y"))

    with pytest.raises(PluginError, match=r"'maxpool' is registered twice: by plugin 'heads'.*'clash'"):
        registry.register_plugin(Clash(), "clash")


def test_wrong_spec_type_is_rejected():
    registry = build_registry()

    class Wrong:
        @hookimpl
        def register_heads(self, register):
            register(BackboneSpec(name="nope", summary="", factory="x:y"))

    with pytest.raises(PluginError, match="expected HeadSpec"):
        registry.register_plugin(Wrong(), "wrong")


def test_register_and_unregister_an_in_process_plugin():
    registry = build_registry()

    class Extra:
        @hookimpl
        def register_heads(self, register):  # accepts only the arguments it needs
            register(HeadSpec(name="extra-head", summary="s", factory="x:y"))

    registry.register_plugin(Extra(), "extra")
    assert registry.entry("head", "extra-head").plugin == "extra"
    registry.unregister_plugin("extra")
    assert "extra-head" not in registry.names("head")


def test_env_var_restricts_plugins(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "heads")
    registry = build_registry()
    assert registry.names("head") and not registry.names("backbone") and not registry.names("task")
    monkeypatch.setenv(ENV_VAR, "")
    assert not build_registry().names("head")
    monkeypatch.setenv(ENV_VAR, "echobench")  # a distribution name selects all its plugins
    assert build_registry().names("backbone")


def test_broken_plugin_is_reported_and_others_load(tmp_path, monkeypatch):
    site = write_dist(tmp_path / "site", "echobench-broken", "0.0.1", {"broken": "echobench_broken_mod"},
                      {"echobench_broken_mod": "raise ImportError('missing dependency frobnicate')\n"})
    monkeypatch.syspath_prepend(str(site))
    registry = build_registry()
    assert any("'broken'" in e and "frobnicate" in e and "echobench-broken" in e for e in registry.load_errors)
    assert "echo-videomae" in registry.names("backbone")


def test_misspelled_hook_is_a_startup_error(tmp_path, monkeypatch):
    source = "from echobench import hookimpl\n@hookimpl\ndef register_backbone(register):\n    pass\n"
    site = write_dist(tmp_path / "site", "echobench-typo", "0.0.1", {"typo": "echobench_typo_mod"},
                      {"echobench_typo_mod": source})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError, match="unknown hook"):
        build_registry()


def test_specs_resolve_lazily():
    registry = build_registry()
    spec = registry.get("head", "maxpool")
    assert spec.factory == "echobench_heads.pooling:MaxPoolHead"
    with pytest.raises(PluginError, match="cannot import"):
        BackboneSpec(name="b", summary="", factory="no_such_module_xyz:build").load()
    assert sys.modules.get("no_such_module_xyz") is None


def test_allowlist_typo_is_reported(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "heads,nosuch")
    registry = build_registry()
    assert registry.names("head")
    assert any("'nosuch'" in e and "matches no installed plugin" in e for e in registry.load_errors)


def test_hooks_are_called_by_the_hookspecs_argument_names():
    """A grown hookspec (here with a second argument) still calls an implementation that declares
    fewer arguments, one that declares them in another order, and one with a new optional argument."""
    import pluggy

    from echobench.registry import GROUP, Registry

    class GrownSpecs:
        @pluggy.HookspecMarker(GROUP)
        def register_heads(self, register, contract_version):
            """The contract as it might look one release later."""

    seen: dict[str, object] = {}

    class Fewer:
        @hookimpl
        def register_heads(self, register):
            register(HeadSpec(name="fewer", summary="s", factory="x:y"))

    class OnlyTheNewOne:
        @hookimpl
        def register_heads(self, contract_version):
            seen["only"] = contract_version

    class Swapped:
        @hookimpl
        def register_heads(self, contract_version, register):
            seen["swapped"] = contract_version
            register(HeadSpec(name="swapped", summary="s", factory="x:y"))

    class Optional:
        @hookimpl
        def register_heads(self, register, not_yet_in_the_spec=None):
            seen["optional"] = not_yet_in_the_spec
            register(HeadSpec(name="optional", summary="s", factory="x:y"))

    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(GrownSpecs)
    registry = Registry(pm=pm, hook_arguments={"contract_version": "2"})
    for name, plugin in (("fewer", Fewer()), ("only", OnlyTheNewOne()), ("swapped", Swapped()),
                         ("optional", Optional())):
        registry.register_plugin(plugin, name)
    assert registry.names("head") == ["fewer", "optional", "swapped"]
    assert seen == {"only": "2", "swapped": "2", "optional": None}
    assert not registry.load_errors
