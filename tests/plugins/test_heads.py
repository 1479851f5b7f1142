"""Tests for the first-party heads plugin (plugins/echobench_heads): contract checks driven by the
plugin's own registrations, STFF-Net grid correctness, and the base-size parameter count."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from echobench.models.features import Features
from echobench.specs import HeadSpec
from echobench_heads import register_heads
from echobench_heads.stff import STFFHead, position_encoding_3d, step_mean_frame_index

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
    assert set(specs) == {"maxpool", "meanpool", "stff", "stff-released", "attentive-probe"}
    assert specs["stff"].factory == specs["stff-released"].factory == "echobench_heads.stff:STFFHead"
    assert specs["stff-released"].defaults == {"released_reshape": True}
    assert all(s.citation and s.licence for s in specs.values())
    code = "import sys, echobench_heads; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("name", sorted(_specs()))
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
    assert torch.equal(_build("stff").joint_grid(feats), g + pe)
    assert not torch.allclose(_build("stff-released").joint_grid(feats), g + pe)


def test_position_encoding_3d_groups() -> None:
    pe = position_encoding_3d(D, (2, 3, 4))
    assert pe.shape == (D, 2, 3, 4)
    d_hw = 2 * (D // 6)
    d_t = D - 2 * d_hw
    # each group depends only on its own coordinate
    assert torch.equal(pe[:d_t, :, 0, 0, None, None].expand(d_t, 2, 3, 4), pe[:d_t])
    assert torch.equal(pe[d_t:d_t + d_hw, 0, :, 0, None].unsqueeze(1).expand(d_hw, 2, 3, 4), pe[d_t:d_t + d_hw])
    assert torch.equal(pe[d_t + d_hw:, 0, 0, :].reshape(d_hw, 1, 1, 4).expand(d_hw, 2, 3, 4), pe[d_t + d_hw:])


def test_step_mean_frame_index() -> None:
    fi = torch.tensor([[0, 4, 8, 12, 16, 20, 24, 28]])
    assert step_mean_frame_index(fi, 4).tolist() == [[2.0, 10.0, 18.0, 26.0]]
    assert step_mean_frame_index(fi, 8).tolist() == [[float(x) for x in fi[0]]]
    assert step_mean_frame_index(fi[:, :2], 4).tolist() == [[0.0, 0.0, 4.0, 4.0]]  # T < t


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
    """D=768, grid 8x14x14. Neither bottleneck width gives the ~126.4 M released total (see stff.py)."""
    from echobench_videomae.encoder import build_echo_videomae

    def count(m: torch.nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    assert count(STFFHead(dim=768, grid=(8, 14, 14))) == 119_890_946
    assert count(STFFHead(dim=768, grid=(8, 14, 14), bottleneck_ratio=1)) == 141_571_586
    assert count(STFFHead(dim=768, grid=(8, 14, 14), released_reshape=True)) == 119_890_946
    assert count(build_echo_videomae(preset="base")) == 86_225_664
