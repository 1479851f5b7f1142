"""Tests for the VideoMAE encoder plugin (plugins/echobench_videomae)."""

from __future__ import annotations

import re

import math
import subprocess
import sys

import pytest
import torch

from echobench.errors import ConfigError, WeightsError
from echobench import BackboneSpec, Features
from echobench_videomae import register_backbones
from echobench_videomae.convert import convert_hf_videomae_state_dict, convert_mcg_nju_state_dict
from echobench_videomae.encoder import build_echo_videomae, build_videomae, sinusoid_position_table


def _clip(b: int = 2, t: int = 16, s: int = 112, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, t, s, s, generator=torch.Generator().manual_seed(seed))


def test_entry_module_registers_both_without_torch() -> None:
    specs: list[BackboneSpec] = []
    register_backbones(register=specs.append)
    assert {s.name for s in specs} == {"echo-videomae", "videomae"}
    assert all(s.presets == ("tiny", "small", "base", "large") and s.citation and s.licence for s in specs)
    assert {s.load() for s in specs} == {build_echo_videomae, build_videomae}
    code = "import sys, echobench_videomae; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("size", "grid"), [(112, (8, 7, 7)), (224, (8, 14, 14))])
def test_shapes(size: int, grid: tuple[int, int, int]) -> None:
    model = build_echo_videomae(preset="tiny").eval()
    assert model.embed_dim == 64
    with torch.no_grad():
        feats = model(_clip(b=2, s=size))
    assert isinstance(feats, Features)
    assert feats.grid == grid
    assert feats.tokens.shape == (2, math.prod(grid), 64)
    assert feats.frame_indices.dtype == torch.long
    assert torch.equal(feats.frame_indices, torch.arange(16).expand(2, -1))


def test_frame_indices_passed_through_and_checked() -> None:
    model = build_echo_videomae().eval()
    idx = torch.linspace(0, 99, 16).long().expand(1, -1)
    assert torch.equal(model(_clip(b=1), idx).frame_indices, idx)
    with pytest.raises(ValueError, match="frame_indices"):
        model(_clip(b=1), idx[:, :8])
    with pytest.raises(ValueError, match="divisible"):
        model(_clip(b=1, t=15))


def test_final_norm_only_in_vanilla() -> None:
    assert not any(k.startswith("norm.") for k in build_echo_videomae().state_dict())
    assert {"norm.weight", "norm.bias"} <= set(build_videomae().state_dict())


def test_deterministic_with_seed() -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = build_videomae(preset="tiny").eval()
        with torch.no_grad():
            outs.append(model(_clip(b=1)).tokens)
    assert torch.equal(outs[0], outs[1])


def test_finite_gradients_with_drop_path_and_layer_scale() -> None:
    torch.manual_seed(0)
    model = build_echo_videomae(preset="tiny", drop_path_rate=0.1, init_values=0.1).train()
    model(_clip(b=2)).tokens.pow(2).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), grads.keys()
    assert grads["blocks.0.attn.q_bias"].abs().sum() > 0


def test_position_table_matches_formula() -> None:
    # worked by hand for dim 4: [sin p, cos p, sin(p/100), cos(p/100)] since 10000**(2/4) = 100
    expected = torch.tensor(
        [[math.sin(p), math.cos(p), math.sin(p / 100), math.cos(p / 100)] for p in range(3)]
    )
    table = sinusoid_position_table(3, 4)
    assert table.shape == (3, 4) and table.dtype == torch.float32
    torch.testing.assert_close(table, expected, rtol=0, atol=1e-7)
    assert not any(n.startswith("pos") for n, _ in build_videomae().named_parameters())


def test_position_table_matches_hf() -> None:
    pytest.importorskip("transformers")
    from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table

    torch.testing.assert_close(sinusoid_position_table(392, 64), get_sinusoid_encoding_table(392, 64)[0])


def test_unknown_preset_and_option() -> None:
    with pytest.raises(ConfigError, match="did you mean 'tiny'"):
        build_videomae(preset="tinny")
    with pytest.raises(ConfigError, match="bogus"):
        build_videomae(bogus=1)


