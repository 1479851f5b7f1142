"""``echobench probe`` as a library call: the frozen-probe track at speed (issue 16 item 5).

A frozen backbone's features are extracted once per identity (:mod:`echobench.engine.feature_cache`),
then a grid of probes x learning rates x weight decays is trained side by side on them in one pass
(:mod:`echobench.engine.probe_grid`), each probe's epoch and each probe kind's (lr, wd) selected on
VAL (the task's VAL score: MAE, or BCE), and everything reported on TEST under every clip sampler
(:mod:`echobench.evaluation.clip_samplers`); TEST never selects anything.

Probes (``--probes``): ``linear`` (mean over tokens + LayerNorm, then the linear adapter: head
``meanpool``), ``attentive-1`` and ``attentive-4`` (head ``attentive-probe`` with 1 or 4 attention
blocks), ``maxpool`` and ``stff`` (the EchoVisionFM paper's heads), or any registered head name.

Label efficiency (``train_fractions``): each fraction ``f`` trains the grid on the first
``ceil(f * N)`` TRAIN videos of one fixed permutation (seed :data:`SUBSET_SEED`, not the run's seed),
so the subsets are nested (the 1 % subset is inside the 10 % one) and the same for every encoder
and seed; ``f = 1`` is the whole TRAIN split in its order (the uncached run's batches).

Records (track :data:`PROBE`, ``clips`` = the sampler): one model row set per probe configuration
(``<backbone>+<probe> [lr .., wd .., TRAIN ..%]``), per probe kind the VAL-selected configuration
(``<backbone>+<probe> [selected on VAL, TRAIN ..%]``) and the VAL-selected configuration over every
probe (``<backbone>+any probe [selected on VAL, TRAIN ..%]``), next to the constant predictor.

Training clip: the protocol's (``linspace`` for ``echovisionfm``, with its flips read from the
cache). A contiguous protocol (``echonet``) draws a random training start per epoch, which a cache
cannot hold; its probes train on the fixed start-0 clip (said in the run's log).

Module import is torch-free (the leaderboard parses probe names with :func:`parse_probe_model`).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from echobench import defaults
from echobench.errors import ConfigError

SUBSET_SEED = 0
PROBES: dict[str, tuple[str, dict[str, Any]]] = {  # probe name -> (head, head options)
    "linear": ("meanpool", {}),
    "attentive-1": ("attentive-probe", {"blocks": 1}),
    "attentive-4": ("attentive-probe", {"blocks": 4}),
    "maxpool": ("maxpool", {}),
    "stff": ("stff", {}),
}
DEFAULT_PROBES = tuple(PROBES)
ANY_PROBE = "any probe"
_NAME = re.compile(r"(?P<backbone>.+)\+(?P<probe>[^+\[]+) \[(?P<what>.+), TRAIN (?P<pct>[\d.]+)%\]")


def fraction_label(fraction: float) -> str:
    """``0.1 -> "10"`` (percent, as in the model name)."""
    return f"{fraction * 100:g}"


def probe_model(backbone: str, probe: str, fraction: float, *, lr: float | None = None,
                weight_decay: float | None = None) -> str:
    """The record's model name of a probe configuration, or (``lr`` None) of its VAL selection."""
    what = "selected on VAL" if lr is None else f"lr {lr:g}, wd {weight_decay:g}"
    return f"{backbone}+{probe} [{what}, TRAIN {fraction_label(fraction)}%]"


def parse_probe_model(model: str) -> dict[str, Any] | None:
    """``{"backbone", "probe", "selected", "fraction"}`` of a :func:`probe_model` name (None otherwise)."""
    m = _NAME.fullmatch(model)
    if not m:
        return None
    return {"backbone": m["backbone"], "probe": m["probe"], "selected": m["what"] == "selected on VAL",
            "fraction": float(m["pct"]) / 100}


def probe_head(registry, probe: str) -> tuple[str, dict[str, Any]]:
    """``(head name, head options)`` of a probe name (:data:`PROBES`, or a registered head as is).

    Raises:
        UnknownNameError: neither a probe name nor a registered head (did-you-mean).
    """
    if probe in PROBES:
        return PROBES[probe]
    registry.get("head", probe)
    return probe, {}


