"""The segmentation head starts at the TRAIN mean LV mask (engine.dense.init_mask_prior), the dense
analogue of a regression head starting at the TRAIN mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from echobench import Features
from echobench.engine.dense import init_mask_prior


def test_head_output_starts_at_the_logit_of_the_train_mean_mask():
    from echobench_heads.dense import SegUpsampleHead

    head = SegUpsampleHead(dim=8, clip_shape=(4, 16, 16), grid=(2, 4, 4))
    model = torch.nn.Module()
    model.head = head
    masks = np.zeros((3, 2, 16, 16), dtype=bool)
    masks[:, :, 4:12, 6:10] = True  # every TRAIN mask covers the same box
    masks[0, 0, 4:12, 10:12] = True  # one ED mask is wider: those pixels have mean 1/6
    assert init_mask_prior(model, list(masks), (16, 16))
    assert head.refine[-1].bias.item() == 0.0
    for p in [*head.tokens.parameters(), *head.refine[0].parameters()]:  # a decoder that says nothing:
        torch.nn.init.zeros_(p)  # the output is the prior alone
    out = head(Features(tokens=torch.zeros(1, 32, 8), grid=(2, 4, 4), frame_indices=torch.arange(4)[None]))
    expected = torch.logit(torch.as_tensor(masks.astype(np.float32).mean(axis=(0, 1))).clamp(0.02, 0.98))
    assert torch.allclose(out[0, 0], expected, atol=1e-5) and torch.allclose(out[0, 3], expected, atol=1e-5)
    assert (out[0, 0] > 0).sum() == 32  # thresholded at 0.5: the shared box, not the one wider mask
    with pytest.raises(ValueError, match="expected"):
        head.set_prior(torch.zeros(8, 8))


def test_a_head_without_a_prior_is_left_alone():
    model = torch.nn.Module()
    model.head = torch.nn.Linear(2, 2)
    assert not init_mask_prior(model, [np.ones((2, 4, 4), bool)], (4, 4))
