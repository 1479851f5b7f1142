"""Throughput benchmarks (issue 6): `echobench bench` writes a throughput record that
`echobench leaderboard --throughput` shows; the matmul peak; FLOP counting against hand counts; the
clip loader's sampled-frame decoding is bit-identical to decoding the whole video."""

from __future__ import annotations

import math
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from typer.testing import CliRunner

from echobench.bench.breakdown import op_class
from echobench.bench.flops import count_flops, count_flops_by_op, model_cost
from echobench.bench.loader import bench_loader
from echobench.bench.models import BenchSettings, bench_model
from echobench.bench.peak import matmul_peak
from echobench.cli.main import app
from echobench.data.clips import take_frames
from echobench.data.video import read_frames, read_video, write_avi
from echobench.registry import get_registry
from echobench.results.throughput import THROUGHPUT_SCHEMA, read_throughput


def test_matmul_peak_is_positive_and_a_median_of_its_samples():
    peak = matmul_peak("cpu", torch.float32, n=256, repeats=3, min_seconds=0.01)
    assert peak.gflops > 0 and len(peak.samples) == 3 and all(s > 0 for s in peak.samples)
    assert peak.gflops == sorted(peak.samples)[1] and peak.threads == torch.get_num_threads()


def test_flop_count_matches_hand_count_for_linear_and_conv():
    linear = torch.nn.Linear(32, 16)
    x = torch.randn(4, 32)
    assert count_flops(lambda: linear(x)) == 2 * 4 * 32 * 16  # multiply-adds count as 2; bias not counted
    # backward: grad of input (4x16 @ 16x32) and of weight (16x4 @ 4x32), each as many FLOPs as forward
    assert count_flops(lambda: linear(x.requires_grad_()).sum().backward()) == 3 * 2 * 4 * 32 * 16
    conv = torch.nn.Conv3d(3, 8, kernel_size=(2, 3, 3))
    clip = torch.randn(1, 3, 4, 8, 8)
    out_elements = 8 * 3 * 6 * 6  # (C_out, T-1, H-2, W-2)
    assert count_flops(lambda: conv(clip)) == 2 * out_elements * 3 * 2 * 3 * 3


def test_model_cost_counts_a_registered_model_on_the_meta_device():
    cost = model_cost(get_registry(), backbone="echo-videomae", head="maxpool", preset="tiny", clip_shape=(16, 112, 112))
    assert cost.total_params == cost.backbone_params + cost.head_params + 64 + 1  # + the Linear(64, 1) adapter
    # tiny ViT, D = 64, 2 blocks, L = 8*7*7 tokens: per block qkv + proj + MLP (4x) linears = 2*L*12*D^2, attention
    # QK^T and AV = 4*L^2*D; tubelet Conv3d = 2*L*D*(3*2*16*16); the max-pool head is free; adapter Linear(64, 1)
    tokens, dim = 392, 64
    hand = 2 * (2 * tokens * 12 * dim ** 2 + 4 * tokens ** 2 * dim) + 2 * tokens * dim * 3 * 2 * 16 * 16 + 2 * dim
    assert cost.forward_flops == hand
    assert 2 * cost.forward_flops < cost.train_flops < 3 * cost.forward_flops  # no input gradient for the clip


def test_cpu_fused_attention_flops_are_counted_as_on_cuda():
    # torch's counter has no formula for the CPU flash kernel; ours uses the SDPA formula: QK^T and AV
    q, k, v = (torch.randn(2, 3, 10, 8) for _ in range(3))
    by_op = count_flops_by_op(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v))
    assert sum(by_op.values()) == 2 * (2 * 2 * 3 * 10 * 10 * 8)
    assert all(op_class(name) == "attention" for name in by_op), by_op


@pytest.mark.parametrize(("name", "cls"), [
    ("aten::addmm", "matmul"), ("aten.addmm", "matmul"), ("aten.bmm.default", "matmul"),
    ("aten::mkldnn_convolution", "matmul"), ("mkldnn::_linear_pointwise", "matmul"), ("mkl::_mkl_linear", "matmul"),
    ("aten::_scaled_dot_product_flash_attention_for_cpu", "attention"), ("aten::_efficient_attention_forward", "attention"),
    ("aten::gelu", "other"), ("aten::native_layer_norm", "other"), ("aten::upsample_trilinear3d", "other"),
    ("aten::copy_", "other"), ("cpp_fused_add_native_layer_norm_0", "other"),
])
def test_operators_are_classed_by_name(name, cls):
    assert op_class(name) == cls


