"""Every third-party module echobench and its first-party plugins import is a declared dependency:
`pip install echobench` (README's set-up) runs every command, not only a test install. The extras
(`slurm`, `bench`) cover only lazy imports (inside the function that needs them) or imports inside
a ``try`` that handles ImportError. Regression: the
calibration and agreement scores imported scikit-learn, declared only for the tests, so `echobench run`
failed at scoring after training on a plain install."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(top-level module, imported lazily (in a function) or inside a try that handles ImportError, line)
    of every absolute import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                h.type is None or "ImportError" in ast.unparse(h.type) or "Exception" in ast.unparse(h.type)
                for h in node.handlers):
            guarded.update(id(n) for stmt in node.body for n in ast.walk(stmt))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):  # lazy: only the command that needs it
            guarded.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], id(node) in guarded, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], id(node) in guarded, node.lineno))
    return found


def _closure(names: set[str]) -> set[str]:
    from importlib.metadata import PackageNotFoundError, requires

    todo, seen = list(names), set(names)
    while todo:
        try:
            needs = requires(todo.pop()) or []
        except PackageNotFoundError:
            continue
        for r in needs:
            if "extra ==" not in r and (n := _name(r)) not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def test_every_imported_distribution_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = _closure({_name(r) for r in project["dependencies"]})  # and what they require (click, typer's)
    optional = {_name(r) for extra in ("slurm", "bench") for r in project["optional-dependencies"][extra]}
    owners = packages_distributions()
    first_party = {"echobench"} | {p.name for p in (ROOT / "plugins").iterdir() if p.is_dir()}
    problems = []
    for path in sorted([*(ROOT / "echobench").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]):
        for module, guarded, line in _imports(path):
            if module in sys.stdlib_module_names or module in first_party or module == "__future__":
                continue
            dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if dists & required:
                continue
            if dists & optional or not dists:  # an extra's, or not installed here: lazy or guarded only
                if not guarded:
                    problems.append(f"{where} ({', '.join(sorted(dists)) or 'not installed'}) at import time")
                continue
            problems.append(f"{where} ({', '.join(sorted(dists))}) is not a dependency")
    assert not problems, "\n".join(problems)
