"""Shared fixtures: small synthetic EchoNet-format datasets (session-scoped, built once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

try:  # hypothesis (test extra) drives only tests/fuzz/
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover
    _hypothesis_settings = None
if _hypothesis_settings is not None:
    # README's test command runs the "ci" profile: every fuzz test at most FUZZ_CI examples (plus its
    # explicit @example regressions, which always run). HYPOTHESIS_PROFILE=deep runs each fuzz test's
    # own full count (tests/fuzz/__init__.py: fuzz_settings).
    _hypothesis_settings.register_profile("ci", max_examples=20)
    _hypothesis_settings.register_profile("deep", max_examples=100_000)
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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


@pytest.fixture(scope="module")
def clips_112():
    """Run the ``echovisionfm`` protocol at 112 px (the synthetic videos' native size) instead of 224
    for one test module: 4x fewer tokens per clip, same code path. For tests of a run's plumbing
    (records, sweeps, resume, tasks), not of the 224-px resize, which tests/data/test_clips.py and the
    backbone tests check. The protocol's name and version are unchanged, so records read the same.
    Use as ``pytestmark = pytest.mark.usefixtures("clips_112")``."""
    from dataclasses import replace

    from echobench.protocols import PROTOCOLS

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PROTOCOLS, "echovisionfm", replace(PROTOCOLS["echovisionfm"], size=112))
        yield
