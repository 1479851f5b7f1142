"""Size presets and option checking shared by backbone builders (timm-style named configs).

:data:`VIT_SIZES` is the ViT size table (width/depth/heads) of VideoMAE (Tong et al. 2022, MCG-NJU
``modeling_finetune.vit_*_patch16_224``), used by every ViT-family plugin and by the reference
comparisons so they build the same sizes.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Mapping

from echobench.errors import ConfigError

VIT_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"embed_dim": 64, "depth": 2, "num_heads": 2},  # CPU tests only
    "small": {"embed_dim": 384, "depth": 12, "num_heads": 6},
    "base": {"embed_dim": 768, "depth": 12, "num_heads": 12},
    "large": {"embed_dim": 1024, "depth": 24, "num_heads": 16},
}


def preset_options(family: str, presets: Mapping[str, Mapping[str, Any]], preset: str, cls: type,
                   overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``presets[preset]`` for ``family`` after checking ``overrides`` against ``cls.__init__``.

    Raises:
        ConfigError: unknown preset (with a did-you-mean) or an option ``cls`` does not take.
    """
    if preset not in presets:
        near = difflib.get_close_matches(preset, list(presets), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f"; choose from {', '.join(presets)}"
        raise ConfigError(f"unknown {family} preset {preset!r}{hint}")
    init = getattr(cls, "__init__")  # the class's own constructor (mypy: not an instance's __init__)
    allowed = set(inspect.signature(init).parameters) - {"self"}
    bad = sorted(set(overrides) - allowed)
    if bad:
        raise ConfigError(f"unknown {family} option(s) {', '.join(bad)}; allowed: {', '.join(sorted(allowed))}")
    return dict(presets[preset])
