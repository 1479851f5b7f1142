"""The one seed function of fine-tuning and pre-training (issue 14 item 6).

:func:`seed_everything` seeds every global generator a run may draw from: Python's ``random``,
NumPy's legacy global generator and torch's (CPU and every CUDA device). It does what
``lightning.fabric.utilities.seed.seed_everything`` does (the same generator calls, so a run's
numbers are unchanged by the swap), including exporting ``PL_GLOBAL_SEED`` for the processes and samplers Fabric
creates, without importing Lightning. Per-step and per-sample seeds are derived from the run's seed
elsewhere (:func:`echobench.engine.loop.step_seed`, :func:`echobench.data.pretrain_clips.derive_seed`)
and never depend on the global state.
"""

from __future__ import annotations

import os
import random

import numpy as np

from echobench.errors import ConfigError

MAX_SEED = 2**32 - 1  # NumPy's global generator takes a 32-bit seed


def seed_everything(seed: int) -> int:
    """Seed ``random``, ``numpy.random`` and torch (all devices) with ``seed``; returns it.

    Raises:
        ConfigError: ``seed`` outside ``[0, 2**32 - 1]`` (a user's ``--seed``: one line).
    """
    import torch

    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed {seed} is outside [0, {MAX_SEED}]")
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed
