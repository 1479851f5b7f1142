"""VideoMAE pre-training model: encoder on visible tokens, decoder, MSE on normalised masked pixels.

Paper: Tong et al., "VideoMAE", NeurIPS 2022, §3 (tube masking, 90 % ratio, per-patch normalised
pixel targets). Reference code followed (read, not copied): MCG-NJU/VideoMAE
``modeling_pretrain.PretrainVisionTransformer`` and ``engine_for_pretraining.train_one_epoch``
(``normlize_target``); checked numerically against Hugging Face ``VideoMAEForPreTraining``
(tests/pretrain/test_mae.py). Parameter names follow MCG-NJU (``encoder.*``,
``encoder_to_decoder``, ``mask_token``, ``decoder.*``), so its pre-training checkpoints load as they are.

Data flow (clip values in [0, 1]; the encoder applies its ImageNet input normalisation itself)::

    clip (B, 3, T, H, W) -> patches (B, L, 3, p) -> keep visible -> tubelet embedding as a Linear
      (the encoder's Conv3d weights) + position table (B, Lv, D) -> encoder blocks (B, Lv, D)
      -> encoder_to_decoder (B, Lv, Dd) + pos[visible]; mask_token + pos[masked]  -> (B, L, Dd)
      -> decoder -> (B, Lm, P)    P = 3 * tubelet * patch**2 values per token, layout (p0 p1 p2 c)
    target: patchify(clip) (B, L, p0*p1*p2, 3), per token and channel (x - mean) / (std + 1e-6)
            (unbiased std), flattened to (B, L, P), masked tokens only -> MSE
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from torch import nn

from echobench_videomae.encoder import VideoMAEEncoder, sinusoid_position_table, tubelet_patches
from echobench_videomae.pretrain.decoder import MAEDecoder

NORM_EPS = 1e-6  # added to the per-patch std, as MCG-NJU ``engine_for_pretraining`` and HF


@dataclass
class MAEOutput:
    """``loss`` (scalar, float32), ``pred`` ``(B, Lm, P)`` decoder output for the masked tokens in
    token order, ``target`` ``(B, Lm, P)`` normalised pixels of the same tokens."""

    loss: torch.Tensor
    pred: torch.Tensor
    target: torch.Tensor


def patchify(clip: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """``(B, C, T, H, W) -> (B, L, tubelet*patch*patch, C)``, tokens t-major as the encoder's.

    Same layout as MCG-NJU's ``rearrange('b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c')``.
    """
    b, c, t, h, w = clip.shape
    x = clip.reshape(b, c, t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # b, t', h', w', p0, p1, p2, c
    return x.reshape(b, (t // tubelet) * (h // patch) * (w // patch), tubelet * patch * patch, c)


def unpatchify(patches: torch.Tensor, grid: tuple[int, int, int], tubelet: int, patch: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, L, tubelet*patch*patch, C) -> (B, C, T, H, W)``."""
    b, _, _, c = patches.shape
    t, h, w = grid
    x = patches.reshape(b, t, h, w, tubelet, patch, patch, c).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.reshape(b, c, t * tubelet, h * patch, w * patch)


