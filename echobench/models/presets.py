"""Size presets and option checking shared by backbone builders (timm-style named configs)."""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Mapping

from echobench.errors import ConfigError


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
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    bad = sorted(set(overrides) - allowed)
    if bad:
        raise ConfigError(f"unknown {family} option(s) {', '.join(bad)}; allowed: {', '.join(sorted(allowed))}")
    return dict(presets[preset])
