"""Static checks configured in pyproject.toml: ``ruff check echobench plugins`` (rules E, F, W at
120 columns) and ``mypy`` on the plugin contract (``echobench/contract``) are clean. Each is skipped,
with the reason, when the tool is not installed (both are in the ``test`` extra)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(module: str, *args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_ruff_is_clean() -> None:
    done = _tool("ruff", "check", "--no-cache", "echobench", "plugins")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_mypy_is_clean_on_the_contract() -> None:
    done = _tool("mypy", "echobench/contract")
    assert done.returncode == 0 and "Success" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]
