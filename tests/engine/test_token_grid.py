"""Declared token grids (issue 14 item 2): core builds grid-taking heads from the backbone spec's
``token_grid`` with no forward pass; every first-party backbone's declaration matches its forward; a
spec without one falls back to a probe forward with a FutureWarning."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from echobench import BackboneSpec, Features, HeadSpec, hookimpl
from echobench.engine.model import build_model
from echobench.errors import ConfigError
from echobench.registry import build_registry

CLIPS = [(4, 32, 32), (6, 48, 48), (5, 40, 40)]  # (T, H, W): small, and one not divisible by the strides


def declared_backbones() -> list[str]:
    registry = build_registry()
    names = []
    for name in registry.names("backbone"):
        spec = registry.get("backbone", name)
        if spec.token_grid is not None and "tiny" in spec.presets:
            variants = [o.choices for o in spec.options if o.name == spec.variant_option]
            names += [f"{name}:{v}" for v in variants[0]] if variants else [name]
    return names


@pytest.mark.parametrize("backbone", declared_backbones())
def test_every_declared_token_grid_matches_the_backbones_forward(backbone):
    registry = build_registry()
    spec = registry.get("backbone", backbone.partition(":")[0])
    for clip in CLIPS:
        options = {spec.variant_option: backbone.partition(":")[2]} if ":" in backbone else {}
        try:
            model = build_model(registry, backbone=backbone, head="maxpool", preset="tiny", clip_shape=clip).eval()
            with torch.no_grad():
                got = model.backbone(torch.zeros(1, 3, *clip), torch.arange(clip[0]).unsqueeze(0)).grid
        except (ConfigError, ValueError) as exc:  # a tubelet backbone refuses a clip its tubelets do not tile
            assert "divisible" in str(exc), (backbone, clip, exc)
            assert any(n % s for n, s in zip(clip, (2, 16, 16))), (backbone, clip)
            continue
        assert spec.grid(clip, {**spec.defaults, **options}) == tuple(got), (backbone, clip)


@pytest.mark.parametrize("backbone", ["echo-videomae", "videomae"])
@pytest.mark.parametrize("options", [{"patch_size": 32}, {"patch_size": 8, "tubelet_size": 1}])
def test_the_declared_grid_follows_the_tubelet_options(backbone, options):
    """``--backbone-option patch_size=32`` with a grid-taking head: the head is built for the grid the
    encoder really gives (was: the default 16-pixel grid, and STFF-Net's forward refused the tokens)."""
    registry = build_registry()
    clip = (4, 64, 64)
    model = build_model(registry, backbone=backbone, head="stff", preset="tiny", clip_shape=clip,
                        backbone_options=options).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, *clip), torch.arange(clip[0]).repeat(2, 1))
        got = model.backbone(torch.zeros(1, 3, *clip), torch.arange(clip[0]).unsqueeze(0)).grid
    spec = registry.get("backbone", backbone)
    assert out.shape == (2,) and spec.grid(clip, {**spec.defaults, **options}) == tuple(got)
    assert tuple(got) == (4 // options.get("tubelet_size", 2), 64 // options["patch_size"], 64 // options["patch_size"])


class NoForward(nn.Module):
    embed_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, clip, frame_indices):
        raise AssertionError("core ran a probe forward pass")


class Probed(NoForward):
    def forward(self, clip, frame_indices):
        t, h, w = clip.shape[2] // 2, clip.shape[3] // 16, clip.shape[4] // 16
        return Features(tokens=torch.zeros(clip.shape[0], t * h * w, 8), grid=(t, h, w), frame_indices=frame_indices)


class GridHead(nn.Module):
    out_dim = 8

    def __init__(self, *, dim: int, grid: tuple[int, int, int]) -> None:
        super().__init__()
        self.grid = grid


class Plugin:
    @hookimpl
    def register_backbones(self, register):
        register(BackboneSpec(name="declares-grid", summary="s", factory=f"{__name__}:NoForward", inputs=(),
                              token_grid=(2, 16, 16)))
        register(BackboneSpec(name="old-spec", summary="s", factory=f"{__name__}:Probed", inputs=()))

    @hookimpl
    def register_heads(self, register):
        register(HeadSpec(name="grid-head", summary="s", factory=f"{__name__}:GridHead", inputs=("grid",)))


@pytest.fixture
def registry():
    registry = build_registry()
    registry.register_plugin(Plugin(), "grid-test")
    yield registry
    registry.unregister_plugin("grid-test")


def test_a_declared_grid_builds_the_head_without_a_forward_pass(registry):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        model = build_model(registry, backbone="declares-grid", head="grid-head", clip_shape=(16, 224, 224))
    assert model.head.grid == (8, 14, 14)


def test_a_spec_without_a_grid_is_probed_for_one_release_with_a_future_warning(registry):
    with pytest.warns(FutureWarning, match="'old-spec' declares no token_grid"):
        model = build_model(registry, backbone="old-spec", head="grid-head", clip_shape=(32, 112, 112))
    assert model.head.grid == (16, 7, 7)


def test_options_whose_tubelets_do_not_tile_the_clip_are_one_config_error_before_training():
    """``--backbone-option patch_size=48`` on 224-pixel clips: refused when the model is built (a
    ConfigError naming the clip and the tubelet), not at the first forward pass mid-run."""
    registry = build_registry()
    for head in ("stff", "maxpool"):  # with a grid-taking head or not
        with pytest.raises(ConfigError, match=r"not divisible by the tubelet 2x48x48"):
            build_model(registry, backbone="echo-videomae", head=head, preset="tiny", clip_shape=(16, 224, 224),
                        backbone_options={"patch_size": 48})
