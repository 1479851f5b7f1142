"""One ``echobench bench`` invocation: measure, turn the measurements into throughput-record rows,
and write the record (:mod:`echobench.results.throughput`). Usable without the CLI.

Order of work: the matmul peak; every backbone x head x preset (a preset a backbone does not have
is skipped and noted); the reference comparisons the backbone plugins declare (PeerSpec), per preset;
the clip-loader comparison on the given EchoNet-format videos, or on a few synthetic ones written to
a temporary folder.
"""

from __future__ import annotations

import difflib
import json
import math
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from echobench import __version__
from echobench.engine.allocator import tune_cpu_allocator
from echobench.bench.breakdown import CLASSES
from echobench.bench.loader import LoaderThroughput, bench_loader
from echobench.bench.models import BenchSettings, ModelThroughput, bench_model, torch_dtype
from echobench.bench.peak import MatmulPeak, matmul_peak
from echobench.bench.peers import PeerThroughput, bench_peer, declared_peers, missing_requirement
from echobench.engine.model import resolve_specs
from echobench.errors import ConfigError, UnknownNameError
from echobench.provenance import device_name, environment, git_sha
from echobench.registry import Registry
from echobench.results.throughput import write_throughput


@dataclass
class BenchRequest:
    """What to measure.

    Attributes:
        backbones, heads, presets: the model grid (every combination).
        settings: input, batch, device, dtype, repeats (see :class:`BenchSettings`).
        peers: also run the reference comparisons backbone plugins declare (e.g. VideoMAE / ViViT against
            Hugging Face), at each preset.
        loader: also compare the clip loader with the whole-video OpenCV loader.
        videos: AVI files for the loader comparison (None = synthesize ``loader_videos`` of them).
        loader_videos: how many files the loader comparison uses.
    """

    backbones: list[str]
    heads: list[str]
    presets: list[str]
    settings: BenchSettings = field(default_factory=BenchSettings)
    peers: bool = True
    loader: bool = True
    videos: list[Path] | None = None
    loader_videos: int = 8


@dataclass
class BenchRun:
    """Everything one run measured, the record's rows, and where the record was written."""

    bench_id: str
    settings: BenchSettings
    device: str
    peak: MatmulPeak
    models: list[ModelThroughput] = field(default_factory=list)
    peers: list[PeerThroughput] = field(default_factory=list)
    loader: LoaderThroughput | None = None
    notes: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None


