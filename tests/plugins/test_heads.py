"""Tests for the first-party heads plugin (plugins/echobench_heads): contract checks driven by the
plugin's own registrations, STFF-Net grid correctness, and the base-size parameter count."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from echobench import HeadSpec, Features
from echobench_heads import register_heads
from echobench_heads.stff import STFFHead, position_encoding_3d, sinusoid, step_frame_encoding

D = 32
GRIDS = [(2, 7, 7), (8, 2, 2)]


def _specs() -> dict[str, HeadSpec]:
    specs: list[HeadSpec] = []
    register_heads(register=specs.append)
    return {s.name: s for s in specs}


def _build(name: str, dim: int = D, seed: int = 0) -> torch.nn.Module:
    spec = _specs()[name]
    torch.manual_seed(seed)
    return spec.load()(dim=dim, **spec.defaults)


def _features(grid: tuple[int, int, int], b: int = 2, frames: int = 16, seed: int = 1) -> Features:
    t, h, w = grid
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randn(b, t * h * w, D, generator=gen)
    frame_indices = torch.stack([torch.arange(frames) * 3, torch.arange(frames) * 5 + 7])[:b]
    return Features(tokens=tokens, grid=grid, frame_indices=frame_indices)


def test_registrations_without_torch() -> None:
    specs = _specs()
    assert set(specs) == {"maxpool", "meanpool", "stff", "stff-released", "attentive-probe", "seg-upsample",
                          "frames-upsample"}
    assert {n for n, s in specs.items() if s.output != "embedding"} == {"seg-upsample", "frames-upsample"}
    assert specs["stff"].factory == specs["stff-released"].factory == "echobench_heads.stff:STFFHead"
    assert specs["stff-released"].defaults == {"released_reshape": True}
    assert all(s.citation and s.licence for s in specs.values())
    code = "import sys, echobench_heads; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("name", sorted(n for n, s in _specs().items() if s.output != "embedding"))
def test_dense_head_contract(name: str, grid: tuple[int, int, int]) -> None:
    """Dense heads: Features on any grid -> per-frame logits at the clip's size, gradients to every token."""
    spec = _specs()[name]
    clip = (16, 32, 32)
    head = spec.load()(dim=D, clip_shape=clip, **({"grid": grid} if "grid" in spec.inputs else {}), **spec.defaults)
    tokens = _features(grid).tokens.clone().requires_grad_(True)
    out = head(Features(tokens=tokens, grid=grid, frame_indices=_features(grid).frame_indices))
    assert out.shape == ((2, *clip) if spec.output == "masks" else (2, clip[0], 2)) and torch.isfinite(out).all()
    out.square().mean().backward()
    assert tokens.grad is not None and bool((tokens.grad.abs().sum(-1) > 0).all())


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("name", sorted(n for n, s in _specs().items() if s.output == "embedding"))
def test_head_contract(name: str, grid: tuple[int, int, int]) -> None:
    feats = _features(grid)
    head = _build(name)
    out = head(feats)
    assert isinstance(head.out_dim, int) and out.shape == (2, head.out_dim)
    assert torch.isfinite(out).all()
    tokens = feats.tokens.clone().requires_grad_(True)
    out = head(Features(tokens=tokens, grid=grid, frame_indices=feats.frame_indices))
    out.square().mean().backward()
    assert tokens.grad is not None and torch.isfinite(tokens.grad).all()
    for p in head.parameters():
        assert p.grad is None or torch.isfinite(p.grad).all()
    again = _build(name)
    torch.testing.assert_close(again(feats), head(feats), rtol=0, atol=0)


def test_stff_joint_path_sees_true_positions() -> None:
    t, h, w = 2, 3, 4
    g = torch.randn(2, D, t, h, w, generator=torch.Generator().manual_seed(3))
    tokens = g.flatten(2).transpose(1, 2)  # t-major (B, L, D), built independently of the head
    assert torch.equal(tokens[:, (1 * h + 2) * w + 3], g[:, :, 1, 2, 3])
    feats = Features(tokens=tokens, grid=(t, h, w), frame_indices=torch.arange(16).repeat(2, 1))
    pe = position_encoding_3d(D, (t, h, w)).to(g.dtype)
    head = _build("stff")
    assert torch.equal(head.joint_grid(feats), g + pe)
    out = torch.randn_like(g)  # stands for the 3D block's output
    assert torch.equal(head.joint_tokens(out)[:, (1 * h + 2) * w + 3], out[:, :, 1, 2, 3])
    frames = head.frame_grids(feats)  # (B*t, D, h, w): step 1 of clip 0 is g[0, :, 1]
    assert torch.equal(frames[1], g[0, :, 1])