@dataclass(frozen=True)
class ProbeConfig:
    """One ``echobench probe`` invocation (hashed, without output folders, into the record)."""

    backbone: str
    task: str
    data: Path
    protocol: str = "echovisionfm"
    preset: str | None = "tiny"
    weights: str | None = None
    probes: tuple[str, ...] = DEFAULT_PROBES
    lrs: tuple[float, ...] = (1e-3, 3e-4)
    weight_decays: tuple[float, ...] = (0.0, 0.05)
    train_fractions: tuple[float, ...] = (1.0,)
    samplers: tuple[str, ...] = ("one", "uniform-5", "all", "beats")
    seed: int = 0
    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    n_boot: int = defaults.N_BOOT
    gpus: int | None = None
    dtype: str = "float32"  # cached tokens on disk: float32 or float16
    results: Path = Path("leaderboard")
    runs: Path = Path("runs")
    cache: Path | None = None  # default: $ECHOBENCH_CACHE, else <results>/feature-cache
    backbone_options: dict[str, Any] = field(default_factory=dict)

    def hashed(self) -> dict[str, Any]:
        skip = {"data", "results", "runs", "cache"}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k not in skip}


@dataclass
class ProbeResult:
    """What :func:`run_probes` did: the grid's VAL/TEST numbers, the selections, the cache's work."""

    run_id: str
    run_dir: Path
    record: Path
    task_tag: str
    protocol_tag: str
    units: str
    grid: list[dict[str, Any]]  # per (fraction, probe, lr, wd): best epoch, VAL score, TEST MAE/ACC (one clip)
    selected: list[dict[str, Any]]  # per (fraction, probe kind) and "any probe": the chosen grid entry
    extracted: list[str]  # (split, sampler) extracted now
    reused: list[str]  # (split, sampler) read from the cache
    train_seconds: float = math.nan  # training the whole grid on the cache (all fractions)


def _check(cfg: ProbeConfig, protocol) -> tuple[str, ...]:
    from echobench.engine.feature_cache import DTYPES
    from echobench.evaluation.clip_samplers import check_samplers

    if not cfg.probes or not cfg.lrs or not cfg.weight_decays or not cfg.train_fractions:
        raise ConfigError("probe: give at least one probe, learning rate, weight decay and train fraction")
    if any(not 0 < f <= 1 for f in cfg.train_fractions):
        raise ConfigError(f"--train-fraction: fractions must be in (0, 1], got {list(cfg.train_fractions)}")
    if any(lr <= 0 for lr in cfg.lrs) or any(wd < 0 for wd in cfg.weight_decays):
        raise ConfigError("--lr must be > 0 and --wd >= 0")
    if cfg.dtype not in DTYPES:
        raise ConfigError(f"--cache-dtype {cfg.dtype!r}: choose from {', '.join(DTYPES)}")
    samplers = check_samplers(cfg.samplers, protocol)
    if "one" not in samplers:
        samplers = ("one", *samplers)
    return samplers


def nested_subset(n: int, fraction: float) -> np.ndarray:
    """Sorted positions of the ``ceil(fraction * n)`` TRAIN videos of ``fraction`` (module docstring)."""
    order = np.random.default_rng(SUBSET_SEED).permutation(n)
    return np.sort(order[:max(1, math.ceil(fraction * n))])


