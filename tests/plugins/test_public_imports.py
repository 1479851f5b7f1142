"""Plugins use only public core names (STYLE rule 12): no module under ``plugins/`` nor the example
third-party package imports a private name (a leading underscore) of ``echobench``, at module level
or inside a function, and the example package imports only the public face ``echobench`` itself, as
a third party must. Found by an AST scan of the sources, so a lazy import inside a function counts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "fixtures" / "echobench-example-plugin"
SOURCES = sorted([*(REPO / "plugins").rglob("*.py"), *EXAMPLE.rglob("*.py")])


def _core(module: str | None) -> bool:
    return module is not None and (module == "echobench" or module.startswith("echobench."))


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def core_imports(source: str) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every core module or name the source imports or reaches by attribute
    (``from echobench.data.echonet import _stem`` -> ``echobench.data.echonet._stem``)."""
    tree = ast.parse(source)
    found: list[tuple[int, str]] = []
    aliases: dict[str, str] = {}  # local name -> core module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _core(node.module):
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if _core(a.name):
                    found.append((node.lineno, a.name))
                    aliases[a.asname or a.name.split(".")[0]] = a.asname and a.name or "echobench"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in aliases:
                found.append((node.lineno, ".".join([aliases[value.id], *chain])))
    return found


def private_core_names(source: str) -> list[tuple[int, str]]:
    """The core imports of ``source`` (:func:`core_imports`) that name a private module or attribute."""
    return [(line, name) for line, name in core_imports(source) if any(map(_private, name.split(".")))]


def test_the_scan_finds_every_form_of_a_private_import():
    source = ("import echobench\nimport echobench.data.echonet as en\nfrom echobench import DataError\n"
              "def read():\n    from echobench.data.echonet import MAX_FPS, _stem\n"
              "    from echobench.data._secret import thing\n    return en._pick_video, echobench.data.echonet._ed_es,"
              " echobench.__version__, en.read_echonet\n")
    assert private_core_names(source) == [
        (5, "echobench.data.echonet._stem"), (6, "echobench.data._secret.thing"),
        (7, "echobench.data.echonet._pick_video"), (7, "echobench.data.echonet._ed_es")]
    assert not private_core_names("from echobench_videomae.convert import _unwrap\nimport echobench_x._y\n")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_plugin_imports_a_private_core_name(path):
    offenders = private_core_names(path.read_text())
    assert not offenders, [f"{path.relative_to(REPO)}:{line}: {name}" for line, name in offenders]


def test_the_example_third_party_package_imports_only_the_public_face():
    assert any(p.parent.name == "echobench_example" for p in SOURCES)
    offenders = [f"{p.relative_to(REPO)}:{line}: {name}" for p in EXAMPLE.rglob("*.py")
                 for line, name in core_imports(p.read_text()) if "echobench" not in (name, name.rpartition(".")[0])]
    assert not offenders, offenders


SHARED_SIMULATOR = "echobench.data.synth"
"""The one core module first-party plugins may reach past the public face: the seeded beating-heart
simulator their synthetic generators (``synthesize_camus``, ``synthesize_lvh``, ``synthesize_pediatric``)
draw with, so that every synthetic layout has the same physically consistent labels."""


def test_first_party_plugins_reach_past_the_public_face_only_for_the_shared_simulator():
    offenders = [f"{p.relative_to(REPO)}:{line}: {name}" for p in sorted((REPO / "plugins").rglob("*.py"))
                 for line, name in core_imports(p.read_text())
                 if "echobench" not in (name, name.rpartition(".")[0])
                 and name.rpartition(".")[0] != SHARED_SIMULATOR]
    assert not offenders, offenders
