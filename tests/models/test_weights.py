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


def test_suffix_is_case_insensitive_and_a_mislabelled_file_still_loads(tmp_path):
    from safetensors.torch import save_file

    save_file({"weight": torch.ones(2)}, str(tmp_path / "GOOD.SAFETENSORS"))
    assert torch.equal(read_state_dict(tmp_path / "GOOD.SAFETENSORS")["weight"], torch.ones(2))
    save_file({"weight": torch.ones(2)}, str(tmp_path / "really-safetensors.pt"))  # wrong suffix: the other loader
    assert list(read_state_dict(tmp_path / "really-safetensors.pt")) == ["weight"]
    torch.save({"weight": torch.zeros(2)}, tmp_path / "really-torch.safetensors")
    assert list(read_state_dict(tmp_path / "really-torch.safetensors")) == ["weight"]


@pytest.mark.parametrize("name", ["junk.safetensors", "junk.SafeTensors", "junk.pt", "junk"])
def test_a_file_neither_loader_reads_says_what_it_is_not(tmp_path, name):
    (tmp_path / name).write_bytes(b"these are not weights\n" * 20)
    with pytest.raises(WeightsError) as info:
        read_state_dict(tmp_path / name)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / name}: neither a safetensors file nor a torch state dict (")
    assert "UnpicklingError" not in message.split("(")[0] and "\n" not in message


def test_nan_weights_are_reported_as_non_finite_weights(tmp_path):
    from safetensors.torch import save_file

    save_file({"blocks.0.weight": torch.tensor([1.0, float("nan"), float("inf")]), "ok": torch.ones(1)},
              str(tmp_path / "nan.safetensors"))
    with pytest.raises(WeightsError, match=r"nan.safetensors: non-finite weights: tensor 'blocks.0.weight' has 2 "
                                           r"NaN/inf values$"):
        read_state_dict(tmp_path / "nan.safetensors")
    torch.save({"state_dict": {"fc.bias": torch.tensor([float("nan")])}}, tmp_path / "nested.pt")
    with pytest.raises(WeightsError, match="non-finite weights: tensor 'state_dict.fc.bias'"):
        read_state_dict(tmp_path / "nested.pt")


def test_run_with_nan_weights_says_non_finite_weights_not_diverged(synth_tiny, tmp_path):
    from safetensors.torch import save_file
    from typer.testing import CliRunner

    from echobench.cli.main import app

    save_file({"patch_embed.proj.weight": torch.full((2, 2), float("nan"))}, str(tmp_path / "NAN.SAFETENSORS"))
    result = CliRunner().invoke(app, ["run", "--backbone", "echo-videomae", "--head", "maxpool", "--data",
                                      str(synth_tiny), "--weights", str(tmp_path / "NAN.SAFETENSORS"), "--epochs", "1",
                                      "--gpus", "0", "--n-boot", "0", "--results", str(tmp_path / "lb"),
                                      "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {tmp_path / 'NAN.SAFETENSORS'}: non-finite weights: tensor 'patch_embed.proj.weight' "
                      "has 4 NaN/inf values"], result.stderr
    assert "diverged" not in result.output
