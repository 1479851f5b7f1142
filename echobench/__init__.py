"""echobench: a plugin-based benchmark harness for echocardiogram video models.

Reproduces the EchoVisionFM study (Echo-VideoMAE pre-training, STFF-Net fine-tuning on
EchoNet-Dynamic) and runs every model of that comparison, and third-party plugins, under one
versioned protocol. See README.md and DESIGN.md.

Importing this package is cheap: it does not import torch.
"""

__version__ = "0.1.0"

from echobench.hookspecs import hookimpl  # noqa: E402  (re-exported for plugins)

__all__ = ["__version__", "hookimpl"]