def test_breakdown_splits_inference_time_and_counts_every_flop():
    settings = BenchSettings(frames=4, size=32, batch=2, repeats=1, min_seconds=0.0, breakdown=True)
    result = bench_model(get_registry(), backbone="echo-videomae", head="maxpool", preset="tiny", settings=settings)
    split = result.infer_breakdown
    assert not result.skipped and split is not None
    # the classes' FLOPs, counted on the CPU kernels, are the model's FLOPs counted on the meta device
    assert sum(split.flops.values()) == settings.batch * result.cost.forward_flops
    assert split.flops["attention"] > 0 and split.flops["matmul"] > 0 and split.flops["other"] == 0
    shares = [split.share(c) for c in ("matmul", "attention", "other")]
    assert all(0 < s < 1 for s in shares) and sum(shares) == pytest.approx(1.0)
    overall = result.infer_utilization
    util = {c: split.utilization(c, overall) for c in ("matmul", "attention")}
    assert util["matmul"] > 0 and util["attention"] > 0
    # the classes' FLOP rates, weighted by their time shares, give back the model's utilization
    assert sum(split.share(c) * util[c] for c in util) == pytest.approx(overall)
    assert split.ceiling(overall) == pytest.approx(overall / (split.share("matmul") + split.share("attention")))
    assert split.ceiling(overall) > overall


@pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")), reason="torch.compile on the CPU needs a C++ compiler")
def test_compiled_model_is_measured():
    import torch._inductor.config as inductor_config

    settings = BenchSettings(frames=4, size=32, batch=1, repeats=1, compile=True, breakdown=True)
    result = bench_model(get_registry(), backbone="echo-videomae", head="maxpool", preset="tiny", settings=settings)
    assert not result.skipped, result.skipped
    assert result.infer_clips_per_s > 0 and result.train_clips_per_s > 0 and result.infer_utilization > 0
    split = result.infer_breakdown
    assert sum(split.share(c) for c in ("matmul", "attention", "other")) == pytest.approx(1.0)
    assert split.share("matmul") > 0  # the compiled graph's (pre-packed) matmul kernels are recognised
    assert not inductor_config.freezing  # freezing was this model's option, not left on for the process
    # and it did apply: the compiled inference graph runs pre-packed (frozen-weight) linear kernels
    from torch.profiler import profile

    from echobench.bench.models import compile_if_asked
    from echobench.engine.model import build_model

    model = build_model(get_registry(), backbone="echo-videomae", head="maxpool", preset="tiny", clip_shape=(4, 32, 32))
    compiled = compile_if_asked(model.eval(), settings)
    clip, frames = torch.rand(1, 3, 4, 32, 32), torch.arange(4).expand(1, -1)
    with torch.inference_mode():
        compiled(clip, frames)
        with profile() as prof:
            compiled(clip, frames)
    names = {event.key for event in prof.key_averages()}
    assert any(n.endswith("_mkl_linear") or n.endswith("_linear_pointwise") for n in names), sorted(names)
    assert "aten::addmm" not in names and not inductor_config.freezing


def _write(path: Path, frames: np.ndarray, codec: str, pix_fmt: str) -> None:
    import av

    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=Fraction(50))
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
    for i, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def test_read_frames_is_bit_identical_to_whole_video_decoding(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (24, 32, 32), dtype=np.uint8)
    write_avi(tmp_path / "grey444.avi", grey, fps=50)  # EchoNet-style: grey MJPEG (luma lookup path)
    colour = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    _write(tmp_path / "grey420.avi", np.repeat(grey[..., None], 3, -1), "mjpeg", "yuvj420p")  # chroma 127
    _write(tmp_path / "colour420.avi", colour, "mjpeg", "yuvj420p")  # swscale path
    _write(tmp_path / "inter.avi", colour, "mpeg4", "yuv420p")  # inter-frame codec: whole-video route
    selections = [lambda n: 2 * np.arange(16) + 3,  # runs past the end: zero padding
                  lambda n: np.linspace(0, n - 1, 16).astype(np.int64),
                  lambda n: np.array([5, 5, 0, n - 1])]
    for name in ("grey444", "grey420", "colour420", "inter"):
        path = tmp_path / f"{name}.avi"
        video = read_video(path)
        for select in selections:
            clip, indices = read_frames(path, select)
            expected = take_frames(video, select(len(video)))
            assert clip.dtype == np.uint8 and np.array_equal(clip, expected), name
            assert np.array_equal(indices, select(len(video)))


