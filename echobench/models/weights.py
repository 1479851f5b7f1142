"""Safe, shared weight loading for every backbone plugin (DESIGN §4 "Weights").

Weights are read only through safetensors or ``torch.load(..., weights_only=True)``, which refuses
pickles that would run code; no network access, a weights argument is a local path. Plugins map the
file's key layout to theirs (a ``convert`` function) and call :func:`load_state`, so every backbone
reports missing/unexpected keys and fails with the same one-line :class:`WeightsError`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from echobench.errors import WeightsError

log = logging.getLogger(__name__)


class LoadReport(NamedTuple):
    """Keys of the model the file did not provide, and keys of the file the model does not have."""

    missing: list[str]
    unexpected: list[str]


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """Read a local weights file: ``.safetensors`` with safetensors, anything else with
    ``torch.load(map_location="cpu", weights_only=True)``.

    Returns:
        the file's top-level mapping (a state dict, or a wrapper such as ``{"state_dict": ...}``).

    Raises:
        WeightsError: missing file; unreadable, corrupt or unsafe (code-executing pickle) file; not a
            mapping. One line naming the file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, corrupt file, ...
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise WeightsError(f"{path}: cannot read weights safely ({type(exc).__name__}: {first})") from exc
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return dict(obj)


def load_state(model, state: Mapping[str, Any], path: str | Path) -> LoadReport:
    """Load ``state`` (already in the model's key layout) non-strictly and report unmatched keys.

    Raises:
        WeightsError: no key matches the model, or a matching key has the wrong shape.
    """
    ours = model.state_dict()
    if not any(k in ours for k in state):
        raise WeightsError(f"{path}: no key matches the model (file keys start {sorted(state)[:3]})")
    try:
        result = model.load_state_dict(dict(state), strict=False)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise WeightsError(f"{path}: does not fit the model: {detail}") from exc
    report = LoadReport(list(result.missing_keys), list(result.unexpected_keys))
    if report.missing or report.unexpected:
        log.warning("%s: %d missing keys %s; %d unexpected keys %s", path, len(report.missing),
                    report.missing[:5], len(report.unexpected), report.unexpected[:5])
    return report
