"""Tests for the Video ResNet backbone plugin (plugins/echobench_videoresnet)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchvision.models.video import mc3_18, r2plus1d_18, r3d_18

from echobench.errors import ConfigError, WeightsError
from echobench import BackboneSpec, Features
from echobench_videoresnet import register_backbones
from echobench_videoresnet.model import build_video_resnet, load_weights

VARIANTS = ("r3d_18", "r2plus1d_18", "mc3_18")
# torchvision's downsampling on 16x112x112: stem 1x2x2, layer2-4 2x2x2 (MC3: 1x2x2, no temporal stride).
GRIDS = {"r3d_18": (2, 7, 7), "r2plus1d_18": (2, 7, 7), "mc3_18": (16, 7, 7)}


def _clip(b: int = 2, t: int = 16, s: int = 112, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, t, s, s, generator=torch.Generator().manual_seed(seed))


def test_entry_module_registers_without_torch() -> None:
    specs: list[BackboneSpec] = []
    register_backbones(register=specs.append)
    (spec,) = specs
    assert spec.name == "video-resnet" and spec.presets == ("tiny", "18")
    assert spec.defaults == {"variant": "r3d_18"} and spec.citation and spec.licence
    assert spec.load() is build_video_resnet
    code = "import sys, echobench_videoresnet; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_and_t_major_tokens(variant: str) -> None:
    model = build_video_resnet(preset="tiny", variant=variant).eval()
    assert model.embed_dim == 512
    clip = _clip()
    with torch.no_grad():
        feats = model(clip)
        fmap = model.feature_map(clip)
    t, h, w = GRIDS[variant]
    assert isinstance(feats, Features) and feats.grid == (t, h, w)
    assert fmap.shape == (2, 512, t, h, w)
    assert feats.tokens.shape == (2, t * h * w, 512) and feats.dim == 512
    torch.testing.assert_close(feats.tokens, fmap.flatten(2).transpose(1, 2), rtol=0, atol=0)
    assert torch.equal(feats.tokens[:, (1 * h + 2) * w + 3], fmap[:, :, 1, 2, 3])  # t-major index
    assert torch.equal(feats.frame_indices, torch.arange(16).expand(2, -1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_keys_match_torchvision(variant: str) -> None:
    builders = {"r3d_18": r3d_18, "r2plus1d_18": r2plus1d_18, "mc3_18": mc3_18}
    ref = builders[variant](weights=None).state_dict()
    ours = build_video_resnet(preset="18", variant=variant).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in ref.items() if not k.startswith("fc.")}


def test_gradients_finite_and_frame_indices_passed_through() -> None:
    model = build_video_resnet(preset="tiny", variant="r2plus1d_18").train()
    idx = torch.tensor([[0, 2, 4, 6, 8, 10, 12, 14], [1, 3, 5, 7, 9, 11, 13, 15]])
    feats = model(_clip(t=8, s=64), frame_indices=idx)
    assert torch.equal(feats.frame_indices, idx)
    feats.tokens.mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    with pytest.raises(ValueError, match="frame_indices"):
        model(_clip(t=8, s=64), frame_indices=idx[:, :4])
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.zeros(1, 3, 8, 64))


def test_deterministic_with_fixed_seed() -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_video_resnet(preset="tiny", variant="mc3_18").eval()
        with torch.no_grad():
            outs.append(model(_clip(b=1, t=8, s=64)).tokens)
    assert torch.equal(outs[0], outs[1])


def test_unknown_names_suggest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'r2plus1d_18'"):
        build_video_resnet(preset="tiny", variant="r2plus1d18")
    with pytest.raises(ConfigError, match="did you mean 'tiny'"):
        build_video_resnet(preset="tiy")


def test_loads_echonet_dynamic_checkpoint(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(1)
    src = r2plus1d_18(weights=None, num_classes=1).eval()  # EchoNet-Dynamic: fc (1, 512)
    for m in src.modules():  # non-trivial BN statistics, so a missed buffer would show
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = {"module." + k: v for k, v in src.state_dict().items()}
    assert state["module.fc.weight"].shape == (1, 512) and state["module.fc.bias"].shape == (1,)
    path = tmp_path / "best.pt"
    torch.save({"state_dict": state, "epoch": 3}, path)

    with caplog.at_level(logging.INFO, logger="echobench_videoresnet.model"):
        model = build_video_resnet(preset="18", variant="r2plus1d_18", weights=path).eval()
    assert "fc.weight" in caplog.text and "task head" in caplog.text
    assert load_weights(model, path).dropped_head == ["fc.bias", "fc.weight"]

    clip = _clip(b=1, t=8)
    with torch.no_grad():
        ef = src(clip)
        x = src.stem(clip)
        for layer in (src.layer1, src.layer2, src.layer3, src.layer4):
            x = layer(x)
        feats = model(clip)
    assert feats.grid == (1, 7, 7)
    torch.testing.assert_close(feats.tokens, x.flatten(2).transpose(1, 2))
    # the pooled features reproduce the source model's EF output through its head
    torch.testing.assert_close(src.fc(feats.tokens.mean(1)), ef)


def test_weights_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(WeightsError, match="nope.pt") as info:
        build_video_resnet(preset="tiny", weights=missing)
    assert "\n" not in str(info.value)

    unrelated = tmp_path / "unrelated.pt"
    torch.save({"state_dict": {"module.encoder.weight": torch.zeros(3, 3)}}, unrelated)
    with pytest.raises(WeightsError, match="unrelated.pt.*no key matches"):
        build_video_resnet(preset="tiny", weights=unrelated)

    # right keys, wrong architecture: an r3d tiny file into an r2plus1d tiny model (shape mismatch)
    other = tmp_path / "r3d_tiny.pt"
    torch.save(build_video_resnet(preset="tiny", variant="r3d_18").state_dict(), other)
    with pytest.raises(WeightsError, match="r3d_tiny.pt.*shape mismatch") as info:
        build_video_resnet(preset="tiny", variant="r2plus1d_18", weights=other)
    assert "\n" not in str(info.value)
    # a tiny file is missing layerN.1.* of the 18 preset
    with pytest.raises(WeightsError, match="r3d_tiny.pt.*missing keys"):
        build_video_resnet(preset="18", variant="r3d_18", weights=other)
