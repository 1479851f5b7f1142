"""The token grid of the VideoMAE encoder (the ``token_grid`` rule its ``BackboneSpec`` declares).

Torch-free, so the grid of a configuration can be known without building it.
"""

from __future__ import annotations


def token_grid(clip_shape: tuple[int, int, int], options: dict) -> tuple[int, int, int]:
    """``(T / tubelet_size, H / patch_size, W / patch_size)`` for a clip ``(T, H, W)`` (frames, pixels):
    one token per non-overlapping tubelet (Tong et al. 2022, §3.2; defaults 2 and 16, ViT's 16x16
    patches), with the ``patch_size``/``tubelet_size`` backbone options when given."""
    t, h, w = (int(n) for n in clip_shape)
    tubelet, patch = int(options.get("tubelet_size", 2)), int(options.get("patch_size", 16))
    return (t // tubelet, h // patch, w // patch)
