"""ViViT encoder (spatio-temporal joint attention, tubelet embedding, CLS token): backbone ``vivit``.

Paper: Arnab et al., "ViViT: A Video Vision Transformer", ICCV 2021 (arXiv:2103.15691), §3.2 model 1
("spatio-temporal attention") with §3.1 tubelet embedding. Implementation followed (read, not copied):
Hugging Face ``transformers/models/vivit/modeling_vivit.py`` (Apache-2.0), which is this variant;
checked numerically against ``transformers.VivitModel`` in tests/plugins/test_vivit.py. HF state dicts
load by key mapping (``convert.py``).

Shapes (base preset = HF's default config, 32x224x224 clips)::

    clip (B, 3, T=32, H=224, W=224)
      -> input normalisation (HF processor equivalent, see HF_PROCESSOR_MEAN)
      -> patch_embed.proj  Conv3d k=s=(2, 16, 16)        (B, D, 16, 14, 14)
      -> flatten t-major, prepend cls_token, + pos_embed  (B, 1+L, D), L = 3136 (learned positions)
      -> depth x Block (pre-norm attention + MLP)        (B, 1+L, D)
      -> norm (final LayerNorm)                          (B, 1+L, D)
      -> drop CLS: Features(tokens (B, L, D), grid=(16, 14, 14), frame_indices (B, T))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from echobench import (Attention, Block, ConfigError, Features, LoadReport, WeightsError, load_state,
                       preset_options, read_state_dict)
from echobench_vivit.convert import convert_hf_vivit_state_dict, is_hf_vivit_state_dict


PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"embed_dim": 64, "depth": 2, "num_heads": 2, "mlp_dim": 256, "num_frames": 16, "image_size": 224},
    "base": {"embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_dim": 3072, "num_frames": 32, "image_size": 224},
}

# HF's VivitImageProcessor / VivitVideoProcessor defaults map 8-bit pixels u to ((u/127.5 - 1) - 0.5)/0.5
# (``rescale_factor=1/127.5`` with ``offset=True``, then ``image_mean=image_std=0.5``). For the protocol's
# [0, 1] clip x = u/255 that is 4x - 3 = (x - 0.75) / 0.25: the input the HF-hosted weights were checked
# with. ZERO_CENTERED_* gives [-1, 1] (scenic's ``zero_centering``) for weights trained that way.
HF_PROCESSOR_MEAN = (0.75, 0.75, 0.75)
HF_PROCESSOR_STD = (0.25, 0.25, 0.25)
ZERO_CENTERED_MEAN = (0.5, 0.5, 0.5)
ZERO_CENTERED_STD = (0.5, 0.5, 0.5)


def vivit_block(dim: int, num_heads: int, mlp_dim: int, *, qkv_bias: bool = True, drop: float = 0.0,
                attn_drop: float = 0.0, norm_eps: float = 1e-6) -> Block:
    """The shared :class:`echobench.Block` as HF ``VivitLayer``: bias on q, k and v, MLP width
    ``mlp_dim`` with the tanh GELU (HF's default ``hidden_act="gelu_fast"``), no layer scale."""
    return Block(dim, num_heads, mlp_hidden=mlp_dim, qkv_bias="qkv" if qkv_bias else "none", drop=drop,
                 attn_drop=attn_drop, norm_eps=norm_eps, gelu="tanh")


class ViViT(nn.Module):
    """ViViT encoder: clip ``(B, 3, T, H, W)`` -> :class:`Features` with the patch tokens ``(B, L, D)``.

    ``L = (T/t_tube) * (H/patch) * (W/patch)`` in t-major order, CLS token removed. The learned
    position table ``pos_embed`` ``(1, 1+L, D)`` is sized for ``num_frames`` x ``image_size``, so the
    input must have exactly that ``(T, H, W)`` (no interpolation). Attribute ``embed_dim`` is ``D``.
    Init: trunc-normal std 0.02 for Linear/Conv weights, ``cls_token`` and ``pos_embed`` (HF: zeros for
    the last two), zero biases, unit LayerNorms.

    Raises:
        ConfigError: ``embed_dim`` not divisible by ``num_heads``, or ``num_frames``/``image_size`` not
            divisible by the tubelet size.
    """

    def __init__(self, *, embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_dim: int = 3072,
                 num_frames: int = 32, image_size: int | tuple[int, int] = 224,
                 tubelet_size: tuple[int, int, int] = (2, 16, 16), in_chans: int = 3, qkv_bias: bool = True,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, norm_eps: float = 1e-6,
                 input_mean: tuple[float, ...] | None = None, input_std: tuple[float, ...] | None = None) -> None:
        super().__init__()
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.tubelet_size = tuple(int(s) for s in tubelet_size)
        self.input_size = (int(num_frames), int(size[0]), int(size[1]))
        if any(n % s for n, s in zip(self.input_size, self.tubelet_size)):
            raise ConfigError(f"ViViT input (T, H, W) = {self.input_size} not divisible by tubelet {self.tubelet_size}")
        self.grid = tuple(n // s for n, s in zip(self.input_size, self.tubelet_size))
        self.embed_dim = embed_dim
        # Input normalisation the weights expect, applied to the protocol's clip (e.g. [0, 1] values):
        # part of the architecture config like timm's pretrained_cfg mean/std; not in the state dict.
        self.input_norm = input_mean is not None
        if self.input_norm:
            for name, v in (("input_mean", input_mean), ("input_std", input_std or (1.0, 1.0, 1.0))):
                self.register_buffer(name, torch.tensor(v).view(1, 3, 1, 1, 1), persistent=False)
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=self.tubelet_size, stride=self.tubelet_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1] * self.grid[2], embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        self.blocks = nn.ModuleList(vivit_block(embed_dim, num_heads, mlp_dim, qkv_bias=qkv_bias, drop=drop_rate,
                                                attn_drop=attn_drop_rate, norm_eps=norm_eps) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        for p in (self.cls_token, self.pos_embed):
            nn.init.trunc_normal_(p, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Conv3d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def _check_clip(self, clip: torch.Tensor) -> None:
        if clip.ndim != 5 or clip.shape[1] != self.patch_embed.proj.in_channels:
            raise ValueError(f"clip has shape {tuple(clip.shape)}, expected (B, 3, T, H, W)")
        if tuple(clip.shape[2:]) != self.input_size:
            raise ValueError(f"clip (T, H, W) = {tuple(clip.shape[2:])} does not match the ViViT position table "
                             f"built for {self.input_size}; build with num_frames=/image_size= to match")

    def forward_with_cls(self, clip: torch.Tensor) -> torch.Tensor:
        """Last hidden states including the CLS token, as HF ``VivitModel(...).last_hidden_state``.

        Args:
            clip: ``(B, 3, T, H, W)`` float with ``(T, H, W)`` equal to ``input_size`` (values as the
                protocol says; ``input_mean``/``input_std`` are applied here).
        Returns:
            ``(B, 1+L, D)``: index 0 is CLS, then the ``L`` patch tokens in t-major order.
        Raises:
            ValueError: wrong rank, channels, or ``(T, H, W)`` other than the configured ``input_size``.
        """
        self._check_clip(clip)
        if self.input_norm:
            clip = (clip - self.input_mean) / self.input_std
        x = self.patch_embed.proj(clip).flatten(2).transpose(1, 2)  # (B, L, D), t-major
        x = self.pos_drop(torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, clip: torch.Tensor, frame_indices: torch.Tensor | None = None) -> Features:
        """Encode a clip.

        Args:
            clip: ``(B, 3, T, H, W)`` float, ``(T, H, W) == input_size``.
            frame_indices: ``(B, T)`` source-frame indices; ``None`` means ``arange(T)`` for every sample.
        Returns:
            :class:`Features` with the patch tokens (CLS dropped) ``(B, t*h*w, D)``, grid
            ``(T/2, H/16, W/16)`` for the default tubelet, and ``frame_indices`` ``(B, T)`` long.
        Raises:
            ValueError: bad clip shape (see :meth:`forward_with_cls`) or ``frame_indices`` not ``(B, T)``.
        """
        self._check_clip(clip)
        b, t = clip.shape[0], clip.shape[2]
        if frame_indices is None:
            frame_indices = torch.arange(t, device=clip.device).expand(b, -1)
        elif tuple(frame_indices.shape) != (b, t):
            raise ValueError(f"frame_indices has shape {tuple(frame_indices.shape)}, expected {(b, t)}")
        return Features(tokens=self.forward_with_cls(clip)[:, 1:], grid=self.grid, frame_indices=frame_indices.long())


def load_weights(model: ViViT, path: str | Path) -> LoadReport:
    """Load a local weights file into ``model`` (non-strict) and report unmatched keys.

    ``.safetensors`` files are read with safetensors, anything else with ``torch.load(weights_only=True)``.
    A Hugging Face ViViT layout (see :func:`echobench_vivit.convert.is_hf_vivit_state_dict`) is
    converted first; otherwise the file must be in our layout.

    Raises:
        WeightsError: the file is missing or unreadable, an HF layer is incomplete, no key matches the
            model, or a matching key has the wrong shape. The message is one line naming the file.
    """
    state = read_state_dict(path)
    if is_hf_vivit_state_dict(state):
        try:
            state = convert_hf_vivit_state_dict(state)
        except KeyError as exc:
            raise WeightsError(f"{path}: {exc.args[0]}") from exc
    return load_state(model, state, path)


def build_vivit(*, preset: str = "tiny", weights: str | Path | None = None, num_frames: int | None = None,
                image_size: int | None = None, unit_input: bool = True, **overrides: Any) -> ViViT:
    """ViViT encoder (HF ``VivitModel`` numerics) for the protocol's clip size.

    Args:
        preset: ``tiny`` (64/2/2, mlp 256, 16x224; CPU tests) or ``base`` (768/12/12, mlp 3072, 32x224 —
            HF's default config, ``google/vivit-b-16x2-kinetics400``) as embed_dim/depth/heads.
        weights: local state dict, our layout or a Hugging Face ViViT layout (auto-detected and
            converted); None = random init.
        num_frames, image_size: the clip ``T`` and ``H = W`` the position table is built for (e.g. 16 and
            224 for the echovisionfm protocol); None = the preset's. Weights must have been trained for
            the same size (their ``pos_embed`` shape is checked).
        unit_input: clips arrive in [0, 1] and get HF's processor normalisation; False when the
            protocol already standardises them (``echonet``), so they are not normalised twice.
        **overrides: any :class:`ViViT` argument. ``input_mean``/``input_std`` default to
            :data:`HF_PROCESSOR_MEAN`/``STD`` (HF's processor on a [0, 1] clip); ``input_mean=None`` feeds the
            clip to the tubelet embedding unchanged.
    Raises:
        ConfigError: unknown preset or option. WeightsError: see :func:`load_weights`.
    """
    kwargs: dict[str, Any] = {**preset_options("ViViT", PRESETS, preset, ViViT, overrides),
                              "input_mean": HF_PROCESSOR_MEAN if unit_input else None, "input_std": HF_PROCESSOR_STD}
    kwargs.update({k: v for k, v in (("num_frames", num_frames), ("image_size", image_size)) if v is not None})
    model = ViViT(**{**kwargs, **overrides})
    if weights is not None:
        load_weights(model, weights)
    return model


__all__ = ["PRESETS", "ViViT", "Block", "Attention", "vivit_block", "build_vivit", "load_weights", "LoadReport",
           "HF_PROCESSOR_MEAN", "HF_PROCESSOR_STD", "ZERO_CENTERED_MEAN", "ZERO_CENTERED_STD"]
