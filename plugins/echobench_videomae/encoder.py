"""VideoMAE ViT encoder: the backbone of EchoVisionFM (``echo-videomae``) and vanilla ``videomae``.

Paper: Tong et al., "VideoMAE: Masked Autoencoders are Data-Efficient Learners for Self-Supervised
Video Pre-Training", NeurIPS 2022; used as the echo encoder by Zhang et al., EchoVisionFM (arXiv 2024).
Reference code followed (read, not copied): MCG-NJU/VideoMAE ``modeling_finetune.py`` and
``modeling_pretrain.py`` (CC-BY-NC 4.0); checked numerically against Hugging Face
``transformers.models.videomae.modeling_videomae`` (tests/plugins/test_videomae_encoder.py).
Parameter names follow MCG-NJU, so its checkpoints map key-for-key (see ``convert.py``).

Shapes (base preset, the paper's 16x224x224 clips)::

    clip (B, 3, T=16, H=224, W=224)
      -> tubelets (2x16x16, t-major)                    (B, L=1568, 3*2*16*16)
      -> patch_embed.proj weight as one matmul           (B, L, D)   (= Conv3d k=s=(2, 16, 16))
      -> + fixed sin-cos position table                  (B, L, D)
      -> depth x Block (pre-norm attention + MLP)        (B, L, D)
      -> norm (LayerNorm; ``videomae`` only)             (B, L, D)
      -> Features(tokens, grid=(8, 14, 14), frame_indices (B, T))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from torch import nn

from echobench import (VIT_SIZES, Attention, Block, Features, LoadReport, load_state, preset_options,
                       read_state_dict, sinusoid_position_table)

PRESETS: dict[str, dict[str, int]] = VIT_SIZES  # tiny (CPU tests), small, base (the paper's encoder), large


def tubelet_patches(clip: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """Cut a clip into tubelets: ``(B, C, T, H, W) -> (B, L, C, tubelet*patch*patch)``, tokens t-major.

    Each tubelet's pixels are contiguous per channel, so the flattened ``C * tubelet*patch*patch`` vector
    is in the order of the tubelet Conv3d weight ``(D, C, tubelet, patch, patch)`` and per-channel
    statistics reduce over the last dimension. ``T``/``H, W`` must be divisible by ``tubelet``/``patch``.
    """
    b, c, t, h, w = clip.shape
    x = clip.reshape(b, c, t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # b, t', h', w', c, p0, p1, p2
    return x.reshape(b, (t // tubelet) * (h // patch) * (w // patch), c, tubelet * patch * patch)


def videomae_block(dim: int, num_heads: int, *, qkv_bias: bool = True, **kwargs: Any) -> Block:
    """The shared :class:`echobench.Block` as VideoMAE uses it: exact GELU, and (``qkv_bias``) the
    ``q_bias``/``v_bias`` of MCG-NJU/VideoMAE ``modeling_finetune.Attention`` (key bias fixed at 0)."""
    return Block(dim, num_heads, qkv_bias="qv" if qkv_bias else "none", gelu="none", **kwargs)


class VideoMAEEncoder(nn.Module):
    """VideoMAE ViT encoder: clip ``(B, 3, T, H, W)`` -> :class:`Features` with tokens ``(B, L, D)``.

    ``L = (T/tubelet) * (H/patch) * (W/patch)`` in t-major order; any input size divisible by the
    tubelet/patch works (the position table is built for the actual ``L``). ``final_norm=True`` keeps
    the final LayerNorm ``norm`` (vanilla VideoMAE, ``use_mean_pooling=False``); ``False`` makes it an
    Identity (EchoVisionFM's encoder). Attribute ``embed_dim`` is ``D``.

    Source: MCG-NJU/VideoMAE ``modeling_finetune.VisionTransformer`` / ``modeling_pretrain.
    PretrainVisionTransformerEncoder`` (init: trunc-normal std 0.02 Linear weights, zero biases).

    Raises:
        ConfigError: ``embed_dim`` not divisible by ``num_heads``.
    """

    def __init__(self, *, embed_dim: int = 768, depth: int = 12, num_heads: int = 12,
                 mlp_ratio: float = 4.0, patch_size: int = 16, tubelet_size: int = 2, in_chans: int = 3,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, init_values: float = 0.0, final_norm: bool = True,
                 norm_eps: float = 1e-6, input_mean: tuple[float, float, float] | None = None,
                 input_std: tuple[float, float, float] | None = None) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        # Input normalisation the weights expect, applied to the protocol's clip (e.g. [0, 1] values):
        # part of the architecture config like timm's pretrained_cfg mean/std; not in the state dict.
        self.input_norm = input_mean is not None
        if self.input_norm:
            self.register_buffer("input_mean", torch.tensor(input_mean).view(1, 3, 1, 1, 1), persistent=False)
            self.register_buffer("input_std", torch.tensor(input_std or (1.0, 1.0, 1.0)).view(1, 3, 1, 1, 1),
                                 persistent=False)
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=(tubelet_size, patch_size, patch_size),
                                          stride=(tubelet_size, patch_size, patch_size))
        self.pos_drop = nn.Dropout(drop_rate)
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # stochastic depth decay rule
        self.blocks = nn.ModuleList(
            videomae_block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate,
                           attn_drop=attn_drop_rate, drop_path=rates[i], init_values=init_values,
                           norm_eps=norm_eps)
            for i in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps) if final_norm else nn.Identity()
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def embed(self, clip: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """Tubelet-embed a clip and add the fixed position table.

        Args:
            clip: ``(B, 3, T, H, W)`` float; ``T`` divisible by ``tubelet_size``, ``H, W`` by ``patch_size``.
        Returns:
            tokens ``(B, L, D)`` in t-major order and the grid ``(t, h, w)``.
        Raises:
            ValueError: wrong rank or a size not divisible by the tubelet/patch size.
        """
        if clip.ndim != 5:
            raise ValueError(f"clip has shape {tuple(clip.shape)}, expected (B, 3, T, H, W)")
        _, _, t, h, w = clip.shape
        if t % self.tubelet_size or h % self.patch_size or w % self.patch_size:
            raise ValueError(f"clip (T, H, W) = {(t, h, w)} must be divisible by "
                             f"({self.tubelet_size}, {self.patch_size}, {self.patch_size})")
        grid = (t // self.tubelet_size, h // self.patch_size, w // self.patch_size)
        x = self.tubelet_embed(tubelet_patches(clip, self.tubelet_size, self.patch_size))  # (B, L, D), t-major
        pos = sinusoid_position_table(x.shape[1], x.shape[2]).to(device=x.device, dtype=x.dtype)
        return x + pos, grid

    def tubelet_embed(self, patches: torch.Tensor) -> torch.Tensor:
        """Tubelet embedding ``(B, L, C, p) -> (B, L, D)`` of :func:`tubelet_patches` output.

        The same numbers as ``patch_embed.proj`` (Conv3d, kernel = stride = tubelet) applied to the clip,
        computed as one matrix multiply with the Conv3d's weight ``(D, C*p)``: on the CPU ~20 % faster
        than the convolution forward and backward at 16x112x112 (measured for issue 6), and it lets MAE
        pre-training embed only the visible tubelets.
        """
        proj = self.patch_embed.proj
        b, length, c, p = patches.shape
        return F.linear(patches.reshape(b, length, c * p), proj.weight.reshape(proj.out_channels, c * p), proj.bias)

    def forward_tokens(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run the transformer on embedded tokens.

        Args:
            tokens: ``(B, L, D)`` from :meth:`embed` (position table already added).
            mask: optional ``(B, L)`` bool, True = masked (dropped, MAE pre-training); every sample must
                mask the same number of tokens, as in the reference ``x[~mask].reshape(B, -1, C)``.
        Returns:
            ``(B, L_visible, D)``: the visible tokens in their original order, after the final norm.
        """
        if mask is not None:
            b, _, d = tokens.shape
            tokens = tokens[~mask].reshape(b, -1, d)
        x = self.pos_drop(tokens)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, clip: torch.Tensor, frame_indices: torch.Tensor | None = None) -> Features:
        """Encode a clip.

        Args:
            clip: ``(B, 3, T, H, W)`` float (values as the protocol says).
            frame_indices: ``(B, T)`` source-frame indices; ``None`` means ``arange(T)`` for every sample.
        Returns:
            :class:`Features` with tokens ``(B, t*h*w, D)``, grid ``(T/2, H/16, W/16)`` for the default
            tubelet/patch, and ``frame_indices`` ``(B, T)`` long.
        Raises:
            ValueError: bad clip shape (see :meth:`embed`) or ``frame_indices`` not ``(B, T)``.
        """
        if self.input_norm:
            clip = (clip - self.input_mean) / self.input_std
        tokens, grid = self.embed(clip)
        b, t = clip.shape[0], clip.shape[2]
        if frame_indices is None:
            frame_indices = torch.arange(t, device=clip.device).expand(b, -1)
        elif tuple(frame_indices.shape) != (b, t):
            raise ValueError(f"frame_indices has shape {tuple(frame_indices.shape)}, expected {(b, t)}")
        return Features(tokens=self.forward_tokens(tokens), grid=grid, frame_indices=frame_indices.long())


