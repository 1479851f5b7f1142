"""``echobench bench``: throughput of backbone x head (x preset), the Hugging Face peers and the clip
loader; prints a Rich table and writes one throughput record (``<results>/throughput/<id>.parquet``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from echobench.cli.common import err, out, user_errors
from echobench.errors import DataError


def _names(value: Optional[str]) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


@user_errors
def bench(
    backbone: Annotated[Optional[str],
                        typer.Option(help="Comma-separated backbones (default: all registered).")] = None,
    head: Annotated[Optional[str], typer.Option(help="Comma-separated heads (default: all registered).")] = None,
    preset: Annotated[str, typer.Option(help="Comma-separated presets, e.g. tiny,small,base (a backbone "
                                             "without one is skipped and noted).")] = "tiny",
    frames: Annotated[int, typer.Option(help="Clip length T.")] = 16,
    size: Annotated[int, typer.Option(help="Clip height = width in pixels (224: the paper's input).")] = 112,
    batch: Annotated[int, typer.Option(help="Clips per forward pass / training step.")] = 2,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    dtype: Annotated[Optional[str], typer.Option(help="float32 or bfloat16 (autocast); default float32 on "
                                                      "the CPU, bfloat16 on CUDA.")] = None,
    repeats: Annotated[int, typer.Option(help="Timed rounds; medians are reported.")] = 5,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch during the run (default: "
                                                        "torch's).")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="Wrap models in torch.compile.")] = False,
    keep_cpu_memory: Annotated[bool, typer.Option("--keep-cpu-memory/--no-keep-cpu-memory", help="Keep freed "
                               "CPU memory between steps (glibc mallopt; fewer page faults).")] = True,
    breakdown: Annotated[bool, typer.Option("--breakdown", help="Profile inference and split its time into "
                                                                 "matrix multiplies, attention and the rest "
                                                                 "(CPU only).")] = False,
    peers: Annotated[bool, typer.Option("--peers/--no-peers", help="Run the reference comparisons backbone plugins "
                                                                   "declare (VideoMAE/ViViT vs Hugging Face).")] = True,
    loader: Annotated[bool, typer.Option("--loader/--no-loader", help="Compare the clip loader with a "
                                                                      "whole-video OpenCV loader.")] = True,
    data: Annotated[Optional[Path], typer.Option(help="EchoNet-format directory for the loader comparison "
                                                      "(default: synthetic videos).")] = None,
    loader_videos: Annotated[int, typer.Option(help="Videos the loader comparison reads.")] = 8,
    results: Annotated[Path, typer.Option(help="Leaderboard directory; the record goes to "
                                               "throughput/.")] = Path("leaderboard"),
) -> None:
    """Measure clips/s, GFLOP/s, utilization of the matmul peak and peak memory; write a throughput record."""
    from echobench.bench.models import BenchSettings
    from echobench.bench.run import BenchRequest, run_bench
    from echobench.registry import get_registry

    registry = get_registry()
    videos = None
    if data is not None:
        videos = sorted(p for p in (data / "Videos").glob("*") if p.suffix.lower() == ".avi") if data.is_dir() else []
        if not videos:
            raise DataError(f"{data}: no Videos/*.avi to read for the loader comparison")
    settings = BenchSettings(frames=frames, size=size, batch=batch, device=device,
                             dtype=dtype or ("bfloat16" if device.startswith("cuda") else "float32"),
                             repeats=repeats, compile=compile, threads=threads, keep_cpu_memory=keep_cpu_memory,
                             breakdown=breakdown)
    request = BenchRequest(backbones=_names(backbone) or registry.names("backbone"),
                           heads=_names(head) or registry.names("head"), presets=_names(preset) or [],
                           settings=settings, peers=peers, loader=loader, videos=videos, loader_videos=loader_videos)
    with err.status("benchmarking") as status:
        run = run_bench(registry, request, results=results, progress=lambda m: status.update(f"benchmarking: {m}"))
    for table in _tables(run):
        out.print(table)
    err.print(f"throughput record: {run.path}")


def _f(value: float, digits: int = 1) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def _tables(run) -> list:
    """Rich tables of a :class:`echobench.bench.run.BenchRun`: the models, then the side-by-side comparisons."""
    from rich.table import Table

    s = run.settings
    models = Table(title=f"{run.device} · {s.dtype} · input {s.input_label} · batch {s.batch} · matmul peak "
                         f"{_f(run.peak.gflops)} GFLOP/s (median of {s.repeats})", title_justify="left")
    for column in ("model", "preset", "GFLOP/clip", "infer clips/s", "util", "train clips/s", "util", "MiB"):
        models.add_column(column, justify="left" if column in ("model", "preset") else "right", overflow="fold")
    for m in run.models:
        if m.skipped:
            models.add_row(f"{m.backbone}+{m.head}", m.preset, f"skipped: {escape(m.skipped)}")
            continue
        models.add_row(f"{m.backbone}+{m.head}", m.preset, _f(m.cost.forward_flops / 1e9, 2),
                       _f(m.infer_clips_per_s, 2),
                       f"{_f(100 * m.infer_utilization, 0)}%", _f(m.train_clips_per_s, 2),
                       f"{_f(100 * m.train_utilization, 0)}%", _f(m.train_peak_mib, 0))
    pairs = Table(title="side by side (same run, per-round median ratio)", title_justify="left")
    for column in ("ours vs peer", "preset", "mode", "ours clips/s", "peer clips/s", "ratio"):
        pairs.add_column(column, justify="left" if column in ("ours vs peer", "preset", "mode") else "right",
                         overflow="fold")
    for p in run.peers:
        label = f"{p.name} vs {p.peer.removeprefix('transformers.')}"
        if p.skipped:
            pairs.add_row(label, p.preset, f"skipped: {escape(p.skipped)}")
            continue
        pairs.add_row(label, p.preset, "inference", _f(p.ours_infer_clips_per_s, 2), _f(p.peer_infer_clips_per_s, 2),
                      f"{_f(p.infer_ratio, 2)}x")
        pairs.add_row(label, p.preset, "train", _f(p.ours_train_clips_per_s, 2), _f(p.peer_train_clips_per_s, 2),
                      f"{_f(p.train_ratio, 2)}x")
    if run.loader is not None:
        ld = run.loader
        pairs.add_row("loader vs OpenCV whole-video", "", f"{ld.frames} frames", _f(ld.ours_clips_per_s),
                      _f(ld.opencv_clips_per_s), f"{_f(ld.ratio, 2)}x")
    split = _breakdown_table(run)
    tables = [models] if run.models else []
    tables += [split] if split is not None else []
    tables += [pairs] if run.peers or run.loader is not None else []
    if run.notes:
        notes = Table(show_header=False, box=None)
        notes.add_column("note")
        for note in run.notes:
            notes.add_row(f"note: {escape(note)}")
        tables.append(notes)
    return tables


def _breakdown_table(run):
    """Where inference time goes per model (``--breakdown``), or None."""
    from rich.table import Table

    measured = [m for m in run.models if m.infer_breakdown is not None]
    if not measured:
        return None
    table = Table(title="where inference time goes (profiled shares; util of a class = model util x its share of "
                        "the FLOPs / its share of the time; ceiling = util if nothing else took time)",
                  title_justify="left")
    for column in ("model", "preset", "matmul time", "util", "attention time", "util", "other time", "ceiling"):
        table.add_column(column, justify="left" if column in ("model", "preset") else "right", overflow="fold")
    for m in measured:
        split, overall = m.infer_breakdown, m.infer_utilization
        pct = lambda x: "–" if math.isnan(x) else f"{100 * x:.0f}%"  # noqa: E731
        table.add_row(f"{m.backbone}+{m.head}", m.preset, pct(split.share("matmul")),
                      pct(split.utilization("matmul", overall)), pct(split.share("attention")),
                      pct(split.utilization("attention", overall)), pct(split.share("other")),
                      pct(split.ceiling(overall)))
    return table
