"""The one seed function: the same global generator states as Lightning's ``seed_everything``."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from echobench.engine.seeding import seed_everything
from echobench.errors import ConfigError


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seed_everything_matches_lightning_and_refuses_bad_seeds(monkeypatch) -> None:
    from lightning.fabric.utilities.seed import seed_everything as lightning_seed

    for name in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):  # restored after the test
        monkeypatch.delenv(name, raising=False)
    assert seed_everything(7) == 7
    ours = _draws()
    assert os.environ["PL_GLOBAL_SEED"] == "7"
    lightning_seed(7, verbose=False)
    assert _draws() == ours
    seed_everything(8)
    assert _draws() != ours
    with pytest.raises(ConfigError, match=r"--seed -1 is outside"):
        seed_everything(-1)
    with pytest.raises(ConfigError, match=r"--seed 4294967296 is outside"):
        seed_everything(2**32)