def _load_weights(model: nn.Module, path: str | Path,
                  convert: Callable[[dict[str, Any]], dict[str, torch.Tensor]] | None = None) -> LoadReport:
    """Load a local weights file into ``model`` (non-strict) and report unmatched keys.

    Reading and matching are :mod:`echobench.models.weights` (safetensors or
    ``torch.load(weights_only=True)``); ``convert`` maps the file's key layout to ours (e.g.
    :func:`echobench_videomae.convert.convert_any`); None = already our layout.

    Raises:
        WeightsError: the file is missing or unreadable, no key matches the model, or a matching key has
            the wrong shape. The message is one line naming the file.
    """
    state = read_state_dict(path)
    if convert is not None:
        state = convert(state)
    return load_state(model, state, path)


def _build(*, preset: str, weights: str | Path | None, drop_path_rate: float, final_norm: bool,
           unit_input: bool, overrides: dict[str, Any]) -> VideoMAEEncoder:
    kwargs: dict[str, Any] = {**preset_options("VideoMAE", PRESETS, preset, VideoMAEEncoder, overrides),
                              "drop_path_rate": drop_path_rate, "final_norm": final_norm,
                              "input_mean": IMAGENET_MEAN if unit_input else None, "input_std": IMAGENET_STD}
    model = VideoMAEEncoder(**{**kwargs, **overrides})
    if weights is not None:
        from echobench_videomae.convert import convert_any

        _load_weights(model, weights, convert=convert_any)
    return model