@pytest.mark.parametrize("table_quicker", [True, False])
def test_read_video_gives_the_bytes_of_pyav_rgb24_conversion(tmp_path, monkeypatch, table_quicker):
    """read_video (grey frames through the luma table or swscale, whichever the timing picks: both
    forced here; one cached swscale context otherwise) and read_frames' inter-frame route (only the
    sampled frames converted) against every frame through PyAV's own ``to_ndarray(format="rgb24")``,
    on MJPEG grey and colour, MPEG-4 and H.264 files."""
    import av

    from echobench.data import video

    monkeypatch.setattr(video, "_LUMA_TABLES", {})
    monkeypatch.setattr(video, "_quicker", lambda first, second: table_quicker)
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (20, 32, 48), dtype=np.uint8)
    colour = rng.integers(0, 256, (20, 32, 48, 3), dtype=np.uint8)
    write_avi(tmp_path / "grey444.avi", grey, fps=50)
    _write(tmp_path / "grey420.avi", np.repeat(grey[..., None], 3, -1), "mjpeg", "yuvj420p")
    _write(tmp_path / "colour420.avi", colour, "mjpeg", "yuvj420p")
    _write(tmp_path / "inter.avi", colour, "mpeg4", "yuv420p")
    _write(tmp_path / "h264.mp4", colour, "libx264", "yuv420p")
    for path in sorted(tmp_path.iterdir()):
        with av.open(str(path)) as container:
            expected = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        assert np.array_equal(read_video(path), expected), path.name
        clip, indices = read_frames(path, lambda n: np.array([n - 1, 3, 3, n + 2]))
        assert np.array_equal(clip[:3], expected[[len(expected) - 1, 3, 3]]) and not clip[3].any(), path.name
        clip, _ = read_frames(path, lambda n: np.array([n, n + 1]))  # all padding: zero frames of the video's size
        assert clip.shape == (2, 32, 48, 3) and not clip.any(), path.name
    tables = [key[0] for key, table in video._LUMA_TABLES.items() if table is not None]
    assert sorted(tables) == (["yuvj420p", "yuvj444p"] if table_quicker else []), video._LUMA_TABLES.keys()


def test_loader_skips_and_counts_an_unreadable_file(tmp_path):
    write_avi(tmp_path / "ok.avi", np.full((12, 32, 32), 90, np.uint8), fps=50)
    (tmp_path / "empty.avi").write_bytes(b"")
    result = bench_loader([tmp_path / "ok.avi", tmp_path / "empty.avi"], frames=4, repeats=1)
    assert result.skipped == 1 and "empty.avi" in result.messages[0]
    assert result.ours_clips_per_s > 0 and result.opencv_clips_per_s > 0 and result.max_abs_diff == 0


def test_a_model_that_rejects_the_input_is_skipped_with_its_reason():
    settings = BenchSettings(frames=4, size=40, batch=1, repeats=1)  # 40 px: not a multiple of the 16-px patch
    result = bench_model(get_registry(), backbone="echo-videomae", head="maxpool", preset="tiny", settings=settings)
    assert "cannot run at input 4x3x40x40" in result.skipped and "divisible" in result.skipped
    assert math.isnan(result.infer_clips_per_s)


