"""Our encoders side by side with their Hugging Face reference implementations, same config and weights.

- ``videomae``: :class:`echobench_videomae.encoder.VideoMAEEncoder` (final LayerNorm, no input
  normalisation) against ``transformers.VideoMAEModel`` (``use_mean_pooling=False``);
- ``vivit``: :class:`echobench_vivit.model.ViViT` against ``transformers.VivitModel``
  (``add_pooling_layer=False``), comparing the full last hidden state (CLS included).

Both sides get the sizes of the VideoMAE preset table (``tiny`` 64/2/2, ``small`` 384/12/6, ``base``
768/12/12, ``large`` 1024/24/16; MLP 4x), the same clip geometry, and the same weights: the HF
model is initialised and its state dict converted into ours with the plugins' own key mapping
(strict load). HF runs with ``attn_implementation="sdpa"``, its fastest built-in attention here,
and receives ``pixel_values (B, T, 3, H, W)`` prepared outside the timed region. The largest
absolute difference of the outputs is recorded as proof that the two compute the same function.

Timed work: a forward pass (``inference_mode``), and a training step (forward, mean-square loss
of the hidden states, backward, AdamW step), interleaved round by round (see
:mod:`echobench.bench.timing`); the ratio ours/HF is the median of per-round ratios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from echobench.bench.models import BenchSettings, autocast, compile_if_asked, torch_dtype
from echobench.bench.timing import interleaved, median, median_ratio
from echobench.errors import ConfigError

PEERS = ("videomae", "vivit")
PEER_LABELS = {"videomae": "transformers.VideoMAEModel", "vivit": "transformers.VivitModel"}


@dataclass
class PeerPair:
    """Two modules computing the same function: ``ours(ours_input)`` and ``peer(peer_input)`` each
    return hidden states ``(B, N, D)``."""

    name: str
    preset: str
    ours: Any
    peer: Any
    ours_input: Any
    peer_input: Any
    max_abs_diff: float = math.nan


@dataclass
class PeerThroughput:
    """Clips/s of ours and the peer (inference and training step) and the per-round median ratios
    ours/peer (> 1: ours is faster)."""

    name: str
    peer: str
    preset: str
    max_abs_diff: float = math.nan
    ours_infer_clips_per_s: float = math.nan
    peer_infer_clips_per_s: float = math.nan
    infer_ratio: float = math.nan
    ours_train_clips_per_s: float = math.nan
    peer_train_clips_per_s: float = math.nan
    train_ratio: float = math.nan
    skipped: str = ""


def _sizes(preset: str) -> dict[str, int]:
    from echobench_videomae.encoder import PRESETS

    if preset not in PRESETS:
        raise ConfigError(f"no peer comparison size for preset {preset!r}; choose from {', '.join(PRESETS)}")
    return dict(PRESETS[preset])


def _hf():
    try:
        import transformers
    except ImportError as exc:
        raise ConfigError("the Hugging Face comparison needs `transformers` (pip install 'echobench[bench]')") from exc
    return transformers


def videomae_pair(preset: str, settings: BenchSettings) -> PeerPair:
    """Our VideoMAE encoder and ``transformers.VideoMAEModel``, same config and weights.

    Raises:
        ConfigError: unknown preset, or ``transformers`` not installed.
    """
    from echobench_videomae.convert import convert_hf_videomae_state_dict
    from echobench_videomae.encoder import VideoMAEEncoder

    s, transformers = _sizes(preset), _hf()
    config = transformers.VideoMAEConfig(
        hidden_size=s["embed_dim"], num_hidden_layers=s["depth"], num_attention_heads=s["num_heads"],
        intermediate_size=4 * s["embed_dim"], image_size=settings.size, num_frames=settings.frames,
        tubelet_size=2, patch_size=16, qkv_bias=True, use_mean_pooling=False, layer_norm_eps=1e-6,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
    torch.manual_seed(0)
    peer = transformers.VideoMAEModel(config)
    ours = VideoMAEEncoder(**s, final_norm=True, input_mean=None)
    ours.load_state_dict(convert_hf_videomae_state_dict(peer.state_dict()), strict=True)
    return _finish(PeerPair("videomae", preset, _Tokens(ours), _Hidden(peer), None, None), settings)


def vivit_pair(preset: str, settings: BenchSettings) -> PeerPair:
    """Our ViViT and ``transformers.VivitModel``, same config and weights.

    Raises:
        ConfigError: unknown preset, or ``transformers`` not installed.
    """
    from echobench_vivit.convert import convert_hf_vivit_state_dict
    from echobench_vivit.model import ViViT

    s, transformers = _sizes(preset), _hf()
    config = transformers.VivitConfig(
        hidden_size=s["embed_dim"], num_hidden_layers=s["depth"], num_attention_heads=s["num_heads"],
        intermediate_size=4 * s["embed_dim"], image_size=settings.size, num_frames=settings.frames,
        tubelet_size=[2, 16, 16], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        attn_implementation="sdpa")
    torch.manual_seed(0)
    peer = transformers.VivitModel(config, add_pooling_layer=False)
    ours = ViViT(embed_dim=s["embed_dim"], depth=s["depth"], num_heads=s["num_heads"], mlp_dim=4 * s["embed_dim"],
                 num_frames=settings.frames, image_size=settings.size, input_mean=None)
    ours.load_state_dict(convert_hf_vivit_state_dict(peer.state_dict()), strict=True)
    return _finish(PeerPair("vivit", preset, _WithCls(ours), _Hidden(peer), None, None), settings)


class _Tokens(nn.Module):
    """Our VideoMAE encoder: clip ``(B, 3, T, H, W)`` -> tokens ``(B, L, D)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.net(clip).tokens


