"""Model assembly and the frozen-backbone (probe) track."""

from __future__ import annotations

import pytest
import torch
from lightning.fabric.utilities.seed import seed_everything
from safetensors.torch import load_file

from echobench.engine.model import build_model
from echobench.errors import PluginError, UnknownNameError
from echobench.registry import build_registry
from echobench.runner import RunConfig, run_experiment

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py


def test_freeze_backbone_trains_only_the_head(synth_small, tmp_path):
    cfg = RunConfig(backbone="echo-videomae", head="meanpool", task="ef", data=synth_small, epochs=1,
                    freeze_backbone=True, gpus=0, results=tmp_path / "lb", runs=tmp_path / "runs")
    result = run_experiment(cfg)
    assert result.model == "echo-videomae+meanpool [frozen backbone]"
    trained = load_file(str(result.run_dir / "best.safetensors"))
    seed_everything(0, verbose=False)
    initial = build_model(build_registry(), backbone="echo-videomae", head="meanpool", preset="tiny").state_dict()
    backbone_keys = [k for k in initial if k.startswith("backbone.")]
    assert backbone_keys and all(torch.equal(trained[k], initial[k]) for k in backbone_keys)
    assert not torch.equal(trained["adapter.weight"], torch.zeros_like(trained["adapter.weight"]))


def test_freeze_keeps_backbone_in_eval_mode():
    model = build_model(build_registry(), backbone="echo-videomae", head="maxpool", preset="tiny")
    model.freeze_backbone()
    model.train()
    assert not model.backbone.training and model.head.training
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_contract_violations_are_named():
    registry = build_registry()
    with pytest.raises(UnknownNameError, match="no preset"):
        build_model(registry, backbone="echo-videomae", head="maxpool", preset="giant")

    class NoDim(torch.nn.Module):
        pass

    from echobench import hookimpl
    from echobench import BackboneSpec

    class Plugin:
        @hookimpl
        def register_backbones(self, register):
            register(BackboneSpec(name="nodim", summary="", factory="torch.nn:Identity"))

    registry.register_plugin(Plugin(), "nodim-plugin")
    with pytest.raises(PluginError, match="does not expose an integer `embed_dim`"):
        build_model(registry, backbone="nodim", head="maxpool")


@pytest.mark.parametrize("backbone", ["echo-videomae", "videomae", "vivit"])
def test_input_normalisation_only_for_unit_clips(backbone):
    """A standardised (echonet protocol) clip is not normalised a second time inside the backbone."""
    registry = build_registry()
    unit = build_model(registry, backbone=backbone, head="maxpool", unit_input=True)
    standardised = build_model(registry, backbone=backbone, head="maxpool", unit_input=False)
    assert unit.backbone.input_norm and not standardised.backbone.input_norm
