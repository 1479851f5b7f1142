"""Safe weight loading: only safetensors or torch.load(weights_only=True); unsafe pickles refused."""

from __future__ import annotations

import pickle

import pytest
import torch

from echobench.errors import WeightsError
from echobench.models.weights import load_state, read_state_dict

MARKER = "echobench-pwned-marker"


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):  # unpickling this would create a file: code execution
        return (open, (self.path, "w"))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / MARKER
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"weight": _Evil(str(marker))}, fh)
    with pytest.raises(WeightsError, match="evil.pt: cannot read weights safely") as info:
        read_state_dict(evil)
    assert "\n" not in str(info.value)
    assert not marker.exists()  # the payload never ran


def test_missing_and_non_mapping_files(tmp_path):
    with pytest.raises(WeightsError, match="weights file not found"):
        read_state_dict(tmp_path / "nope.safetensors")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(WeightsError, match="expected a state dict, found list"):
        read_state_dict(tmp_path / "list.pt")


def test_load_state_reports_and_rejects(tmp_path):
    model = torch.nn.Linear(3, 2)
    report = load_state(model, {"weight": torch.ones(2, 3), "extra": torch.zeros(1)}, "w.pt")
    assert report.missing == ["bias"] and report.unexpected == ["extra"]
    assert torch.equal(model.weight, torch.ones(2, 3))
    with pytest.raises(WeightsError, match="no key matches"):
        load_state(model, {"other": torch.zeros(1)}, "w.pt")
    with pytest.raises(WeightsError, match="does not fit the model"):
        load_state(model, {"weight": torch.ones(5, 5)}, "w.pt")
