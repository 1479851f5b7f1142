"""The VideoMAE pre-training model: loss parity with Hugging Face, targets, pictures, weight layouts."""

from __future__ import annotations

import pytest
import torch

from echobench.errors import ConfigError
from echobench_videomae.encoder import IMAGENET_MEAN, IMAGENET_STD
from echobench_videomae.pretrain.convert import convert_pretraining_state_dict
from echobench_videomae.pretrain.decoder import DECODER_PRESETS
from echobench_videomae.pretrain.mae import patch_stats, patchify, unpatchify
from echobench_videomae.pretrain.trainer import EchoVideoMAEPretrainer, build_pretrainer
from echobench_videomae.encoder import PRESETS


def _clip(b: int = 2, size: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, 3, 16, size, size, generator=torch.Generator().manual_seed(seed))


def _hf_pretraining(size: int = 32):
    transformers = pytest.importorskip("transformers")
    config = transformers.VideoMAEConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256, image_size=size,
        num_frames=16, tubelet_size=2, patch_size=16, decoder_hidden_size=32, decoder_num_hidden_layers=2,
        decoder_num_attention_heads=2, decoder_intermediate_size=128, layer_norm_eps=1e-6,
        norm_pix_loss=True, use_mean_pooling=True,  # HF default: no final encoder norm, as echo-videomae
    )
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    hf = transformers.VideoMAEForPreTraining(config).eval()
    with torch.no_grad():  # non-trivial values everywhere, incl. q/v biases, mask token, norms
        for name, p in hf.named_parameters():
            scale = 0.1 if p.ndim > 1 else 0.5
            p.copy_(torch.randn_like(p) * scale + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
    return hf


@pytest.mark.parametrize("masking", ["tube", "released"])
def test_loss_equals_hugging_face_videomae_for_pretraining(masking: str) -> None:
    hf = _hf_pretraining()
    trainer = EchoVideoMAEPretrainer(preset="tiny", size=32, masking=masking, mask_ratio=0.75)
    ours = trainer.build().eval()
    ours.load_state_dict(convert_pretraining_state_dict(hf.state_dict()), strict=True)
    clip = _clip()
    mask = trainer.masks([3, 4], batch_seed=5)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    with torch.no_grad():  # HF takes ImageNet-normalised frames (B, T, C, H, W); ours [0, 1] (B, C, T, H, W)
        expected = hf(pixel_values=((clip - mean) / std).permute(0, 2, 1, 3, 4), bool_masked_pos=mask)
        got = ours(clip, mask)
    assert got.pred.shape == expected.logits.shape
    assert abs(got.loss.item() - expected.loss.item()) <= 1e-4
    assert (got.pred - expected.logits).abs().max().item() <= 1e-4


def test_targets_are_per_patch_normalised_and_reconstruction_inverts_them() -> None:
    trainer = EchoVideoMAEPretrainer(preset="tiny", size=32)
    model = trainer.build()
    clip = _clip(b=1)
    patches = patchify(clip, 2, 16)  # (1, 32, 512, 3)
    assert patches.shape == (1, 32, 512, 3)
    torch.testing.assert_close(unpatchify(patches, (8, 2, 2), 2, 16), clip, rtol=0, atol=0)
    target = model.targets(clip).view(1, 32, 512, 3)
    torch.testing.assert_close(target.mean(dim=2), torch.zeros(1, 32, 3), rtol=0, atol=1e-5)
    torch.testing.assert_close(target.std(dim=2), torch.ones(1, 32, 3), rtol=0, atol=1e-4)
    # a perfect prediction (the true normalised target) maps back to the original pixels
    mask = trainer.masks([9], batch_seed=0)

    class Perfect(torch.nn.Module):
        def forward(self, x, return_token_num):
            return model.targets(clip)[mask].reshape(1, -1, 1536)

    model.decoder = Perfect()
    pictures = model.reconstruct(clip, mask)
    torch.testing.assert_close(pictures["reconstructed"], clip, rtol=0, atol=1e-5)
    assert set(pictures) == {"original", "masked", "reconstructed"}
    grid_mask = mask.view(8, 1, 2, 1, 2, 1).expand(8, 2, 2, 16, 2, 16).reshape(16, 32, 32)
    assert (pictures["masked"][0][:, grid_mask] == 0.5).all()  # masked patches are grey
    mean, std = patch_stats(patches)
    assert mean.shape == std.shape == (1, 32, 1, 3) and (std > 0).all()


def test_every_encoder_preset_has_a_decoder_preset_and_base_is_the_reference() -> None:
    assert set(DECODER_PRESETS) == set(PRESETS)
    assert DECODER_PRESETS["base"] == {"embed_dim": 384, "depth": 4, "num_heads": 6}  # VideoMAE ViT-B


def test_init_from_hf_and_mcg_nju_checkpoints(tmp_path) -> None:
    from safetensors.torch import save_file

    hf = _hf_pretraining()
    path = tmp_path / "hf.safetensors"
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, str(path))
    model = EchoVideoMAEPretrainer(preset="tiny", size=32, init=str(path)).build()
    expected = convert_pretraining_state_dict(hf.state_dict())
    for key in ("decoder.blocks.1.attn.qkv.weight", "encoder.blocks.0.attn.v_bias", "mask_token", "decoder.head.bias"):
        assert torch.equal(model.state_dict()[key], expected[key]), key
    # MCG-NJU layout: our names under {"model": ...} with a DDP prefix
    mcg = {"model": {f"module.{k}": v for k, v in model.state_dict().items()}}
    torch.save(mcg, tmp_path / "checkpoint-799.pth")
    again = EchoVideoMAEPretrainer(preset="tiny", size=32, init=str(tmp_path / "checkpoint-799.pth")).build()
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_trainer_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="did you mean 'base'"):
        build_pretrainer(preset="bse")
    with pytest.raises(ConfigError, match="multiple of the patch size"):
        build_pretrainer(size=100)
    with pytest.raises(ConfigError, match="unknown echo-videomae pretrainer option"):
        build_pretrainer(decoder_depth=3)
