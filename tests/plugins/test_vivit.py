"""Tests for the ViViT backbone plugin (plugins/echobench_vivit)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from echobench.errors import ConfigError, WeightsError
from echobench import BackboneSpec, Features
from echobench_vivit import register_backbones
from echobench_vivit.convert import convert_hf_vivit_state_dict, is_hf_vivit_state_dict
from echobench_vivit.model import HF_PROCESSOR_MEAN, HF_PROCESSOR_STD, build_vivit


def _clip(b: int = 2, t: int = 16, s: int = 112, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, t, s, s, generator=torch.Generator().manual_seed(seed))


def _tiny(**kw):
    return build_vivit(preset="tiny", image_size=112, **kw)


def test_entry_module_registers_without_torch() -> None:
    specs: list[BackboneSpec] = []
    register_backbones(register=specs.append)
    assert [s.name for s in specs] == ["vivit"]
    assert specs[0].presets == ("tiny", "base") and specs[0].citation and specs[0].licence
    assert specs[0].load() is build_vivit
    code = "import sys, echobench_vivit; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("t", "size", "grid"), [(16, 112, (8, 7, 7)), (8, 224, (4, 14, 14))])
def test_shapes(t: int, size: int, grid: tuple[int, int, int]) -> None:
    model = build_vivit(preset="tiny", num_frames=t, image_size=size).eval()
    assert model.embed_dim == 64
    assert model.pos_embed.shape == (1, 1 + grid[0] * grid[1] * grid[2], 64)
    with torch.no_grad():
        feats = model(_clip(b=2, t=t, s=size))
        full = model.forward_with_cls(_clip(b=2, t=t, s=size))
    assert isinstance(feats, Features)
    assert feats.grid == grid
    assert feats.tokens.shape == (2, grid[0] * grid[1] * grid[2], 64)
    assert torch.equal(full[:, 1:], feats.tokens)  # tokens = last hidden states without CLS
    assert torch.equal(feats.frame_indices, torch.arange(t).expand(2, -1))


def test_presets() -> None:
    from echobench_vivit.model import PRESETS  # base is HF's default VivitConfig; too slow to build here

    assert PRESETS["base"] == {"embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_dim": 3072,
                               "num_frames": 32, "image_size": 224}
    assert build_vivit().input_size == (16, 224, 224)


def test_tokens_are_t_major() -> None:
    # zero every block's residual branches so a token is its tubelet embedding + position (then final norm)
    model = _tiny(input_mean=None).eval()
    with torch.no_grad():
        for block in model.blocks:
            block.attn.proj.weight.zero_(); block.attn.proj.bias.zero_()  # noqa: E702
            block.mlp.fc2.weight.zero_(); block.mlp.fc2.bias.zero_()  # noqa: E702
        model.pos_embed.zero_()
        clip = torch.zeros(1, 3, 16, 112, 112)
        clip[:, :, 2:4, 16:32, 48:64] = 1.0  # tubelet at time step 1, row 1, column 3
        tokens = model(clip).tokens[0]
    changed = (tokens - tokens[0]).abs().sum(-1) > 1e-5
    assert changed.nonzero().flatten().tolist() == [(1 * 7 + 1) * 7 + 3]


def test_frame_indices_and_shape_errors() -> None:
    model = _tiny().eval()
    idx = torch.linspace(0, 99, 16).long().expand(1, -1)
    assert torch.equal(model(_clip(b=1), idx).frame_indices, idx)
    with pytest.raises(ValueError, match="frame_indices"):
        model(_clip(b=1), idx[:, :8])
    with pytest.raises(ValueError, match="position table"):
        model(_clip(b=1, t=8))
    with pytest.raises(ValueError, match="expected"):
        model(torch.zeros(1, 16, 112, 112))


def test_input_normalisation_matches_hf_processor() -> None:
    transformers = pytest.importorskip("transformers")
    import numpy as np

    frames = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    proc = transformers.VivitImageProcessor(do_resize=False, do_center_crop=False)
    hf = torch.as_tensor(np.asarray(proc(list(frames), return_tensors="np")["pixel_values"]))[0]  # (T, C, H, W)
    x = torch.as_tensor(frames).permute(0, 3, 1, 2).float() / 255.0
    ours = (x - torch.tensor(HF_PROCESSOR_MEAN).view(1, 3, 1, 1)) / torch.tensor(HF_PROCESSOR_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(ours, hf.float(), rtol=0, atol=1e-5)


def test_deterministic_with_seed() -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        with torch.no_grad():
            outs.append(_tiny().eval()(_clip(b=1)).tokens)
    assert torch.equal(outs[0], outs[1])


def test_finite_gradients() -> None:
    torch.manual_seed(0)
    model = _tiny(drop_rate=0.1, attn_drop_rate=0.1).train()
    model(_clip(b=2)).tokens.pow(2).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), grads.keys()
    assert grads["pos_embed"].abs().sum() > 0 and grads["cls_token"].abs().sum() > 0


def test_unknown_preset_and_option() -> None:
    with pytest.raises(ConfigError, match="did you mean 'tiny'"):
        build_vivit(preset="tinny")
    with pytest.raises(ConfigError, match="bogus"):
        build_vivit(bogus=1)
    with pytest.raises(ConfigError, match="divisible"):
        build_vivit(num_frames=15)


def _random_hf_model():
    transformers = pytest.importorskip("transformers")
    config = transformers.VivitConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=256, image_size=112, num_frames=16,
                                      tubelet_size=[2, 16, 16])
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    hf = transformers.VivitModel(config).eval()
    with torch.no_grad():  # random non-trivial values everywhere, incl. cls/positions and LayerNorm affine
        for name, p in hf.named_parameters():
            p.copy_(torch.randn_like(p) * (0.1 if p.ndim > 1 else 0.5) + (1.0 if "layernorm" in name and
                                                                          name.endswith("weight") else 0.0))
    return hf


def test_hf_equivalence() -> None:
    hf = _random_hf_model()
    ours = _tiny(input_mean=None).eval()  # HF takes normalised pixels
    converted = convert_hf_vivit_state_dict(hf.state_dict())
    assert not any(k.startswith("pooler") for k in converted)
    ours.load_state_dict(converted, strict=True)
    clip = _clip(b=2)
    with torch.no_grad():
        expected = hf(pixel_values=clip.permute(0, 2, 1, 3, 4)).last_hidden_state
        got = ours.forward_with_cls(clip)
        tokens = ours(clip).tokens
    assert got.shape == expected.shape == (2, 1 + 392, 64)
    assert (got - expected).abs().max().item() <= 1e-4
    assert (tokens - expected[:, 1:]).abs().max().item() <= 1e-4


def _legacy_keys(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers >= 5 module names -> the hub-file (transformers 4.x) names, with the ``vivit.`` prefix."""
    out = {}
    for k, v in sd.items():
        k = k.replace("layers.", "encoder.layer.").replace("attention.q_proj", "attention.attention.query")
        k = k.replace("attention.k_proj", "attention.attention.key").replace("attention.v_proj",
                                                                               "attention.attention.value")
        k = k.replace("attention.o_proj", "attention.output.dense").replace("mlp.fc1", "intermediate.dense")
        out["vivit." + k.replace("mlp.fc2", "output.dense")] = v
    out["classifier.weight"] = torch.zeros(400, 64)
    out["classifier.bias"] = torch.zeros(400)
    return out


