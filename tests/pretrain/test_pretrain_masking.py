"""Token masks of MAE pre-training (plugins/echobench_videomae/pretrain/masking.py)."""

from __future__ import annotations

import pytest
import torch

from echobench.errors import ConfigError
from echobench_videomae.pretrain.masking import make_masks, masked_count

GRID = (8, 4, 4)  # 16 frames x 64 px with tubelet 2x16x16


def test_tube_masks_the_same_positions_in_every_frame() -> None:
    masks = make_masks("tube", GRID, 0.9, sample_seeds=[1, 2, 3], batch_seed=0)
    assert masks.shape == (3, 128) and masks.dtype == torch.bool
    frames = masks.view(3, 8, 16)
    assert torch.equal(frames, frames[:, :1].expand_as(frames))  # a tube through time
    assert (frames[:, 0].sum(dim=1) == 14).all()  # int(0.9 * 16) per frame
    assert not torch.equal(masks[0], masks[1])  # each sample draws its own tube


def test_random_masks_exact_count_not_tubes() -> None:
    masks = make_masks("random", GRID, 0.75, sample_seeds=[4, 5], batch_seed=0)
    assert (masks.sum(dim=1) == 96).all()  # int(0.75 * 128)
    frames = masks.view(2, 8, 16)
    assert not torch.equal(frames, frames[:, :1].expand_as(frames))


def test_released_mask_is_shared_and_masks_one_minus_ratio() -> None:
    masks = make_masks("released", (8, 14, 14), 0.9, sample_seeds=[1, 2, 3, 4], batch_seed=11)
    assert torch.equal(masks, masks[:1].expand_as(masks))  # one draw per batch, as released
    fraction = masks[0].float().mean().item()
    assert 0.05 < fraction < 0.15  # `rand > 0.9` masks about 10 % of 1568 tokens
    assert masked_count("released", GRID, 0.9) is None


def test_masks_are_functions_of_their_seeds() -> None:
    for kind in ("tube", "random", "released"):
        a = make_masks(kind, GRID, 0.9, sample_seeds=[7, 8], batch_seed=3)
        torch.manual_seed(123)  # the global RNG plays no part
        assert torch.equal(a, make_masks(kind, GRID, 0.9, sample_seeds=[7, 8], batch_seed=3))


@pytest.mark.parametrize(("kind", "ratio", "message"), [
    ("tube", 1.0, "between 0 and 1"), ("tube", 0.05, "masks no token"), ("cube", 0.9, "did you mean|choose from"),
])
def test_bad_settings_are_config_errors(kind: str, ratio: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_masks(kind, GRID, ratio, sample_seeds=[0], batch_seed=0)
