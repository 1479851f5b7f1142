"""Training defaults are defined once (echobench/defaults.py): the library configs and the CLI agree."""

from __future__ import annotations

import dataclasses
import inspect

from echobench import defaults


def _cli_default(command, name: str):
    return inspect.signature(command).parameters[name].default


def test_library_and_cli_defaults_are_the_same_numbers() -> None:
    from echobench.cli.pretrain import pretrain as pretrain_command
    from echobench.cli.run import run as run_command
    from echobench.engine.loop import TrainSettings
    from echobench.engine.pretrain_loop import PretrainConfig
    from echobench.runner import RunConfig

    run_cfg = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    train = TrainSettings()
    for name, value in (("epochs", defaults.EPOCHS), ("batch_size", defaults.BATCH_SIZE), ("lr", defaults.LR)):
        assert run_cfg[name] == getattr(train, name) == _cli_default(run_command, name) == value, name
    assert run_cfg["weight_decay"] == train.weight_decay == defaults.WEIGHT_DECAY
    assert run_cfg["n_boot"] == _cli_default(run_command, "n_boot") == defaults.N_BOOT
    pre = {f.name: f.default for f in dataclasses.fields(PretrainConfig)}
    assert pre["batch_size"] == _cli_default(pretrain_command, "batch_size") == defaults.PRETRAIN_BATCH_SIZE
    assert pre["lr"] == _cli_default(pretrain_command, "lr") == defaults.PRETRAIN_LR
    assert (pre["weight_decay"], pre["warmup_fraction"]) == (defaults.PRETRAIN_WEIGHT_DECAY,
                                                             defaults.PRETRAIN_WARMUP_FRACTION)
