"""The tensor contract (DESIGN §3), checked for EVERY registered backbone x head at its smallest
preset on the CPU: a new plugin gets these checks for free (STYLE rule 8)."""

from __future__ import annotations

import pytest
import torch

from echobench.engine.model import build_model
from echobench.registry import build_registry

REGISTRY = build_registry()
EMBEDDING_HEADS = [h for h in REGISTRY.names("head") if REGISTRY.get("head", h).output == "embedding"]
PAIRS = [(b, h) for b in REGISTRY.names("backbone") for h in EMBEDDING_HEADS]  # dense heads: tests/plugins/test_dense_heads.py
CLIP = (2, 3, 16, 224, 224)  # the echovisionfm protocol's input


def _smallest(backbone: str) -> str | None:
    presets = REGISTRY.get("backbone", backbone).presets
    return "tiny" if "tiny" in presets else (presets[0] if presets else None)


def _model(backbone: str, head: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(REGISTRY, backbone=backbone, head=head, preset=_smallest(backbone), clip_shape=CLIP[2:])


@pytest.mark.parametrize("backbone, head", PAIRS)
def test_backbone_head_contract(backbone, head):
    model = _model(backbone, head).train()
    clip = torch.rand(CLIP, generator=torch.Generator().manual_seed(1))
    frames = torch.arange(16).expand(2, -1)
    features = model.backbone(clip, frames)
    t, h, w = features.grid
    assert features.tokens.shape == (2, t * h * w, model.backbone.embed_dim)
    assert features.frame_indices.shape == (2, 16)
    embedding = model.head(features)
    assert embedding.shape == (2, model.head.out_dim)
    out = model(clip, frames)
    assert out.shape == (2,) and torch.isfinite(out).all()
    torch.nn.init.normal_(model.adapter.weight)  # the run zero-inits it; give gradients a path
    model(clip, frames).square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize("backbone, head", PAIRS)
def test_same_seed_same_output(backbone, head):
    clip = torch.rand(CLIP, generator=torch.Generator().manual_seed(2))
    frames = torch.arange(16).expand(2, -1)
    outs = []
    for _ in range(2):
        model = _model(backbone, head, seed=7).eval()
        torch.nn.init.normal_(model.adapter.weight, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            outs.append(model(clip, frames))
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("backbone, head", [(b, "stff") for b in REGISTRY.names("backbone")]
                         + [("echo-videomae", h) for h in REGISTRY.names("head")])
def test_declared_options_reach_the_factory(backbone, head):
    """Every option a spec declares (at its documented default) is accepted by its factory, so the
    CLI's ``--backbone-option``/``--head-option`` can never offer an option the plugin rejects."""
    bspec, hspec = REGISTRY.get("backbone", backbone), REGISTRY.get("head", head)
    b_opts = {o.name: o.default for o in bspec.options if o.default is not None}
    h_opts = {o.name: o.default for o in hspec.options if o.default is not None}
    model = build_model(REGISTRY, backbone=backbone, head=head, preset=_smallest(backbone), clip_shape=(4, 32, 32),
                        backbone_options=b_opts, head_options=h_opts)
    assert model.head.out_dim > 0 if hspec.output == "embedding" else not hasattr(model, "adapter")
    assert bspec.inputs is not None and hspec.inputs is not None  # first party declares what core passes