class _WithCls(_Tokens):
    """Our ViViT: clip ``(B, 3, T, H, W)`` -> hidden states with CLS ``(B, 1+L, D)``."""

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.net.forward_with_cls(clip)


class _Hidden(_Tokens):
    """A Hugging Face model: ``pixel_values (B, T, 3, H, W)`` -> ``last_hidden_state``."""

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_values=pixel_values).last_hidden_state


def _finish(pair: PeerPair, settings: BenchSettings) -> PeerPair:
    """Move both to the device (compiled alike with ``--compile``), make the inputs, and record the
    output difference (float32, eval)."""
    gen = torch.Generator().manual_seed(0)
    clip = torch.rand((settings.batch, 3, *settings.clip_shape), generator=gen)
    pair.ours = compile_if_asked(pair.ours.to(settings.device).eval(), settings)
    pair.peer = compile_if_asked(pair.peer.to(settings.device).eval(), settings)
    pair.ours_input = clip.to(settings.device)
    pair.peer_input = clip.permute(0, 2, 1, 3, 4).contiguous().to(settings.device)
    with torch.inference_mode():
        pair.max_abs_diff = float((pair.ours(pair.ours_input) - pair.peer(pair.peer_input)).abs().max())
    return pair


def _steps(module, x, settings: BenchSettings) -> tuple[Callable[[], Any], Callable[[], Any]]:
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)

    def infer():
        module.eval()
        with torch.inference_mode(), autocast(settings.device, settings.dtype):
            return module(x)

    def train():
        module.train()
        with autocast(settings.device, settings.dtype):
            loss = module(x).float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return infer, train


def bench_peer(name: str, preset: str, settings: BenchSettings) -> PeerThroughput:
    """Build the pair ``name`` (``videomae`` or ``vivit``) at ``preset`` and time it (see module docstring).

    Running out of memory or an input the models reject (``ValueError``/``RuntimeError``) is not an
    error: the result is returned with ``skipped`` set to a one-line reason.

    Raises:
        ConfigError: unknown peer or preset, or ``transformers`` missing.
    """
    builders = {"videomae": videomae_pair, "vivit": vivit_pair}
    if name not in builders:
        raise ConfigError(f"unknown peer comparison {name!r}; choose from {', '.join(PEERS)}")
    torch_dtype(settings.dtype)
    result = PeerThroughput(name=name, peer=PEER_LABELS[name], preset=preset)
    try:
        pair = builders[name](preset, settings)
        result.max_abs_diff = pair.max_abs_diff
        ours_infer, ours_train = _steps(pair.ours, pair.ours_input, settings)
        peer_infer, peer_train = _steps(pair.peer, pair.peer_input, settings)
        samples = interleaved({"ours_infer": ours_infer, "peer_infer": peer_infer, "ours_train": ours_train,
                               "peer_train": peer_train}, repeats=settings.repeats, device=settings.device,
                              min_seconds=settings.min_seconds)
    except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
        result.skipped = f"out of memory at batch {settings.batch}, input {settings.input_label} ({type(exc).__name__})"
        return result
    except (ValueError, RuntimeError) as exc:  # e.g. a size the patches do not divide
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        result.skipped = f"cannot run at input {settings.input_label}: {type(exc).__name__}: {first}"
        return result
    finally:
        if settings.device.startswith("cuda"):
            torch.cuda.empty_cache()
    b = settings.batch
    for mode in ("infer", "train"):
        setattr(result, f"ours_{mode}_clips_per_s", b / median(samples[f"ours_{mode}"]))
        setattr(result, f"peer_{mode}_clips_per_s", b / median(samples[f"peer_{mode}"]))
        setattr(result, f"{mode}_ratio", median_ratio(samples[f"peer_{mode}"], samples[f"ours_{mode}"]))
    return result
