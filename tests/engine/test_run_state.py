"""Unusable run checkpoints (issue 13 item 6): ``run_state.load`` checks the counters, the weights,
the optimizer and the scheduler states before touching the model, and names the file at fault."""

from __future__ import annotations

import json

import pytest
import torch

from echobench.engine import run_state
from echobench.engine.loop import FitState
from echobench.errors import WeightsError


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder, self.adapter = torch.nn.Linear(4, 3), torch.nn.Linear(3, 1)

    def forward(self, x):
        return self.adapter(self.encoder(x))


def _saved(tmp_path):
    torch.manual_seed(0)
    model = Tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    state = FitState(epoch=1, step=0, global_step=1, train_loss=[1.0], val_score=[float("nan")], best_epoch=0,
                     optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict())
    folder = run_state.save(tmp_path, model, state)
    return folder


def _fresh():
    torch.manual_seed(1)
    return Tiny()


def _unchanged(model, before) -> bool:
    return all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_good_checkpoint_loads(tmp_path):
    _saved(tmp_path)
    model = _fresh()
    state = run_state.load(tmp_path, model)
    assert state.epoch == 1 and state.global_step == 1 and state.optimizer is not None


@pytest.mark.parametrize("drop", ["epoch", "val_score", "global_step"])
def test_state_json_missing_a_counter_names_it(tmp_path, drop):
    folder = _saved(tmp_path)
    state = json.loads((folder / "state.json").read_text())
    del state["meta"][drop]
    (folder / "state.json").write_text(json.dumps(state))
    model = _fresh()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError, match=rf"^{folder / 'state.json'}: '{drop}' is missing$"):
        run_state.load(tmp_path, model)
    assert _unchanged(model, before)


def _break_training_state(folder, change) -> None:
    training = torch.load(folder / "training_state.pt", weights_only=True)
    change(training)
    torch.save(training, folder / "training_state.pt")


def _wrong_moment_shape(t):
    first = next(iter(t["optimizer"]["state"]))
    t["optimizer"]["state"][first]["exp_avg"] = torch.zeros(7, 7)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.update(optimizer=None), "optimizer state missing or malformed"),
    (lambda t: t["optimizer"].pop("param_groups"), "optimizer state missing or malformed"),
    (lambda t: t["optimizer"]["param_groups"][0].update(params=[0, 1]), "optimizer state does not fit"),
    (_wrong_moment_shape, "optimizer state exp_avg has shape (7, 7)"),
    (lambda t: t["scheduler"].pop("last_epoch"), "scheduler state missing or malformed"),
])
def test_broken_optimizer_or_scheduler_state_is_unusable(tmp_path, change, message):
    folder = _saved(tmp_path)
    _break_training_state(folder, change)
    model = _fresh()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError) as info:
        run_state.load(tmp_path, model)
    assert str(info.value).startswith(f"{folder / 'training_state.pt'}: {message}"), str(info.value)
    assert _unchanged(model, before)


def test_weights_of_another_shape_leave_the_model_untouched(tmp_path):
    _saved(tmp_path)
    model = _fresh()
    model.encoder = torch.nn.Linear(4, 5)
    model.adapter = torch.nn.Linear(5, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError, match="has shape"):
        run_state.load(tmp_path, model)
    assert _unchanged(model, before)


def test_set_aside_moves_the_unusable_checkpoint_out_of_the_way(tmp_path):
    folder = _saved(tmp_path)
    aside = run_state.set_aside_latest(tmp_path)
    assert aside == tmp_path / f"unusable-{folder.name}" and aside.is_dir() and run_state.latest(tmp_path) is None
