"""The one place echobench imports Lightning Fabric, and only Fabric (issue 15 item 5).

``from lightning.fabric import Fabric`` imports the whole unified ``lightning`` package (its
``__init__`` loads ``lightning.pytorch`` too), and even the standalone ``lightning_fabric`` imports
all of ``torchmetrics`` (``torchmetrics.functional`` -> ``torchvision.models`` -> ``torch._dynamo``,
scipy, sympy, transformers, matplotlib) for one version check:
``lightning_fabric/utilities/imports.py``: ``_TORCHMETRICS_GREATER_EQUAL_1_0_0 =
compare_version("torchmetrics", ...)``, and ``lightning_utilities.core.imports.compare_version``
imports the package to read ``__version__``. Fabric uses torchmetrics nowhere else at import time
(only inside ``SpikeDetection`` and FSDP's metric move, which import it when called). So while
``lightning_fabric`` is imported, and only when ``torchmetrics`` is not imported yet, a module object
carrying torchmetrics' installed version (``importlib.metadata``) answers that check, and is removed
again afterwards: the check's result is the same, and a later ``import torchmetrics`` (``run``'s
metrics) imports the real package. ``benchmarks/test_import_cost.py`` measures the saving.
"""

from __future__ import annotations

import importlib.metadata
import sys
import types


def _fabric_module():
    """``lightning_fabric``, imported without importing ``torchmetrics`` for its version check."""
    if "lightning_fabric" in sys.modules or "torchmetrics" in sys.modules:
        import lightning_fabric

        return lightning_fabric
    stand_in = types.ModuleType("torchmetrics")
    try:
        stand_in.__version__ = importlib.metadata.version("torchmetrics")
    except importlib.metadata.PackageNotFoundError:
        stand_in = None  # not installed: Fabric's own check says so
    if stand_in is not None:
        sys.modules["torchmetrics"] = stand_in
    try:
        import lightning_fabric
    finally:
        if stand_in is not None and sys.modules.get("torchmetrics") is stand_in:
            del sys.modules["torchmetrics"]
    return lightning_fabric


def __getattr__(name: str):
    """``Fabric``, ``DDPStrategy`` and ``seed_everything`` of ``lightning_fabric``, imported on first use."""
    if name == "Fabric":
        return _fabric_module().Fabric
    if name == "DDPStrategy":
        _fabric_module()
        from lightning_fabric.strategies import DDPStrategy

        return DDPStrategy
    if name == "seed_everything":
        _fabric_module()
        from lightning_fabric.utilities.seed import seed_everything

        return seed_everything
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