def run_probes(cfg: ProbeConfig, *, progress=None, log: Callable[[str], None] | None = None, registry=None,
               prepared=None, stop: Callable[[], bool] | None = None) -> ProbeResult:
    """Extract (or reuse) the frozen features, train the probe grid per train fraction, select on VAL,
    score VAL and TEST under every sampler, and write a run directory and one record.

    Raises:
        UnknownNameError: unknown backbone, probe/head, task, protocol or preset.
        ConfigError: bad grid values, several processes, unwritable output folders.
        DataError: the data directory cannot be used.
        WeightsError: the weights file is missing or does not match.
        TrainingError: a probe diverged in every epoch.
    """
    import time

    from echobench.engine.seeding import seed_everything

    from echobench.atomic import atomic_write_parquet, atomic_write_text
    from echobench.data.clips import fit_frame_size
    from echobench.data.video import read_video
    from echobench.engine import feature_cache
    from echobench.engine.devices import make_fabric
    from echobench.engine.loop import TrainSettings
    from echobench.engine.model import build_model, resolve_specs
    from echobench.engine.objective import Objective
    from echobench.engine.probe_grid import clone_probe, fit_probes, per_video, predict_probe
    from echobench.evaluation import CONSTANT, constant_outputs, score_outputs
    from echobench.evaluation.clip_samplers import sampler_clips
    from echobench.evaluation.tracks import PROBE
    from echobench.protocols import get_protocol
    from echobench.data.resolve import dataset_identity
    from echobench.experiment.record import MODEL_FREE, plugin_provenance, provenance, record_row, write_environment
    from echobench.provenance import device_name, git_sha, stable_hash
    from echobench.registry import get_registry
    from echobench.results.records import write_record
    from echobench.experiment.task_data import decode_workers_of
    from echobench.runner import check_outputs, prepare_data

    log = log or (lambda _msg: None)
    registry = registry or get_registry()
    task = registry.get("task", cfg.task)
    protocol = get_protocol(cfg.protocol)
    samplers = _check(cfg, protocol)
    heads = {p: probe_head(registry, p) for p in cfg.probes}
    for head, _ in heads.values():
        resolve_specs(registry, backbone=cfg.backbone, head=head, preset=cfg.preset)
    objective = Objective(task, protocol)
    fabric = make_fabric(gpus=cfg.gpus, precision="32-true")
    if fabric.world_size > 1:
        raise ConfigError("echobench probe runs in one process (the grid trains side by side on one device)")
    check_outputs(cfg.results, cfg.runs)
    data = (prepared if prepared is not None
            else prepare_data(Path(cfg.data), task, protocol, progress=progress, log=log,
                              workers=decode_workers_of(cfg, fabric)))
    if protocol.period is not None:
        log(f"protocol {protocol.name}: probes train on the fixed start-0 clip (random training starts "
            "cannot be cached)")

    # --- the run's models, one per probe kind (same seed: the heads the frozen run would build) ----
    from echobench.experiment.weights import resolve_weights

    resolved = resolve_weights(registry.get("backbone", cfg.backbone.split(":")[0]), cfg.weights)
    models = {}
    for probe, (head, options) in heads.items():
        seed_everything(cfg.seed)
        with fabric.init_module():
            models[probe] = build_model(registry, backbone=cfg.backbone, head=head, preset=cfg.preset,
                                        weights=resolved.path, backbone_options=cfg.backbone_options,
                                        head_options=options,
                                        clip_shape=(protocol.frames, protocol.size, protocol.size),
                                        unit_input=protocol.normalization == "unit")
    backbone = next(iter(models.values())).backbone.to(fabric.device).eval().requires_grad_(False)

    # --- feature cache ------------------------------------------------------------------------------
    entry = registry.entry("backbone", cfg.backbone.split(":")[0])
    weights_id = resolved.sha256 or f"random init, seed {cfg.seed}"
    base = {"backbone": cfg.backbone, "preset": cfg.preset, "backbone_options": cfg.backbone_options,
            "plugin": f"{entry.distribution} {entry.version}", "weights": weights_id, "protocol": protocol.tag,
            "dataset_hash": data.dataset_hash, "frame_size": data.frame_size, "stats": data.stats, "dtype": cfg.dtype}
    folder = feature_cache.cache_folder(cfg.results, cfg.cache)
    wanted = {"TRAIN": ("train",), "VAL": ("one",), "TEST": samplers}
    cached: dict[tuple[str, str], Any] = {}
    extracted, reused = [], []
    for split, names in wanted.items():
        flips = split == "TRAIN" and protocol.train_flips
        keys = {s: feature_cache.cache_key({**base, "split": split, "sampler": s, "flips": flips}) for s in names}
        for s in names:
            hit = feature_cache.load(folder, keys[s])
            if hit is not None:
                cached[split, s] = hit
                reused.append(f"{split}/{s}")
        missing = [s for s in names if (split, s) not in cached]
        if not missing:
            continue
        records = data.records[split]
        videos = [lambda r=r: fit_frame_size(read_video(r.path), data.frame_size) for r in records]

        def clips(v, video, records=records, missing=missing):
            return {s: ([protocol.frame_indices(len(video), start=0)] if s == "train"
                        else sampler_clips(s, protocol, video, records[v].fps)[0]) for s in missing}

        advance = progress(f"extract {split} features ({', '.join(missing)})", len(records)) if progress else None
        out = feature_cache.extract(fabric, backbone, videos, clips, protocol, samplers=missing, flips=flips,
                                    batch_size=cfg.batch_size, stats=data.stats, dtype=cfg.dtype, advance=advance)
        for s, features in out.items():
            feature_cache.save(folder, keys[s], features, {**base, "split": split, "sampler": s, "flips": flips})
            cached[split, s] = features
            extracted.append(f"{split}/{s}")

    # --- the grid, per train fraction -------------------------------------------------------------
    settings = TrainSettings(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed)
    configs = [(p, lr, wd) for p in cfg.probes for lr in cfg.lrs for wd in cfg.weight_decays]
    train_labels = data.labels["TRAIN"]
    outputs: dict[tuple[float, int, str, str], np.ndarray] = {}  # (fraction, g, split, sampler) -> (N,)
    grid_rows: list[dict[str, Any]] = []
    train_seconds = 0.0
    for fraction in cfg.train_fractions:
        subset = nested_subset(len(train_labels), fraction)
        init = objective.initial_output(train_labels[subset])
        probes = [clone_probe(models[p], init) for p, _, _ in configs]
        start = time.perf_counter()
        fitted = fit_probes(probes, [c[1] for c in configs], [c[2] for c in configs], cached["TRAIN", "train"], subset,
                            objective.targets(train_labels[subset]), cached["VAL", "one"], data.labels["VAL"],
                            objective=objective, settings=settings, flips=protocol.train_flips, device=fabric.device,
                            progress=progress, stop=stop)
        train_seconds += time.perf_counter() - start
        for g, probe in enumerate(probes):
            for split, names in (("VAL", ("one",)), ("TEST", samplers)):
                for s in names:
                    c = cached[split, s]
                    raw = predict_probe(probe, c, batch_size=cfg.batch_size, device=fabric.device)
                    outputs[fraction, g, split, s] = objective.outputs(per_video(raw, c.video, len(data.labels[split])))
            p, lr, wd = configs[g]
            grid_rows.append({"fraction": fraction, "probe": p, "lr": lr, "weight_decay": wd,
                              "train_videos": len(subset),
                              "best_epoch": fitted.best_epoch[g], "val_score": fitted.best(g),
                              "val_score_per_epoch": fitted.val_score[g]})

    # --- VAL selection (never TEST) ------------------------------------------------------------------
    selected = []
    for fraction in cfg.train_fractions:
        entries = [(g, r) for g, r in enumerate(grid_rows) if r["fraction"] == fraction]
        for kind in (*cfg.probes, ANY_PROBE):
            pool = [(g, r) for g, r in entries if kind == ANY_PROBE or r["probe"] == kind]
            g, r = min(pool, key=lambda gr: gr[1]["val_score"])
            selected.append({"fraction": fraction, "kind": kind, "grid_index": g % len(configs), **r})

    # --- scores and the record -------------------------------------------------------------------------
    n_boot = cfg.n_boot
    scored: list[tuple[str, str, str, str, Any]] = []  # (model, head, split, clips, Score)
    cache_scores: dict[tuple[float, int, str, str], list] = {}

    def scores(fraction, g, split, s):
        key = (fraction, g, split, s)
        if key not in cache_scores:
            cache_scores[key] = score_outputs(task, outputs[key], data.labels[split], data.ef[split],
                                              n_boot=n_boot, seed=0)
        return cache_scores[key]

    split_samplers = [("VAL", "one"), *(("TEST", s) for s in samplers)]
    for fraction in cfg.train_fractions:
        for g, (p, lr, wd) in enumerate(configs):
            name = probe_model(cfg.backbone, p, fraction, lr=lr, weight_decay=wd)
            scored += [(name, heads[p][0], sp, s, x) for sp, s in split_samplers for x in scores(fraction, g, sp, s)]
    for sel in selected:
        g, kind = sel["grid_index"], sel["kind"]
        name = probe_model(cfg.backbone, kind, sel["fraction"])
        head = heads[sel["probe"]][0] if kind != ANY_PROBE else "-"
        scored += [(name, head, sp, s, x) for sp, s in split_samplers for x in scores(sel["fraction"], g, sp, s)]
    for sp, s in split_samplers:
        const = constant_outputs(task, train_labels, len(data.labels[sp]))
        scored += [(CONSTANT, "-", sp, s, x) for x in
                   score_outputs(task, const, data.labels[sp], data.ef[sp], n_boot=n_boot, seed=0)]

    created = datetime.now(timezone.utc)
    config_hash = stable_hash({**cfg.hashed(), "dataset_hash": data.dataset_hash, "weights": weights_id})
    setup_hash = stable_hash({**cfg.hashed(), "seed": None, "dataset_hash": data.dataset_hash})
    run_id = (f"{created:%Y%m%dT%H%M%S}-{cfg.backbone.replace(':', '_')}-probes-{cfg.task}-s{cfg.seed}-"
              f"{uuid.uuid4().hex[:6]}")
    run_dir = Path(cfg.runs) / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    sha, device = git_sha(), device_name(fabric.device)
    plugins = plugin_provenance(registry, (("backbone", cfg.backbone),))
    common = provenance(cfg, run_id=run_id, created=created, weights=resolved, task=task, protocol=protocol, data=data,
                        config_hash=config_hash, setup_hash=None, plugins=plugins, sha=sha, device=device,
                        precision="32-true", skipped=data.skipped, run_dir=run_dir,
                        dataset_tag=dataset_identity(data.dataset_spec))
    rows = [record_row(common, s, task if s.task == task.name else registry.get("task", s.task), split=split,
                       clips=clips, n=len(data.labels[split]), model=name, track=PROBE.tag,
                       **(MODEL_FREE if name == CONSTANT else
                          {"backbone": cfg.backbone, "head": head, "setup_hash": stable_hash([setup_hash, name])}))
            for name, head, split, clips, s in scored]
    import polars as pl

    best = next(s for s in selected if s["kind"] == ANY_PROBE and s["fraction"] == max(cfg.train_fractions))
    pred_rows = [{"FileName": r.file_name, "split": sp, "clips": s, "prediction": float(p), "truth": float(t),
                  "EF": float(ef)}
                 for sp, s in split_samplers
                 for r, p, t, ef in zip(data.records[sp], outputs[best["fraction"], best["grid_index"], sp, s],
                                        data.labels[sp], data.ef[sp])]
    atomic_write_parquet(pl.DataFrame(pred_rows), run_dir / "predictions.parquet")
    atomic_write_text(run_dir / "config.json", json.dumps(
        {**cfg.hashed(), "data": str(Path(cfg.data).resolve()), "config_hash": config_hash, "weights_id": weights_id,
         "cache": str(folder), "track": PROBE.tag, "protocol_version": protocol.version}, indent=2, default=str))
    write_environment(run_dir, sha=sha, device=device, plugins=plugins)
    atomic_write_text(run_dir / "metrics.json", json.dumps(
        {"grid": grid_rows, "selected": selected, "val_score": objective.val_score_name, "extracted": extracted,
         "reused": reused, "train_seconds": train_seconds}, indent=2, default=float))
    record = write_record(rows, cfg.results, run_id)
    metric = "ACC" if task.kind == "binary" else "MAE"
    for r in grid_rows:
        g = next(i for i, (p, lr, wd) in enumerate(configs)
                 if (p, lr, wd) == (r["probe"], r["lr"], r["weight_decay"]))
        r["test"] = next(x.estimate.value for x in scores(r["fraction"], g, "TEST", "one")
                         if x.metric == metric and x.task == task.name)
    return ProbeResult(run_id=run_id, run_dir=run_dir, record=record, task_tag=f"{task.name}@{task.version}",
                       protocol_tag=protocol.tag, units=task.units, grid=grid_rows, selected=selected,
                       extracted=extracted, reused=reused, train_seconds=train_seconds)