def test_hf_equivalence() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.VideoMAEConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256, image_size=112,
        num_frames=16, tubelet_size=2, patch_size=16, qkv_bias=True, use_mean_pooling=False,
        layer_norm_eps=1e-6, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    hf = transformers.VideoMAEModel(config).eval()
    with torch.no_grad():  # random non-trivial values everywhere, incl. q/v biases and LayerNorm affine
        for name, p in hf.named_parameters():
            p.copy_(torch.randn_like(p) * (0.1 if p.ndim > 1 else 0.5) + (1.0 if "layernorm" in name and
                                                                          name.endswith("weight") else 0.0))
    ours = build_videomae(preset="tiny", input_mean=None).eval()  # HF takes normalised pixels
    ours.load_state_dict(convert_hf_videomae_state_dict(hf.state_dict()), strict=True)
    clip = _clip(b=2)
    with torch.no_grad():
        expected = hf(pixel_values=clip.permute(0, 2, 1, 3, 4)).last_hidden_state
        got = ours(clip).tokens
    assert got.shape == expected.shape == (2, 392, 64)
    assert (got - expected).abs().max().item() <= 1e-4


@pytest.mark.parametrize("layout", ["hf", "hf-prefixed", "mcg-nju-pretrain"])
def test_weights_file_in_published_layouts_loads_by_key_mapping(layout, tmp_path) -> None:
    """`--weights` takes HF (EchoVisionFM release) and MCG-NJU files as they are published."""
    torch.manual_seed(5)
    source = build_videomae(preset="tiny").eval()
    ours = source.state_dict()
    if layout == "mcg-nju-pretrain":
        saved = {"model": {**{f"encoder.{k}": v for k, v in ours.items()},
                           "decoder.head.weight": torch.zeros(3), "mask_token": torch.zeros(1, 1, 64)}}
    else:
        hf = {}
        for k, v in ours.items():  # build the HF layout by hand: split qkv, rename
            hf_key = (k.replace("patch_embed.proj", "embeddings.patch_embeddings.projection")
                      .replace("norm1", "layernorm_before").replace("norm2", "layernorm_after")
                      .replace("attn.proj", "attention.output.dense").replace("mlp.fc1", "intermediate.dense")
                      .replace("mlp.fc2", "output.dense"))
            hf_key = re.sub(r"^blocks\.(\d+)\.", r"encoder.layer.\1.", hf_key)
            hf_key = "layernorm." + k.split(".")[-1] if k.startswith("norm.") else hf_key
            if k.endswith("attn.qkv.weight"):
                q, kk, vv = v.chunk(3)
                base = hf_key.replace("attn.qkv.weight", "attention.attention.")
                hf.update({base + "query.weight": q, base + "key.weight": kk, base + "value.weight": vv})
            elif k.endswith("attn.q_bias") or k.endswith("attn.v_bias"):
                name = "query" if k.endswith("q_bias") else "value"
                hf[hf_key.replace(k.split(".", 2)[-1], f"attention.attention.{name}.bias")] = v
            else:
                hf[hf_key] = v
        saved = {f"videomae.{k}": v for k, v in hf.items()} if layout == "hf-prefixed" else hf
    path = tmp_path / "w.pt"
    torch.save(saved, path)
    torch.manual_seed(99)  # a different random init, overwritten by the file
    loaded = build_videomae(preset="tiny", weights=path).eval()
    for k, v in ours.items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_hf_prefixed_checkpoint_drops_decoder() -> None:
    sd = {"videomae.layernorm.weight": torch.ones(4), "decoder.head.weight": torch.ones(1),
          "encoder_to_decoder.weight": torch.ones(1), "mask_token": torch.ones(1)}
    assert set(convert_hf_videomae_state_dict(sd)) == {"norm.weight"}


