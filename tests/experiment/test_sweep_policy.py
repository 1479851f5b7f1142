"""The sweep as a library call (issue 14 item 4): the grid is checked before anything runs, the task
data are read and decoded once for every run, and a failed run is reported while the others go on."""

from __future__ import annotations

import pytest
from torch import nn

from echobench import HeadSpec, hookimpl
from echobench.errors import DataError, UnknownNameError
from echobench.experiment import sweep, task_data
from echobench.registry import build_registry
from echobench.runner import RunConfig


class Broken(nn.Module):
    def __init__(self, **_options) -> None:
        raise RuntimeError("this head is broken on purpose")


class Plugin:
    @hookimpl
    def register_heads(self, register):
        register(HeadSpec(name="broken-head", summary="s", factory=f"{__name__}:Broken", inputs=()))


@pytest.fixture
def registry():
    registry = build_registry()
    registry.register_plugin(Plugin(), "broken-head")
    yield registry
    registry.unregister_plugin("broken-head")


def base(data, tmp_path) -> RunConfig:
    return RunConfig(backbone="", head="", task="", data=data, epochs=1, batch_size=4, n_boot=0, gpus=0,
                     results=tmp_path / "lb", runs=tmp_path / "runs")


def test_a_failed_run_is_reported_and_the_sweep_goes_on_with_the_data_decoded_once(registry, synth_tiny, tmp_path,
                                                                                   monkeypatch):
    prepared, real = [], task_data.prepare_data
    monkeypatch.setattr(task_data, "prepare_data", lambda *a, **k: prepared.append(a) or real(*a, **k))
    configs = sweep.plan_sweep(base(synth_tiny, tmp_path), backbones=["echo-videomae"],
                               heads=["broken-head", "maxpool"], tasks=["ef"], seeds=[0], registry=registry)
    assert [(c.head, c.seed) for c in configs] == [("broken-head", 0), ("maxpool", 0)]
    seen = []
    outcome = sweep.run_sweep(configs, registry=registry, on_failure=seen.append)
    assert len(prepared) == 1
    assert [r.model for r in outcome.results] == ["echo-videomae+maxpool"]
    assert outcome.failures == seen and len(seen) == 1
    assert seen[0].startswith("echo-videomae+broken-head ef seed 0: head 'broken-head' failed to build")


def test_names_are_checked_before_anything_runs_and_unusable_data_stop_the_sweep(registry, synth_tiny, tmp_path):
    from dataclasses import replace

    with pytest.raises(UnknownNameError, match="maxpol"):
        sweep.plan_sweep(base(tmp_path, tmp_path), backbones=["echo-videomae"], heads=["maxpool", "maxpol"],
                         tasks=["ef"], seeds=[0], registry=registry)
    with pytest.raises(DataError, match="nowhere: data directory not found"):  # found when planning (labels checked)
        sweep.plan_sweep(base(tmp_path / "nowhere", tmp_path), backbones=["echo-videomae"], heads=["maxpool"],
                         tasks=["ef"], seeds=[0], registry=registry)
    configs = sweep.plan_sweep(base(synth_tiny, tmp_path), backbones=["echo-videomae"],
                               heads=["maxpool", "meanpool"], tasks=["ef"], seeds=[0], registry=registry)
    with pytest.raises(DataError):  # data gone between planning and running: the sweep stops
        sweep.run_sweep([replace(c, data=tmp_path / "nowhere") for c in configs], registry=registry)
