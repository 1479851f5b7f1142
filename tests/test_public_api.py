"""The public face for plugins (issue 14): every contract name comes from ``echobench`` without
importing torch, and the old import paths keep working for one release with a FutureWarning."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

import echobench
from echobench import contract


def test_every_contract_name_is_reexported_lazily_without_torch():
    code = ("import sys, echobench\n"
            "from echobench import hookimpl, BackboneSpec, HeadSpec, TaskSpec, PretrainerSpec, PeerSpec, Option, "
            "ConfigError, WeightsError, Backbone, Head, Pretrainer, PeerModels, VIT_SIZES\n"
            "import echobench_videomae, echobench_vivit, echobench_videoresnet, echobench_heads, echobench_tasks\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code], check=True)
    for name in contract.__all__:
        assert getattr(echobench, name) is getattr(contract, name), name
    assert set(contract.__all__) <= set(echobench.__all__)


@pytest.mark.parametrize(("old", "name", "new"), [
    ("echobench.hookspecs", "hookimpl", "echobench.contract.hookspecs"),
    ("echobench.specs", "BackboneSpec", "echobench.contract.specs"),
    ("echobench.models.features", "Features", "echobench.contract.features"),
    ("echobench.models.presets", "preset_options", "echobench.contract.presets"),
])
def test_old_import_paths_warn_and_still_work(old, name, new):
    sys.modules.pop(old, None)
    with pytest.warns(FutureWarning, match=f"{old} is deprecated"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_first_party_plugins_import_only_the_public_face():
    """STYLE rule 12: no plugin module imports a core internal; a deprecation shim warns as an error."""
    modules = ["echobench_videomae.encoder", "echobench_videomae.pretrain.trainer", "echobench_vivit.model",
               "echobench_videoresnet.model", "echobench_heads.stff", "echobench_heads.pooling",
               "echobench_heads.probe", "echobench_videomae.peer", "echobench_vivit.peer"]
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code], check=True)


def test_core_names_no_plugin():
    """`grep -rn "echobench_" echobench/` finds no import (STYLE rule 12)."""
    from pathlib import Path

    root = Path(echobench.__file__).parent
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if line.lstrip().startswith(("import echobench_", "from echobench_"))]
    assert not offenders, offenders


def test_structural_interfaces():
    from echobench import Backbone, Head

    class B:
        embed_dim = 8

        def __call__(self, clip, frame_indices=None):
            return None

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(B(), Backbone) and not isinstance(B(), Head)


def test_specs_only_gain_fields_at_the_end():
    """Fields are appended, so a spec written positionally against the previous release still means
    the same thing."""
    from dataclasses import fields

    from echobench import BackboneSpec, HeadSpec, PretrainerSpec, TaskSpec

    base = ["name", "summary", "factory", "defaults", "citation", "licence"]
    before = {BackboneSpec: base + ["presets"], HeadSpec: base, PretrainerSpec: base,
              TaskSpec: base + ["label", "kind", "units", "version", "threshold"]}
    for spec, names in before.items():
        assert [f.name for f in fields(spec)][:len(names)] == names, spec.__name__