def check_request(registry: Registry, request: BenchRequest) -> None:
    """Fail fast, before any measurement, on names, device and dtype.

    Raises:
        UnknownNameError: unknown backbone or head, or a preset none of the backbones has.
        ConfigError: CUDA asked for without a GPU, an unknown dtype, an empty grid, or a count < 1.
    """
    import torch

    s = request.settings
    if not request.backbones or not request.heads or not request.presets:
        raise ConfigError("nothing to measure: give at least one backbone, head and preset")
    for backbone in request.backbones:
        for head in request.heads:
            resolve_specs(registry, backbone=backbone, head=head)
    known = {p for b in request.backbones for p in registry.get("backbone", b).presets}
    for preset in request.presets:
        if known and preset not in known:
            near = difflib.get_close_matches(preset, sorted(known), n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"presets: {', '.join(sorted(known))}"
            raise UnknownNameError(f"no chosen backbone has preset {preset!r}; {hint}")
    if s.breakdown and s.device != "cpu":
        raise ConfigError("--breakdown profiles CPU operators; it is not available with --device cuda")
    if s.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {s.device}: this machine has no CUDA GPU")
    if not (s.device == "cpu" or s.device.startswith("cuda")):
        raise ConfigError(f"--device must be cpu or cuda, got {s.device!r}")
    try:
        torch_dtype(s.dtype)
    except ValueError as exc:
        raise ConfigError(f"--dtype: {exc}") from None
    if s.repeats < 1 or s.batch < 1 or s.frames < 2 or s.size < 16 or (s.threads is not None and s.threads < 1):
        raise ConfigError("--repeats, --batch and --threads must be >= 1, --frames >= 2 and --size >= 16")
    if request.loader and request.loader_videos < 1:
        raise ConfigError("--loader-videos must be >= 1 (or pass --no-loader)")


def run_bench(registry: Registry, request: BenchRequest, *, results: Path | None,
              progress: Callable[[str], None] | None = None) -> BenchRun:
    """Measure everything ``request`` asks for and write one throughput record under ``results``
    (``None``: do not write).

    A comparison that cannot run (``transformers`` or OpenCV missing, no readable video) is skipped
    with a note in the record, after the model measurements are kept.

    Raises:
        UnknownNameError, ConfigError: see :func:`check_request`.
    """
    import torch

    check_request(registry, request)
    s = request.settings
    say = progress or (lambda message: None)
    threads = torch.get_num_threads()
    if s.threads is not None:
        torch.set_num_threads(s.threads)
    try:
        return _run(registry, request, results, say)
    finally:
        torch.set_num_threads(threads)


def _run(registry: Registry, request: BenchRequest, results: Path | None, say: Callable[[str], None]) -> BenchRun:
    s = request.settings
    allocator = tune_cpu_allocator() if s.keep_cpu_memory and s.device == "cpu" else ""
    say("matmul peak")
    run = BenchRun(bench_id=datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6],
                   settings=s, device=device_label(s.device),
                   peak=matmul_peak(s.device, torch_dtype(s.dtype), n=s.peak_n, repeats=s.repeats))
    if allocator:
        run.notes.append(allocator)
    if s.compile and s.device == "cpu":
        run.notes.append("torch.compile with Inductor freezing: inference graphs take the weights as constants "
                         "(pre-packed matmuls, fused bias/GELU); training graphs are compiled as usual")
    for preset in request.presets:
        for backbone in request.backbones:
            presets = registry.get("backbone", backbone).presets
            if presets and preset not in presets:
                run.notes.append(f"{backbone} has no preset {preset!r} (presets: {', '.join(presets)}); skipped")
                continue
            for head in request.heads:
                say(f"{backbone}+{head} ({preset})")
                run.models.append(bench_model(registry, backbone=backbone, head=head, preset=preset, settings=s))
    if request.peers:
        _peers(registry, run, request, say)
    if request.loader:
        say("clip loader")
        try:  # a missing OpenCV or no readable video costs the comparison, not the measurements above
            run.loader = _loader(request)
        except ConfigError as exc:
            run.notes.append(f"clip-loader comparison skipped: {exc}")
        else:
            run.notes.extend(f"loader: skipped {message}" for message in run.loader.messages[:10])
    run.rows = rows(run, s)
    if results is not None:
        run.path = write_throughput(run.rows, Path(results), run.bench_id)
    return run


def _peers(registry: Registry, run: BenchRun, request: BenchRequest, say: Callable[[str], None]) -> None:
    peers = declared_peers(registry)
    if not peers:
        run.notes.append("reference comparisons skipped: no loaded backbone plugin declares one")
    for name, peer in peers.items():
        missing = missing_requirement(peer)
        if missing:
            run.notes.append(f"{name} vs {peer.reference} skipped: {missing} is not installed "
                             f"(pip install 'echobench[bench]')")
            continue
        for preset in request.presets:
            if peer.presets and preset not in peer.presets:
                run.notes.append(f"{name} vs {peer.reference} has no size for preset {preset!r}; skipped")
                continue
            say(f"{name} vs {peer.reference} ({preset})")
            run.peers.append(bench_peer(registry, name, preset, request.settings))


def _loader(request: BenchRequest) -> LoaderThroughput:
    s = request.settings
    if request.videos is not None:
        return bench_loader(request.videos[:request.loader_videos], frames=s.frames, repeats=s.repeats)
    from echobench.data.synth import synthesize

    with tempfile.TemporaryDirectory(prefix="echobench-bench-") as tmp:
        synthesize(Path(tmp), videos=request.loader_videos, seed=0)
        return bench_loader(sorted((Path(tmp) / "Videos").glob("*.avi")), frames=s.frames, repeats=s.repeats)


