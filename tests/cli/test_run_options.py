"""Every plugin option reachable from the CLI (issue 12 item 6): ``--backbone-option`` /
``--head-option`` against the declared schema, a variant in the backbone name, and EchoNet-Dynamic's
R(2+1)D-18 release layout loading through ``run --weights``."""

from __future__ import annotations

import polars as pl
import pytest
import torch
from typer.testing import CliRunner

from echobench.cli.main import app

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py


def _echonet_release_file(path, *, variant: str) -> None:
    """A state dict in the layout of EchoNet-Dynamic's released ``r2plus1d_18_32_2_pretrained.pt``:
    ``{"state_dict": {"module.<torchvision key>": ...}, "epoch": ...}`` with its one-output ``fc`` (EF
    regressor), made here for the ``tiny`` preset (blocks 1/1/1/1) so the test stays fast."""
    from echobench_videoresnet.model import PRESETS, VideoResNetBackbone

    torch.manual_seed(0)
    net = VideoResNetBackbone(variant=variant, layers=PRESETS["tiny"], preset="tiny")
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    state["module.fc.weight"], state["module.fc.bias"] = torch.zeros(1, 512), torch.tensor([55.6])
    torch.save({"state_dict": state, "epoch": 45, "best_loss": 30.1}, path)


def _run(args, synth_tiny, tmp_path):
    return CliRunner().invoke(app, ["run", "--head", "maxpool", "--preset", "tiny", "--data", str(synth_tiny),
                                    "--epochs", "1", "--batch-size", "4", "--gpus", "0", "--n-boot", "0",
                                    "--results", str(tmp_path / "lb"), "--runs", str(tmp_path / "runs"), *args])


@pytest.mark.slow
def test_echonet_r2plus1d_release_layout_loads_from_the_cli_with_a_variant_name(synth_tiny, tmp_path):
    weights = tmp_path / "r2plus1d_18_32_2_pretrained.pt"
    _echonet_release_file(weights, variant="r2plus1d_18")
    result = _run(["--backbone", "video-resnet:r2plus1d_18", "--weights", str(weights)], synth_tiny, tmp_path)
    assert result.exit_code == 0, result.output
    records = pl.read_parquet(next((tmp_path / "lb").rglob("*.parquet")))
    assert set(records.filter(pl.col("backbone") != "-")["backbone"]) == {"video-resnet:r2plus1d_18"}


def test_weights_of_another_variant_say_which(synth_tiny, tmp_path):
    weights = tmp_path / "r2plus1d_18_32_2_pretrained.pt"
    _echonet_release_file(weights, variant="r2plus1d_18")
    result = _run(["--backbone", "video-resnet", "--weights", str(weights)], synth_tiny, tmp_path)
    # the run's log lines precede it on a redirected stderr; the failure itself is one error line
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "shape mismatches for r3d_18" in lines[0]
    assert "fits variant 'r2plus1d_18' preset 'tiny': use --backbone video-resnet:r2plus1d_18" in lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["--backbone", "video-resnet", "--backbone-option", "varaint=mc3_18"],
     "backbone 'video-resnet' has no option 'varaint'; did you mean 'variant'?"),
    (["--backbone", "video-resnet", "--backbone-option", "variant=r2plus1d_19"],
     "option variant 'r2plus1d_19'; did you mean 'r2plus1d_18'?"),
    (["--backbone", "video-resnet:r2plus1d_19"], "did you mean 'r2plus1d_18'?"),
    (["--backbone", "echo-videomae:foo"], "has no variants"),
    (["--backbone", "echo-videomae", "--backbone-option", "drop_path_rate=lots"], "drop_path_rate='lots': expected float"),
    (["--backbone", "echo-videomae", "--backbone-option", "drop_path_rate"], "expected KEY=VALUE"),
    (["--backbone", "echo-videomae", "--head-option", "attn_dim=8"], "head 'maxpool' has no option 'attn_dim'"),
])
def test_undeclared_options_are_one_line_errors_before_any_work(args, message, synth_tiny, tmp_path):
    result = _run(args, synth_tiny, tmp_path)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "runs").exists()


def test_declared_options_reach_the_factory():
    from echobench.engine.model import build_model, parse_model_options
    from echobench.registry import get_registry

    registry = get_registry()
    b, h = parse_model_options(registry, backbone="video-resnet", head="stff",
                               backbone_pairs=["variant=mc3_18"], head_pairs=["attn_dim=8"])
    assert b == {"variant": "mc3_18"} and h == {"attn_dim": 8}
    model = build_model(registry, backbone="video-resnet", head="stff", preset="tiny", backbone_options=b,
                        head_options=h, clip_shape=(4, 32, 32))
    assert model.backbone.variant == "mc3_18" and model.head.joint_pool.V.out_features == 8
    tagged = build_model(registry, backbone="video-resnet:r2plus1d_18", head="maxpool", preset="tiny")
    assert tagged.backbone.variant == "r2plus1d_18"


def test_pretrainer_options_come_from_its_declared_schema(tmp_path):
    from echobench.cli.pretrain import pretrainer_options
    from echobench.errors import ConfigError

    assert pretrainer_options("echo-videomae", ["frames=8", "flips=false"], {"preset": "tiny", "size": 32}) == {
        "preset": "tiny", "size": 32, "frames": 8, "flips": False}
    with pytest.raises(ConfigError, match="no option 'mask_ration'; did you mean 'mask_ratio'"):
        pretrainer_options("echo-videomae", ["mask_ration=0.75"], {})
    with pytest.raises(ConfigError, match="unknown --masking 'cube'; did you mean 'tube'"):
        pretrainer_options("echo-videomae", [], {"masking": "cube"})
    result = CliRunner().invoke(app, ["pretrain", "echo-videomae", str(tmp_path), "--out", str(tmp_path / "out"),
                                      "--option", "strid=4"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "did you mean 'stride'" in lines[0], result.output