def patch_stats(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per token and channel mean and ``std + 1e-6`` (unbiased) over the pixels of a patch,
    ``(B, L, p, C) -> ((B, L, 1, C), (B, L, 1, C))``; VideoMAE's ``normlize_target``."""
    mean = patches.mean(dim=-2, keepdim=True)
    std = patches.var(dim=-2, unbiased=True, keepdim=True).sqrt() + NORM_EPS
    return mean, std


class VideoMAEPretrainModel(nn.Module):
    """Encoder + decoder for MAE pre-training.

    Args:
        encoder: a :class:`VideoMAEEncoder` (its ``input_mean``/``input_std`` normalise the clip).
        decoder: a :class:`MAEDecoder` with ``out_dim = 3 * tubelet * patch**2``.
        xavier_init: re-initialise every Linear weight with Xavier-uniform (zero bias), as the reference
            pre-training model does; ``mask_token`` is trunc-normal (std 0.02) either way.

    Raises:
        ValueError (forward): clip not ``(B, 3, T, H, W)`` in the encoder's tubelet/patch multiples, a mask
            of the wrong shape, or samples masking different numbers of tokens.
    """

    def __init__(self, encoder: VideoMAEEncoder, decoder: MAEDecoder, *, xavier_init: bool = True) -> None:
        super().__init__()
        expected = 3 * encoder.tubelet_size * encoder.patch_size**2
        if decoder.head.out_features != expected:
            raise ValueError(f"decoder predicts {decoder.head.out_features} values per token, expected {expected}")
        self.encoder = encoder
        self.encoder_to_decoder = nn.Linear(encoder.embed_dim, decoder.embed_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder.embed_dim))
        self.decoder = decoder
        if xavier_init:
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        trunc_normal_(self.mask_token, std=0.02)

    def grid(self, clip_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """Token grid ``(t, h, w)`` of a clip ``(T, H, W)``."""
        t, h, w = clip_shape
        e = self.encoder
        return t // e.tubelet_size, h // e.patch_size, w // e.patch_size

    def targets(self, clip: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised pixel targets float32 of a [0, 1] clip ``(B, 3, T, H, W)``: ``(B, L, P)``, or with
        ``mask`` ``(B, L)`` only the masked tokens ``(B, Lm, P)`` (normalising only those is cheaper).
        ``P`` is in the ``(p0 p1 p2 c)`` order of :func:`patchify` (the reference layout)."""
        e = self.encoder
        return self._targets(tubelet_patches(clip.float(), e.tubelet_size, e.patch_size), mask)

    @staticmethod
    def _targets(patches: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``(B, L, C, p)`` patches -> normalised targets ``(B, L or Lm, p * C)``."""
        if mask is not None:
            patches = patches[mask].reshape(patches.shape[0], -1, *patches.shape[2:])
        mean = patches.mean(dim=-1, keepdim=True)
        std = patches.var(dim=-1, unbiased=True, keepdim=True).sqrt() + NORM_EPS
        return ((patches - mean) / std).transpose(-1, -2).flatten(2)

    def embed_visible(self, patches: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Tubelet embedding of the visible tokens only, ``(B, L, 3, p)`` patches (channel first) ->
        ``(B, Lv, D)``, plus the position table. The same numbers as the encoder's Conv3d (kernel =
        stride = tubelet) on the whole clip followed by dropping the masked tokens, at a tenth of the
        cost at ratio 0.9."""
        e = self.encoder
        b, length, c, p = patches.shape
        visible = patches[~mask].reshape(b, -1, c, p)
        if e.input_norm:
            visible = (visible - e.input_mean.view(1, 1, c, 1)) / e.input_std.view(1, 1, c, 1)
        tokens = e.tubelet_embed(visible)
        pos = sinusoid_position_table(length, tokens.shape[-1]).to(device=tokens.device, dtype=tokens.dtype)
        return tokens + pos.expand(b, -1, -1)[~mask].reshape(b, -1, tokens.shape[-1])

    def forward(self, clip: torch.Tensor, mask: torch.Tensor) -> MAEOutput:
        """Loss of one batch.

        Args:
            clip: ``(B, 3, T, H, W)`` float, values in [0, 1].
            mask: ``(B, L)`` bool, True = masked; every sample masks the same number of tokens.
        Returns:
            :class:`MAEOutput`.
        """
        e = self.encoder
        if clip.ndim != 5 or clip.shape[1] != 3:
            raise ValueError(f"clip has shape {tuple(clip.shape)}, expected (B, 3, T, H, W)")
        b, _, t, h, w = clip.shape
        if t % e.tubelet_size or h % e.patch_size or w % e.patch_size:
            raise ValueError(f"clip (T, H, W) = {(t, h, w)} must be divisible by "
                             f"({e.tubelet_size}, {e.patch_size}, {e.patch_size})")
        grid = self.grid((t, h, w))
        length = grid[0] * grid[1] * grid[2]
        if tuple(mask.shape) != (b, length):
            raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {(b, length)} for grid {grid}")
        counts = mask.sum(dim=1)
        if bool((counts != counts[0]).any()) or int(counts[0]) in (0, length):
            raise ValueError(f"every sample must mask the same number of tokens, between 1 and {length - 1}; "
                             f"got {counts.tolist()}")
        mask = mask.to(device=clip.device, dtype=torch.bool)
        patches = tubelet_patches(clip.float(), e.tubelet_size, e.patch_size)  # (B, L, 3, p), shared
        visible = self.encoder_to_decoder(e.forward_tokens(self.embed_visible(patches, mask)))  # (B, Lv, Dd)
        dd = visible.shape[-1]
        pos = sinusoid_position_table(length, dd).to(device=clip.device, dtype=visible.dtype).expand(b, -1, -1)
        pos_visible = pos[~mask].reshape(b, -1, dd)
        pos_masked = pos[mask].reshape(b, -1, dd)
        full = torch.cat([visible + pos_visible, self.mask_token.to(visible.dtype) + pos_masked], dim=1)
        pred = self.decoder(full, pos_masked.shape[1])
        with torch.no_grad():
            target = self._targets(patches, mask)
        loss = F.mse_loss(pred.float(), target)
        return MAEOutput(loss=loss, pred=pred, target=target)

    @torch.no_grad()
    def reconstruct(self, clip: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pictures of a reconstruction, each ``(B, 3, T, H, W)`` float in [0, 1] on the CPU.

        ``original`` is the clip; ``masked`` greys out the masked patches; ``reconstructed`` keeps the
        visible patches and replaces the masked ones by the prediction mapped back to pixels with the
        patch's own mean and std (inverse of the target normalisation; the clip is in [0, 1] pixel
        units, so the ImageNet input normalisation applied inside the encoder is not involved).
        Source: MCG-NJU/VideoMAE ``run_videomae_vis.py``.
        """
        was_training = self.training
        self.eval()
        try:
            out = self(clip, mask)
        finally:
            self.train(was_training)
        e = self.encoder
        grid = self.grid(tuple(clip.shape[2:]))
        patches = patchify(clip.float(), e.tubelet_size, e.patch_size)
        mean, std = patch_stats(patches)
        b, _, p, c = patches.shape
        mask = mask.to(clip.device)
        pred = out.pred.float().reshape(b, -1, p, c) * std[mask].reshape(b, -1, 1, c) + mean[mask].reshape(b, -1, 1, c)
        rec = patches.clone()
        rec[mask] = pred.reshape(-1, p, c)
        grey = patches.clone()
        grey[mask] = 0.5
        to_pixels = lambda x: unpatchify(x, grid, e.tubelet_size, e.patch_size).clamp(0, 1).cpu()  # noqa: E731
        return {"original": clip.float().clamp(0, 1).cpu(), "masked": to_pixels(grey), "reconstructed": to_pixels(rec)}


__all__ = ["MAEOutput", "VideoMAEPretrainModel", "patch_stats", "patchify", "unpatchify"]