def rows(run: BenchRun, s: BenchSettings) -> list[dict[str, Any]]:
    """The throughput-record rows of ``run`` (schema :data:`echobench.results.throughput.THROUGHPUT_SCHEMA`)."""
    import torch

    from importlib import metadata

    env = environment()
    for dist in ("transformers", "opencv-python-headless", "opencv-python"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    common = {"bench_id": run.bench_id, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "input": s.input_label, "batch": s.batch, "repeats": s.repeats, "device": run.device,
              "dtype": s.dtype, "compile": s.compile, "threads": torch.get_num_threads(),
              "echobench_version": __version__, "versions": json.dumps(env, sort_keys=True), "git_sha": git_sha()}
    out: list[dict[str, Any]] = []

    def add(kind: str, subject: str, metric: str, value: float, units: str, *, mode: str = "-", backbone: str = "",
            head: str = "", preset: str = "", peer: str = "", note: str = "", **override: Any) -> None:
        out.append({**common, "kind": kind, "subject": subject, "backbone": backbone, "head": head, "preset": preset,
                    "mode": mode, "metric": metric, "value": float(value), "units": units, "peer": peer,
                    "note": note, **override})

    add("peak", f"matmul {run.peak.n}x{run.peak.n}", "matmul_peak", run.peak.gflops, "GFLOP/s", batch=0,
        input=f"{run.peak.n}x{run.peak.n}")
    for m in run.models:
        ids = {"backbone": m.backbone, "head": m.head, "preset": m.preset}
        subject = f"{m.backbone}+{m.head}"
        if m.skipped:
            add("model", subject, "skipped", math.nan, "", note=m.skipped, **ids)
            continue
        add("model", subject, "params", m.cost.total_params / 1e6, "M", **ids)
        modes = (("inference", m.cost.forward_flops, "infer"), ("train", m.cost.train_flops, "train"))
        for mode, flops, prefix in modes:
            add("model", subject, "gflops_per_clip", flops / 1e9, "GFLOP", mode=mode, **ids)
            add("model", subject, "clips_per_s", getattr(m, f"{prefix}_clips_per_s"), "clips/s", mode=mode, **ids)
            add("model", subject, "gflops_per_s", getattr(m, f"{prefix}_gflops_per_s"), "GFLOP/s", mode=mode, **ids)
            add("model", subject, "utilization", getattr(m, f"{prefix}_utilization"), "fraction of matmul peak",
                mode=mode, **ids)
            add("model", subject, "peak_memory", getattr(m, f"{prefix}_peak_mib"), "MiB", mode=mode, **ids)
        if m.infer_breakdown is not None:
            split, overall = m.infer_breakdown, m.infer_utilization
            for cls in CLASSES:
                add("model", subject, f"time_share_{cls}", split.share(cls), "fraction of time", mode="inference",
                    **ids)
            for cls in ("matmul", "attention"):
                add("model", subject, f"utilization_{cls}", split.utilization(cls, overall), "fraction of matmul peak",
                    mode="inference", **ids)
            add("model", subject, "utilization_ceiling", split.ceiling(overall), "fraction of matmul peak",
                mode="inference", **ids)
    for p in run.peers:
        ours = f"ours {p.name}"
        if p.skipped:
            add("peer", ours, "skipped", math.nan, "", preset=p.preset, peer=p.peer, note=p.skipped)
            continue
        add("peer", ours, "max_abs_diff", p.max_abs_diff, "", preset=p.preset, peer=p.peer)
        for mode, prefix in (("inference", "infer"), ("train", "train")):
            add("peer", ours, "clips_per_s", getattr(p, f"ours_{prefix}_clips_per_s"), "clips/s", mode=mode,
                preset=p.preset)
            add("peer", p.peer, "clips_per_s", getattr(p, f"peer_{prefix}_clips_per_s"), "clips/s", mode=mode,
                preset=p.preset)
            add("peer", ours, "speed_ratio", getattr(p, f"{prefix}_ratio"), "x", mode=mode, preset=p.preset,
                peer=p.peer)
    if run.loader is not None:
        ld, ours, cv = run.loader, "echobench ClipDataset", "opencv whole-video"
        loader_ids = {"batch": 1, "input": f"{ld.frames}x3xHxW", "note": f"{ld.videos} videos, {ld.skipped} skipped, "
                      f"mean {ld.mean_video_frames:.0f} frames/video"}
        add("loader", ours, "clips_per_s", ld.ours_clips_per_s, "clips/s", mode="load", **loader_ids)
        add("loader", cv, "clips_per_s", ld.opencv_clips_per_s, "clips/s", mode="load", **loader_ids)
        add("loader", ours, "speed_ratio", ld.ratio, "x", mode="load", peer=cv, **loader_ids)
        add("loader", ours, "max_abs_diff", ld.max_abs_diff, "", mode="load", peer=cv, **loader_ids)
    for note in run.notes:
        add("note", "", "note", math.nan, "", note=note, batch=0)
    return out


def device_label(device: str) -> str:
    """``"cpu"``/``"cuda"`` -> the record's device text, e.g. ``cpu (x86_64, 2 threads)`` or
    ``cuda (NVIDIA H200)`` (:func:`echobench.provenance.device_name`)."""
    import torch

    return device_name(torch.device(device))
