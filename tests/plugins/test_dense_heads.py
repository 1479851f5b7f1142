"""Dense heads (echobench_heads.dense) work with every registered backbone through Features alone,
and a head that does not fit the task's kind is refused in one line."""

from __future__ import annotations

import pytest
import torch

from echobench.registry import get_registry

CLIP = (8, 64, 64)  # (T, H, W): small enough for every tiny preset on the CPU


@pytest.mark.parametrize("backbone", sorted(get_registry().names("backbone")))
def test_dense_heads_give_per_frame_outputs_on_every_backbone(backbone):
    from echobench.engine.model import DenseModel, build_model

    registry = get_registry()
    spec = registry.get("backbone", backbone)
    preset = "tiny" if "tiny" in spec.presets else None
    for head, shape in (("seg-upsample", (2, *CLIP)), ("frames-upsample", (2, CLIP[0], 2))):
        torch.manual_seed(0)
        model = build_model(registry, backbone=backbone, head=head, preset=preset, clip_shape=CLIP, unit_input=True)
        assert isinstance(model, DenseModel)
        out = model(torch.rand(2, 3, *CLIP), torch.arange(CLIP[0]).repeat(2, 1))
        assert out.shape == shape and torch.isfinite(out).all()
        out.sum().backward()  # gradients reach the backbone through the head
        assert any(p.grad is not None for p in model.backbone.parameters())


def test_head_and_task_kinds_must_match():
    from echobench.dense_run import is_dense
    from echobench.errors import ConfigError

    registry = get_registry()
    seg, ef = registry.get("task", "lv-seg"), registry.get("task", "ef")
    assert is_dense(registry, seg, "seg-upsample") and not is_dense(registry, ef, "maxpool")
    with pytest.raises(ConfigError, match="head 'maxpool' gives embedding but task 'lv-seg'.*seg-upsample"):
        is_dense(registry, seg, "maxpool")
    with pytest.raises(ConfigError, match="head 'seg-upsample' gives masks but task 'ef'"):
        is_dense(registry, ef, "seg-upsample")
    with pytest.raises(ConfigError, match="frames-upsample"):
        is_dense(registry, registry.get("task", "ed-es-frames"), "seg-upsample")
