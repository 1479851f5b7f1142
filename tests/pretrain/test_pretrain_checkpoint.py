"""Generic atomic training checkpoints (echobench/engine/checkpoint.py)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from echobench.engine.checkpoint import (capture_rng, latest_checkpoint, list_checkpoints, load_checkpoint,
                                         restore_rng, save_checkpoint)
from echobench.errors import WeightsError


def _trained(steps: int = 2):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (1 + s))
    for _ in range(steps):
        model(torch.randn(3, 4)).square().mean().backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def test_round_trip_restores_model_optimizer_scheduler_and_rng(tmp_path) -> None:
    model, optimizer, scheduler = _trained()
    random.seed(5)
    np.random.seed(6)
    torch.manual_seed(7)
    rng = capture_rng()
    expected = (random.random(), np.random.rand(), torch.rand(1))
    path = save_checkpoint(tmp_path, 2, model=model.state_dict(), optimizer=optimizer.state_dict(),
                           scheduler=scheduler.state_dict(), rng=rng, meta={"config": {"lr": 0.01}})
    assert path.name == "checkpoint-00000002" and (path / "model.safetensors").is_file()
    ckpt = load_checkpoint(path)
    assert ckpt.step == 2 and ckpt.meta == {"config": {"lr": 0.01}}
    fresh, fresh_opt, fresh_sched = _trained(steps=0)
    fresh.load_state_dict(ckpt.model)
    fresh_opt.load_state_dict(ckpt.optimizer)
    fresh_sched.load_state_dict(ckpt.scheduler)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    assert fresh_sched.last_epoch == 2 and fresh_sched.get_last_lr() == scheduler.get_last_lr()
    for group in (optimizer, fresh_opt):  # the next step is identical
        group.param_groups[0]["params"][0].grad = torch.ones(8, 4)
        group.step()
    assert torch.equal(model[0].weight, fresh[0].weight)
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    restore_rng(ckpt.rng)
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected


def test_keeps_latest_k_and_ignores_and_cleans_temporary_folders(tmp_path) -> None:
    model, _, _ = _trained(steps=0)
    stale = tmp_path / ".checkpoint-00000009.tmp-dead"  # what a kill during a save leaves
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half")
    assert latest_checkpoint(tmp_path) is None
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model=model.state_dict(), keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 3]
    assert latest_checkpoint(tmp_path).name == "checkpoint-00000003"
    assert not stale.exists()
    save_checkpoint(tmp_path, 3, model=model.state_dict(), meta={"again": True}, keep=2)  # same step: replaced
    assert load_checkpoint(latest_checkpoint(tmp_path)).meta == {"again": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-00000002", "checkpoint-00000003"]


class Exploit:  # a pickle that would run code when loaded
    def __reduce__(self):
        return (print, ("pwned",))


def test_refuses_unsafe_pickles_and_broken_folders(tmp_path) -> None:
    model, _, _ = _trained(steps=0)
    path = save_checkpoint(tmp_path, 1, model=model.state_dict())
    torch.save({"optimizer": Exploit()}, path / "training_state.pt")
    with pytest.raises(WeightsError, match=r"training_state.pt: cannot read safely"):
        load_checkpoint(path)
    (path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(WeightsError, match=r"model.safetensors: cannot read"):
        load_checkpoint(path)
    (path / "state.json").write_text(json.dumps({"format": 99, "step": 1}))
    with pytest.raises(WeightsError, match="unknown checkpoint format"):
        load_checkpoint(path)
    with pytest.raises(WeightsError, match="not a checkpoint"):
        load_checkpoint(tmp_path)


def _torch_save_disk_full(*args, **kwargs):  # what torch.save raises when the disk fills mid-write
    raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
                       "data/0: file write failed")


def _safetensors_disk_full(*args, **kwargs):
    from safetensors import SafetensorError

    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


@pytest.mark.parametrize("module, name, fail, file", [
    ("torch", "save", _torch_save_disk_full, "training_state.pt"),
    ("safetensors.torch", "save_file", _safetensors_disk_full, "model.safetensors")])
def test_a_failed_write_names_the_file_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, module, name, fail,
                                                                           file) -> None:
    import importlib

    from echobench.errors import WriteError

    model, optimizer, _ = _trained()
    good = save_checkpoint(tmp_path, 1, model=model.state_dict(), optimizer=optimizer.state_dict(), keep=1)
    monkeypatch.setattr(importlib.import_module(module), name, fail)
    with pytest.raises(WriteError) as info:
        save_checkpoint(tmp_path, 2, model=model.state_dict(), optimizer=optimizer.state_dict(), keep=1)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'checkpoint-00000002' / file}: cannot write checkpoint (")
    assert f"the last good checkpoint is kept: {good}" in message and "\n" not in message and info.value.kept
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [good.name]  # no half-written or temporary folder
    assert load_checkpoint(good).step == 1
    with monkeypatch.context() as patch:  # the very first checkpoint: nothing earlier to keep
        patch.setattr(importlib.import_module(module), name, fail)
        with pytest.raises(WriteError, match="no earlier checkpoint to keep"):
            save_checkpoint(tmp_path / "fresh", 1, model=model.state_dict())
