"""Shared fixtures: small synthetic EchoNet-format datasets (session-scoped, built once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory) -> Path:
    """36 synthetic videos (seed 0): enough for every split to be non-empty."""
    from echobench.data.synth import synthesize

    root = tmp_path_factory.mktemp("synth_small") / "data"
    synthesize(root, videos=36, seed=0)
    return root



@pytest.fixture(scope="session")
def synth_tiny(tmp_path_factory) -> Path:
    """12 synthetic videos (seed 3): TRAIN 8, VAL 2, TEST 2 — for sweeps of many runs."""
    from echobench.data.synth import synthesize

    root = tmp_path_factory.mktemp("synth_tiny") / "data"
    synthesize(root, videos=12, seed=3)
    return root


EXAMPLE_PLUGIN = Path(__file__).resolve().parent / "fixtures" / "echobench-example-plugin"


@pytest.fixture
def example_plugin(monkeypatch):
    """The example third-party package's entry module (backbone ``example-c3d``, dataset
    ``example-clips``), registered in-process as its entry point would be, and removed afterwards."""
    import sys

    from echobench.registry import get_registry

    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    import echobench_example

    registry = get_registry()
    registry.register_plugin(echobench_example, "example-test", distribution="echobench-example-plugin",
                             version="0.3.1")
    yield echobench_example
    registry.unregister_plugin("example-test")
    for name in [m for m in sys.modules if m.startswith("echobench_example")]:
        del sys.modules[name]