def test_mcg_nju_round_trip() -> None:
    ours = build_videomae(preset="tiny", init_values=0.1).state_dict()
    ckpt = {
        "model": {
            **{f"encoder.{k}": v for k, v in ours.items()},
            "decoder.blocks.0.norm1.weight": torch.ones(3),
            "decoder.norm.weight": torch.ones(3),
            "encoder_to_decoder.weight": torch.ones(3, 3),
            "mask_token": torch.zeros(1, 1, 3),
        },
        "epoch": 799,
    }
    converted = convert_mcg_nju_state_dict(ckpt)
    assert converted.keys() == ours.keys()
    assert all(torch.equal(converted[k], ours[k]) for k in ours)
    ddp = convert_mcg_nju_state_dict({f"module.{k}": v for k, v in ours.items()})
    assert ddp.keys() == ours.keys()


def test_weights_file_loading(tmp_path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(1)
    src = build_echo_videomae()
    sd = {k: v.contiguous() for k, v in src.state_dict().items()}
    save_file(sd, str(tmp_path / "w.safetensors"))
    torch.save(sd, tmp_path / "w.pt")
    clip = _clip(b=1)
    with torch.no_grad():
        expected = src.eval()(clip).tokens
        for name in ("w.safetensors", "w.pt"):
            torch.manual_seed(2)
            got = build_echo_videomae(weights=tmp_path / name).eval()(clip).tokens
            assert torch.equal(got, expected)
    # our own vanilla model has one extra key set (final norm): loads, reports it missing
    vanilla = build_videomae(weights=tmp_path / "w.pt")
    assert vanilla.norm.weight.shape == (64,)


def test_weights_errors(tmp_path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        build_echo_videomae(weights=tmp_path / "nope.pt")
    torch.save({"foo.weight": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="no key matches") as info:
        build_echo_videomae(weights=tmp_path / "other.pt")
    assert "other.pt" in str(info.value) and "\n" not in str(info.value)
    torch.save({"norm.weight": torch.ones(5)}, tmp_path / "bad_shape.pt")
    with pytest.raises(WeightsError, match="bad_shape.pt"):
        build_videomae(weights=tmp_path / "bad_shape.pt")


def test_forward_works_after_flop_counting_on_the_meta_device() -> None:
    """Issue 15: the cached position table was built on whatever default device was active first, so
    after `bench` counted FLOPs under ``torch.device("meta")`` every later forward failed with
    "Cannot copy out of meta tensor". Sizes unused elsewhere, so the cache is cold here."""
    from echobench.bench.flops import model_cost
    from echobench.registry import get_registry

    cost = model_cost(get_registry(), backbone="echo-videomae", head="stff", preset="tiny", clip_shape=(6, 48, 48))
    assert cost.forward_flops > 0
    with torch.device("meta"):
        assert sinusoid_position_table(3 * 3 * 3, 64).device.type == "cpu"
    model = build_echo_videomae(preset="tiny").eval()
    with torch.no_grad():
        tokens = model(torch.rand(1, 3, 6, 48, 48)).tokens
    assert tokens.shape == (1, 27, 64) and torch.isfinite(tokens).all()


def test_token_grid_options_reach_the_encoder_from_the_cli_schema() -> None:
    """``--backbone-option patch_size=32 tubelet_size=4`` is declared, parsed and builds a coarser token
    grid ``(T/4, H/32, W/32)``; the defaults keep VideoMAE's 2x16x16 tubelets."""
    from echobench.engine.model import build_model, parse_model_options
    from echobench.registry import get_registry

    registry = get_registry()
    options, _ = parse_model_options(registry, backbone="echo-videomae", head="meanpool",
                                     backbone_pairs=["patch_size=32", "tubelet_size=4"], head_pairs=[])
    assert options == {"patch_size": 32, "tubelet_size": 4}
    model = build_model(registry, backbone="echo-videomae", head="meanpool", preset="tiny",
                        backbone_options=options, clip_shape=(8, 64, 64)).eval()
    with torch.no_grad():
        feats = model.backbone(_clip(b=1, t=8, s=64), torch.arange(8).unsqueeze(0))
    assert tuple(feats.grid) == (2, 2, 2) and feats.tokens.shape == (1, 8, 64)
    assert tuple(build_echo_videomae(preset="tiny")(_clip(b=1, t=8, s=64)).grid) == (4, 4, 4)