def test_bench_writes_a_record_that_the_leaderboard_shows(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "--backbone", "echo-videomae", "--head", "maxpool", "--preset", "tiny",
                                 "--repeats", "1", "--frames", "4", "--size", "32", "--batch", "1",
                                 "--loader-videos", "1", "--breakdown", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "throughput").glob("*.parquet"))
    assert len(files) == 1
    record = pl.read_parquet(files[0])
    assert dict(record.schema) == THROUGHPUT_SCHEMA
    assert record["bench_id"].n_unique() == 1 and record["device"][0].startswith("cpu")
    assert record["dtype"][0] == "float32" and record["git_sha"][0] and "torch" in record["versions"][0]

    def value(kind: str, metric: str, mode: str = "-", subject: str | None = None) -> float:
        rows = record.filter((pl.col("kind") == kind) & (pl.col("metric") == metric) & (pl.col("mode") == mode))
        if subject is not None:
            rows = rows.filter(pl.col("subject") == subject)
        assert rows.height == 1, (kind, metric, mode, subject)
        return rows["value"][0]

    assert value("peak", "matmul_peak") > 0
    assert value("model", "params") == pytest.approx(0.198273)
    for mode in ("inference", "train"):
        for metric in ("gflops_per_clip", "clips_per_s", "gflops_per_s", "utilization"):
            assert value("model", metric, mode) > 0, (metric, mode)
        memory = value("model", "peak_memory", mode)
        assert math.isnan(memory) or memory > 0
    shares = [value("model", f"time_share_{c}", "inference") for c in ("matmul", "attention", "other")]
    assert sum(shares) == pytest.approx(1.0) and all(0 < s < 1 for s in shares)
    assert value("model", "utilization_ceiling", "inference") > 0 and value("model", "utilization_matmul", "inference") > 0
    for name in ("videomae", "vivit"):
        assert value("peer", "max_abs_diff", subject=f"ours {name}") < 1e-4  # same config and weights
        for mode in ("inference", "train"):
            assert value("peer", "speed_ratio", mode, subject=f"ours {name}") > 0
    assert value("loader", "speed_ratio", "load") > 0 and value("loader", "max_abs_diff", "load") == 0

    shown = runner.invoke(app, ["leaderboard", "--throughput", "--results", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert record["bench_id"][0] in shown.output and "| echo-videomae+maxpool | tiny | 4x3x32x32 | 1 |" in shown.output
    assert "transformers.VideoMAEModel" in shown.output and "opencv whole-video" in shown.output
    assert "Where inference time goes" in shown.output and "| echo-videomae+maxpool | tiny | 4x3x32x32 | " in shown.output
    assert "where inference time goes" in result.output  # the bench's own table
    assert len(read_throughput(tmp_path)) == record.height


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "cuda"], "no CUDA GPU" if not torch.cuda.is_available() else "--dtype"),
    (["--backbone", "echo-videomea"], "did you mean 'echo-videomae'"),
    (["--dtype", "float16"], "--dtype"),
    (["--preset", "smal"], "did you mean 'small'"),
    (["--loader-videos", "0"], "--loader-videos"),
    (["--data", "/nonexistent/echonet"], "no Videos/*.avi"),
    (["--breakdown", "--device", "cuda"], "--breakdown profiles CPU operators"),
])
def test_bench_rejects_bad_options_with_one_line(tmp_path, args, message):
    if args == ["--device", "cuda"] and torch.cuda.is_available():  # then the dtype is what is wrong
        args = ["--device", "cuda", "--dtype", "float16"]
    result = CliRunner().invoke(app, ["bench", "--head", "maxpool", *args, "--results", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "throughput").exists()


def test_peer_comparisons_come_from_the_plugins_that_declare_them(monkeypatch):
    """Core names no plugin: with the VideoMAE plugin turned off, `bench` runs the ViViT comparison
    only (its own PeerSpec) instead of crashing on a VideoMAE import."""
    pytest.importorskip("transformers")
    from echobench.bench.peers import declared_peers
    from echobench.bench.run import BenchRequest, run_bench
    from echobench.registry import ENV_VAR, build_registry

    assert set(declared_peers(get_registry())) == {"videomae", "vivit"}
    monkeypatch.setenv(ENV_VAR, "vivit,heads")
    registry = build_registry()
    assert "videomae" not in registry.names("backbone") and set(declared_peers(registry)) == {"vivit"}
    settings = BenchSettings(frames=4, size=32, batch=1, repeats=1, min_seconds=0.0)
    run = run_bench(registry, BenchRequest(backbones=["vivit"], heads=["maxpool"], presets=["tiny"],
                                           settings=settings, loader=False), results=None)
    assert [(p.name, p.peer) for p in run.peers] == [("vivit", "transformers.VivitModel")]
    assert run.peers[0].max_abs_diff < 1e-4 and run.peers[0].infer_ratio > 0
    monkeypatch.setenv(ENV_VAR, "heads,videoresnet")
    run = run_bench(build_registry(), BenchRequest(backbones=["video-resnet"], heads=["maxpool"], presets=["tiny"],
                                                   settings=settings, loader=False), results=None)
    assert not run.peers and any("no loaded backbone plugin declares one" in n for n in run.notes)
