"""echobench: a plugin-based benchmark harness for echocardiogram video models.

Reproduces the EchoVisionFM study (Echo-VideoMAE pre-training, STFF-Net fine-tuning on
EchoNet-Dynamic) and runs every model of that comparison, and third-party plugins, under one
versioned protocol. See README.md and DESIGN.md.

This package is the public face for plugins: every name of :mod:`echobench.contract` (hooks, specs,
options, ``Features``, the interfaces, the weight/preset/layer toolkit and the error types) is
re-exported here, so a plugin imports only ``echobench``. Importing it is cheap: it does not import
torch (names are resolved on first use).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from echobench import contract as _contract  # noqa: E402

__all__ = ["__version__", *_contract.__all__]


def __getattr__(name: str) -> Any:
    if name in _contract.__all__:
        value = getattr(_contract, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'echobench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
