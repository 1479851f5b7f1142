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

from echobench.atomic import describe
from echobench.errors import WeightsError

log = logging.getLogger(__name__)


class LoadReport(NamedTuple):
    """Keys of the model the file did not provide, and keys of the file the model does not have."""

    missing: list[str]
    unexpected: list[str]


def _load_safetensors(path: Path) -> Any:
    from safetensors.torch import load_file

    return load_file(str(path))


def _load_torch(path: Path) -> Any:
    import torch

    with open(path, "rb") as fh:  # a file object: recent torch hands a path ending in .safetensors to safetensors
        return torch.load(fh, map_location="cpu", weights_only=True)


def _unsafe_pickle(exc: BaseException) -> str | None:
    """What a ``weights_only`` load refused (a global that would run code, or an opcode it does not
    allow), or None when the error is of another kind (not a pickle at all, a corrupt archive)."""
    for line in str(exc).splitlines():
        if "Unsupported global" in line or "Unsupported operand" in line:
            return line.strip().removeprefix("WeightsUnpickler error:").strip()[:200]
    return None


def _non_finite(obj: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, int]]:
    """``(key, count)`` of every floating tensor in ``obj`` (nested mappings, 3 levels) holding NaN/inf."""
    import torch

    found: list[tuple[str, int]] = []
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() or obj.is_complex():
            bad = int((~torch.isfinite(obj)).sum())
            if bad:
                found.append((prefix, bad))
    elif isinstance(obj, Mapping) and depth < 3:
        for key, value in obj.items():
            found += _non_finite(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)
    return found


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """Read a local weights file with safetensors or ``torch.load(map_location="cpu", weights_only=True)``.

    The suffix (any case: ``.safetensors``, ``.SAFETENSORS``) picks the loader tried first; when it
    fails, the other is tried, so a mislabelled file still loads.

    Returns:
        the file's top-level mapping (a state dict, or a wrapper such as ``{"state_dict": ...}``).

    Raises:
        WeightsError: missing file; a pickle that would run code (refused, never run); a file neither
            loader reads ("neither a safetensors file nor a torch state dict"); not a mapping; NaN or
            infinite values in a tensor (non-finite weights, naming the tensor). One line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    loaders = [("safetensors", _load_safetensors), ("torch.load", _load_torch)]
    if path.suffix.lower() != ".safetensors":
        loaders.reverse()
    failures: list[str] = []
    refused: str | None = None
    obj: Any = None
    for name, loader in loaders:
        try:
            obj = loader(path)
            break
        except Exception as exc:  # not this format, corrupt, or an unsafe pickle refused
            refused = refused or (_unsafe_pickle(exc) if name == "torch.load" else None)
            failures.append(f"{name}: {describe(exc)}")
    else:
        if refused:  # a pickle, but one the safe unpickler will not load
            raise WeightsError(f"{path}: cannot read weights safely: torch.load(weights_only=True) refused this "
                               f"pickle ({refused}); nothing in it was run")
        raise WeightsError(f"{path}: neither a safetensors file nor a torch state dict ({'; '.join(failures)})")
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: expected a state dict, found {type(obj).__name__}")
    bad = _non_finite(obj)
    if bad:
        key, count = bad[0]
        more = f" (and {len(bad) - 1} more tensors)" if len(bad) > 1 else ""
        raise WeightsError(f"{path}: non-finite weights: tensor {key!r} has {count} NaN/inf values{more}")
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