def _released_forward(head: STFFHead, x: torch.Tensor, frame_indices: torch.Tensor,
                      size: tuple[int, int, int]) -> torch.Tensor:
    """The released STFF-Net forward (EchoVisionFM stff_net.py), step by step, on ``head``'s layers."""
    bs, (T, H, W), d = x.shape[0], size, head.dim
    x = x.view(-1, T, H, W, d)
    x_3dpe = (position_encoding_3d(d, size).permute(1, 2, 3, 0).float() + x).permute(0, 4, 1, 2, 3).contiguous()
    global_embedding = head.joint_pool(head.block3d(x_3dpe).view(-1, T * H * W, d))
    x_temporal = head.spatial(head.block2d(x.view(bs * T, d, H, W))).view(bs, T, d)
    pe = sinusoid(frame_indices, d).float().view(-1, frame_indices.shape[1] // 2, 2, d).mean(dim=2)
    x_temporal = x_temporal + head.time_mlp(pe.view(-1, d)).view(-1, frame_indices.shape[1] // 2, d)
    return torch.cat([global_embedding, head.disjoint_pool(x_temporal)], dim=1)


def test_stff_released_matches_released_forward_and_default_differs() -> None:
    feats = _features((8, 2, 2))
    released = _build("stff-released").eval()
    with torch.no_grad():
        ours = released(feats)
        torch.testing.assert_close(ours, _released_forward(released, feats.tokens, feats.frame_indices, (8, 2, 2)))
        correct = _build("stff").eval()
        correct.load_state_dict(released.state_dict())
        assert not torch.allclose(correct(feats), ours)


def test_position_encoding_3d_layout() -> None:
    """Hand values of the positional_encodings PositionalEncoding3D layout the released code adds."""
    pe = position_encoding_3d(768, (2, 3, 4))
    assert pe.shape == (768, 2, 3, 4)  # c = 256 channels per axis
    f = 10000 ** (-2 / 256)
    assert pe[0, 1, 0, 0] == pytest.approx(math.sin(1)) and pe[1, 1, 2, 3] == pytest.approx(math.cos(1))
    assert pe[2, 1, 0, 0] == pytest.approx(math.sin(f))
    assert pe[256, 0, 2, 1] == pytest.approx(math.sin(2)) and pe[257, 1, 2, 0] == pytest.approx(math.cos(2))
    assert pe[512 + 3, 0, 0, 3] == pytest.approx(math.cos(3 * f))
    small = position_encoding_3d(64, (2, 3, 4))  # c = 22; the w group is cut to 20 channels
    assert small.shape == (64, 2, 3, 4)
    assert small[44 + 2, 1, 1, 1] == pytest.approx(math.sin(10000 ** (-2 / 22)))
    # each group depends only on its own coordinate
    assert torch.equal(small[:22, :, :1, :1].expand(22, 2, 3, 4), small[:22])
    assert torch.equal(small[22:44, :1, :, :1].expand(22, 2, 3, 4), small[22:44])
    assert torch.equal(small[44:, :1, :1, :].expand(20, 2, 3, 4), small[44:])


def test_step_frame_encoding() -> None:
    fi = torch.tensor([[0, 4, 8, 12, 16, 20, 24, 28]])
    enc = sinusoid(fi, 6)  # (1, 8, 6)
    torch.testing.assert_close(step_frame_encoding(fi, 4, 6), enc.view(1, 4, 2, 6).mean(dim=2))
    torch.testing.assert_close(step_frame_encoding(fi, 8, 6), enc)
    short = step_frame_encoding(fi[:, :2], 4, 6)  # T < t: steps take the frame at their start
    torch.testing.assert_close(short, enc[:, [0, 0, 1, 1]])


def test_stff_lazy_and_eager_agree_and_grid_mismatch_raises() -> None:
    feats = _features((2, 7, 7))
    torch.manual_seed(0)
    lazy = STFFHead(dim=D)
    lazy(feats)
    eager = STFFHead(dim=D, grid=(2, 7, 7))
    eager.load_state_dict(lazy.state_dict())
    torch.testing.assert_close(eager(feats), lazy(feats))
    with pytest.raises(ValueError, match="built for"):
        lazy(_features((8, 2, 2)))


def test_base_parameter_count() -> None:
    """D=768, grid 8x14x14: the released model's ≈ 126.4 M (itemised in stff.py)."""
    from echobench_videomae.encoder import build_echo_videomae

    def count(m: torch.nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    assert count(STFFHead(dim=768, grid=(8, 14, 14), released_reshape=True)) == 126_429_440
    assert count(STFFHead(dim=768, grid=(8, 14, 14))) == 126_429_440
    assert count(build_echo_videomae(preset="base")) == 86_225_664


def test_attentive_probe_blocks() -> None:
    """``blocks=4`` (V-JEPA 2's probe) puts 3 self-attention blocks before the query's cross-attention;
    ``blocks=1`` builds exactly the one-block probe (same parameters, same output for a seed)."""
    from echobench_heads.probe import AttentiveProbeHead

    feats = _features((2, 7, 7))
    torch.manual_seed(0)
    one = AttentiveProbeHead(dim=D)
    torch.manual_seed(0)
    same = AttentiveProbeHead(dim=D, blocks=1)
    torch.manual_seed(0)
    four = AttentiveProbeHead(dim=D, blocks=4)
    assert len(same.blocks) == 0 and len(four.blocks) == 3
    assert torch.equal(one(feats), same(feats)) and four(feats).shape == (2, D)
    assert sum(p.numel() for p in four.parameters()) > sum(p.numel() for p in one.parameters())
    with pytest.raises(ValueError, match="blocks=0"):
        AttentiveProbeHead(dim=D, blocks=0)