# VideoMAE's data pipelines normalise [0, 1] frames with the ImageNet statistics before the encoder
# (MCG-NJU/VideoMAE datasets.py, IMAGENET_DEFAULT_MEAN/STD); its released weights expect that input.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_echo_videomae(*, preset: str = "tiny", weights: str | Path | None = None,
                        drop_path_rate: float = 0.0, unit_input: bool = True, **overrides: Any) -> VideoMAEEncoder:
    """Echo-VideoMAE encoder as in the EchoVisionFM release: no final LayerNorm.

    Args:
        preset: ``tiny`` (64/2/2, CPU tests), ``small`` (384/12/6), ``base`` (768/12/12, the paper),
            ``large`` (1024/24/16) as embed_dim/depth/heads.
        weights: local state-dict file in our key layout (None = random init).
        drop_path_rate: stochastic-depth rate of the last block (linear from 0).
        unit_input: clips arrive in [0, 1] (protocol ``echovisionfm``) and get the ImageNet
            normalisation VideoMAE weights expect; False when the protocol already standardises
            them (``echonet``: TRAIN mean/std), so they are not normalised twice.
        **overrides: any :class:`VideoMAEEncoder` argument (e.g. ``init_values``, ``embed_dim``;
            ``input_mean=None`` feeds the protocol's clip values to the tubelet embedding unchanged).
    Raises:
        ConfigError: unknown preset or option. WeightsError: see :func:`_load_weights`.
    """
    return _build(preset=preset, weights=weights, drop_path_rate=drop_path_rate, final_norm=False,
                  unit_input=unit_input, overrides=overrides)


def build_videomae(*, preset: str = "tiny", weights: str | Path | None = None,
                   drop_path_rate: float = 0.0, unit_input: bool = True, **overrides: Any) -> VideoMAEEncoder:
    """Vanilla VideoMAE encoder (keeps the final LayerNorm ``norm``); arguments and errors as
    :func:`build_echo_videomae`."""
    return _build(preset=preset, weights=weights, drop_path_rate=drop_path_rate, final_norm=True,
                  unit_input=unit_input, overrides=overrides)


__all__ = ["PRESETS", "VideoMAEEncoder", "Block", "Attention", "videomae_block", "sinusoid_position_table",
           "tubelet_patches",
           "build_echo_videomae", "build_videomae", "LoadReport"]
