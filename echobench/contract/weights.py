"""Safe weight loading for plugins: the contract face of :mod:`echobench.models.weights`.

:func:`read_state_dict` reads a local file (safetensors, or ``torch.load(weights_only=True)``),
:func:`strip_prefix` removes a wrapper prefix such as ``nn.DataParallel``'s ``module.``, and
:func:`load_state` loads a state dict already in the model's layout, failing with one line.
"""

from __future__ import annotations

from typing import Any, Mapping

from echobench.models.weights import LoadReport, load_state, read_state_dict


def strip_prefix(state: Mapping[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Keys without a leading ``prefix`` (e.g. EchoNet-Dynamic's ``nn.DataParallel`` checkpoints);
    keys without it are kept as they are."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


__all__ = ["LoadReport", "load_state", "read_state_dict", "strip_prefix"]
