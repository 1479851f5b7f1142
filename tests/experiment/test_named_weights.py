"""Weights as names (issue 14 item 2): a declared ``arch.tag`` entry resolves to its file in the
weights folder with its sha256 checked, a user's file to its base name and sha256; records store the
name and the hash, never the path."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest
import torch

from echobench import BackboneSpec, WeightsSpec, hookimpl
from echobench.errors import UnknownNameError, WeightsError
from echobench.experiment.weights import resolve_weights
from echobench.registry import build_registry
from echobench.results.records import read_records
from echobench.runner import RunConfig, run_experiment


def tiny_resnet_file(path) -> str:
    """A torchvision-layout R3D-18 (tiny preset) state dict at ``path``; returns its sha256."""
    from echobench_videoresnet.model import PRESETS, VideoResNetBackbone

    torch.manual_seed(0)
    torch.save(VideoResNetBackbone(variant="r3d_18", layers=PRESETS["tiny"], preset="tiny").state_dict(), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def toy_spec(sha256: str) -> BackboneSpec:
    return BackboneSpec(name="toy-resnet", summary="s", factory="echobench_videoresnet.model:build_video_resnet",
                        presets=("tiny",), inputs=(), token_grid="echobench_videoresnet.model:token_grid",
                        weights=(WeightsSpec(tag="toy", file="toy.pt", sha256=sha256, source="made by this test",
                                             licence="CC0"),))


def test_a_declared_name_resolves_in_the_weights_folder_with_its_hash_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("ECHOBENCH_WEIGHTS", str(tmp_path))
    digest = tiny_resnet_file(tmp_path / "toy.pt")
    got = resolve_weights(toy_spec(digest), "toy-resnet.toy")
    assert (got.name, got.path, got.sha256) == ("toy-resnet.toy", str(tmp_path / "toy.pt"), digest)
    with pytest.raises(WeightsError, match=r"^weights toy-resnet.toy: .*toy.pt has sha256 .*the spec declares"):
        resolve_weights(toy_spec("0" * 64), "toy-resnet.toy")
    with pytest.raises(UnknownNameError, match=r"did you mean 'toy-resnet.toy'\?"):
        resolve_weights(toy_spec(digest), "toy-resnet.tyo")
    (tmp_path / "toy.pt").unlink()
    with pytest.raises(WeightsError, match=r"toy.pt not found; get toy.pt from made by this test \(licence: CC0\)"):
        resolve_weights(toy_spec(digest), "toy-resnet.toy")


def test_a_users_file_is_recorded_by_base_name_and_sha256(tmp_path):
    digest = tiny_resnet_file(tmp_path / "mine.pt")
    got = resolve_weights(toy_spec(digest), str(tmp_path / "mine.pt"))
    assert (got.name, got.sha256) == ("mine.pt", digest)
    assert resolve_weights(toy_spec(digest), None).name == "random init"


def test_a_run_from_named_weights_records_the_name_and_hash_not_the_path(synth_tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("ECHOBENCH_WEIGHTS", str(tmp_path / "weights"))
    (tmp_path / "weights").mkdir()
    digest = tiny_resnet_file(tmp_path / "weights" / "toy.pt")

    class Plugin:
        @hookimpl
        def register_backbones(self, register):
            register(toy_spec(digest))

    registry = build_registry()
    registry.register_plugin(Plugin(), "toy-weights")
    cfg = RunConfig(backbone="toy-resnet", head="maxpool", task="ef", data=synth_tiny, preset="tiny",
                    weights="toy-resnet.toy", epochs=1, batch_size=4, n_boot=0, gpus=0,
                    results=tmp_path / "lb", runs=tmp_path / "runs")
    run_experiment(cfg, registry=registry)
    rows = read_records(tmp_path / "lb").filter(pl.col("backbone") == "toy-resnet")
    assert set(rows["weights"]) == {"toy-resnet.toy"} and set(rows["weights_sha256"]) == {digest}
    constant = read_records(tmp_path / "lb").filter(pl.col("backbone") == "-")
    assert constant["weights_sha256"].is_null().all()