def test_hf_hub_layout_file_loads(tmp_path) -> None:
    from safetensors.torch import save_file

    hf = _random_hf_model()
    legacy = _legacy_keys(hf.state_dict())
    assert "vivit.encoder.layer.1.attention.attention.query.weight" in legacy
    assert is_hf_vivit_state_dict(legacy) and not is_hf_vivit_state_dict(_tiny().state_dict())
    assert convert_hf_vivit_state_dict(legacy).keys() == convert_hf_vivit_state_dict(hf.state_dict()).keys()
    save_file({k: v.contiguous() for k, v in legacy.items()}, str(tmp_path / "hf.safetensors"))
    ours = _tiny(weights=tmp_path / "hf.safetensors", input_mean=None).eval()
    clip = _clip(b=1)
    with torch.no_grad():
        expected = hf(pixel_values=clip.permute(0, 2, 1, 3, 4)).last_hidden_state
        assert (ours.forward_with_cls(clip) - expected).abs().max().item() <= 1e-4


def test_weights_file_round_trip(tmp_path) -> None:
    torch.manual_seed(1)
    src = _tiny().eval()
    torch.save(src.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(2)
    got = _tiny(weights=tmp_path / "w.pt").eval()
    with torch.no_grad():
        assert torch.equal(got(_clip(b=1)).tokens, src(_clip(b=1)).tokens)


def test_weights_errors(tmp_path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        _tiny(weights=tmp_path / "nope.pt")
    torch.save({"foo.weight": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="no key matches") as info:
        _tiny(weights=tmp_path / "other.pt")
    assert "other.pt" in str(info.value) and "\n" not in str(info.value)
    torch.save({"pos_embed": torch.ones(1, 5, 64)}, tmp_path / "bad_shape.pt")  # trained for another size
    with pytest.raises(WeightsError, match="bad_shape.pt"):
        _tiny(weights=tmp_path / "bad_shape.pt")
    torch.save({"vivit.encoder.layer.0.attention.attention.query.weight": torch.ones(64, 64)}, tmp_path / "part.pt")
    with pytest.raises(WeightsError, match="lacks"):
        _tiny(weights=tmp_path / "part.pt")
