"""The token grid of the VideoMAE encoder (the ``token_grid`` rule its ``BackboneSpec`` declares).

Torch-free, so the grid of a configuration can be known without building it.
"""

from __future__ import annotations

from echobench import ConfigError


def _default(name: str) -> int:
    from echobench_videomae import _ENCODER_OPTIONS  # the option defaults, declared once

    return int(next(o.default for o in _ENCODER_OPTIONS if o.name == name))


def token_grid(clip_shape: tuple[int, int, int], options: dict) -> tuple[int, int, int]:
    """``(T / tubelet_size, H / patch_size, W / patch_size)`` for a clip ``(T, H, W)`` (frames, pixels):
    one token per non-overlapping tubelet (Tong et al. 2022, §3.2), with the ``patch_size`` /
    ``tubelet_size`` backbone options (their declared defaults when not given).

    Raises:
        ConfigError: the tubelets do not tile the clip (the encoder would refuse it at its first
            forward pass, in the middle of a run).
    """
    t, h, w = (int(n) for n in clip_shape)
    tubelet = int(options.get("tubelet_size", _default("tubelet_size")))
    patch = int(options.get("patch_size", _default("patch_size")))
    if tubelet < 1 or patch < 1 or t % tubelet or h % patch or w % patch:
        raise ConfigError(f"clip (T, H, W) = {(t, h, w)} is not divisible by the tubelet {tubelet}x{patch}x{patch} "
                          "(--backbone-option tubelet_size / patch_size must divide the protocol's frames and size)")
    return (t // tubelet, h // patch, w // patch)
