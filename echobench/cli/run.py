"""``echobench run`` and ``echobench demo``: parse, make one library call
(:func:`echobench.experiment.sweep.run_sweep`, :func:`echobench.experiment.run.run_experiment`), render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from echobench import defaults
from echobench.cli.common import err, out, progress_factory, stop_on_signals, user_errors
from echobench.errors import ConfigError


def render_result(result) -> None:
    """Print the model next to the constant predictor, per split, naming protocol, task and units:
    every metric with its 95 % bootstrap interval, and whether the model's interval on the primary
    metric (MAE, or AUROC for ef50) overlaps the constant predictor's."""
    from echobench.results.leaderboard import PRIMARY, units_label, versus_constant

    if result.kind in ("segmentation", "frames"):  # dense task kinds: their own table (echobench.cli.dense)
        from echobench.cli.dense import render_dense
        return render_dense(result)
    binary = result.kind == "binary"
    u = "unit-free" if binary else units_label(result.units, getattr(result, "label", "EF"))
    metrics = ["ACC", "F1", "AUROC"] if binary else ["MAE", "RMSE", "R2", "r"]
    primary = next(m for m in PRIMARY if m in metrics)
    table = Table(title=f"{result.task_tag} · protocol {result.protocol_tag} · units: {u}", title_justify="left",
                  caption=f"value [95 % bootstrap interval]; checkpoint picked on VAL (epoch {result.best_epoch}); "
                          f"one clip per video; vs constant: {primary} intervals"
                          + ("; reduced EF (EF < 50 %) positive" if binary else ""), caption_justify="left")
    for column in ("split", "model", *("R²" if m == "R2" else m for m in metrics), "n", "vs constant"):
        left = column in ("split", "model", "vs constant")  # units are in the title
        width = max(len(result.model), len("constant (TRAIN mean)")) if column == "model" else None
        table.add_column(column, justify="left" if left else "right", min_width=width,
                         max_width=10 if column == "vs constant" else None)
    for split in ("TEST", "VAL"):
        const = (result.constant[split], (result.constant_ci or {}).get(split, {}))
        rows = [(result.model, result.metrics[split], (result.metrics_ci or {}).get(split, {})), ("constant (TRAIN mean)", *const)]
        if result.all_clips:
            rows.insert(1, (result.model + " (all clips)", result.all_clips[split], (result.all_clips_ci or {}).get(split, {})))
        for name, m, ci in rows:
            cells = [_cell(m[k], ci.get(k), 3 if k in ("R2", "r") or binary else 2) for k in metrics]
            verdict = "–" if m is const[0] else versus_constant(
                primary, (m[primary], *ci.get(primary, (None, None))),
                (const[0][primary], *const[1].get(primary, (None, None))))
            table.add_row(split, escape(name), *cells, str(result.n[split]), verdict)
    out.print(table)
    if result.skipped:
        out.print("skipped videos: " + ", ".join(f"{k}: {v}" for k, v in sorted(result.skipped.items())))
    if result.notes:  # kept but noted (as `data check` shows them); also in the record and metrics.json
        out.print("notes (videos kept): " + escape(", ".join(f"{k}: {v}" for k, v in sorted(result.notes.items()))),
                  soft_wrap=True)
    for name, split, metrics in getattr(result, "external", []):  # external validation, no retraining
        out.print(escape(f"external validation · {name} · split {split} · one clip: "
                         + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if "[" not in k)), soft_wrap=True)
    log = f"\nrun log:       {result.log}" if getattr(result, "log", None) else ""
    out.print(f"run directory: {result.run_dir}\nrun record:    {result.record}{log}", soft_wrap=True)


def _cell(value: float, interval: tuple[float, float] | None, digits: int) -> str:
    """``value`` over ``[low, high]`` (two lines, so the table fits a terminal); a dash for NaN (e.g. Pearson r of a constant); no interval without bootstrap."""
    if value != value:
        return "–"
    low, high = interval or (float("nan"), float("nan"))
    text = f"{value:.{digits}f}"
    return text if low != low or high != high else f"{text}\n[{low:.{digits}f}, {high:.{digits}f}]"


def _echo(message: str) -> None:
    err.print(escape(message), highlight=False, soft_wrap=True)


def _echo_if_redirected():
    """Per-epoch and phase lines for stderr when it is not a terminal (no progress bars are drawn)."""
    return None if err.is_terminal else _echo


def _log(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _names(value: str, what: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise ConfigError(f"--{what}: give at least one name")
    return list(dict.fromkeys(names))


def _seeds(value: str) -> list[int]:
    try:
        seeds = [int(v) for v in _names(value, "seed")]
    except ValueError:
        raise ConfigError(f"--seed: expected comma-separated integers, got {value!r}") from None
    if any(s < 0 for s in seeds):
        raise ConfigError(f"--seed: seeds must be >= 0, got {value!r}")
    return seeds


@user_errors
def run(
    backbone: Annotated[str, typer.Option(help="Backbone name(s), comma-separated for a sweep (see `echobench list`); "
                                               "a variant as NAME:VARIANT, e.g. video-resnet:r2plus1d_18.")],
    head: Annotated[str, typer.Option(help="Head name(s), comma-separated.")],
    task: Annotated[str, typer.Option(help="Task name(s): ef, esv, edv, ef50; comma-separated.")] = "ef",
    data: Annotated[Path, typer.Option(help="Data directory (EchoNet-Dynamic format, or any registered dataset layout).")] = Path("echobench-demo/data"),
    dataset: Annotated[Optional[str], typer.Option(help="Registered dataset layout of --data (e.g. "
                                                   "echonet-dynamic); default: detected from the folder's files, else echonet-dynamic.")] = None,
    eval_data: Annotated[Optional[list[str]], typer.Option(
        "--eval-data", help="External validation (repeatable): PATH or DATASET=PATH of another dataset, scored "
                            "with the model trained and selected on --data, no retraining, same protocol and "
                            "--data's TRAIN normalisation; its TEST split if it has one, else all its labelled "
                            "videos (split ALL). Refused when the task's label is missing there or in other units.")] = None,
    protocol: Annotated[str, typer.Option(help="echovisionfm or echonet.")] = "echovisionfm",
    preset: Annotated[Optional[str], typer.Option(help="Backbone size preset (tiny, small, base, large).")] = "tiny",
    weights: Annotated[Optional[str], typer.Option(help="Local weights file for the backbone.")] = None,
    backbone_option: Annotated[Optional[list[str]], typer.Option(
        "--backbone-option", help="KEY=VALUE option the backbone declares (repeatable; see `echobench list "
                                  "backbone`), e.g. variant=r2plus1d_18.")] = None,
    head_option: Annotated[Optional[list[str]], typer.Option(
        "--head-option", help="KEY=VALUE option the head declares (repeatable).")] = None,
    freeze_backbone: Annotated[bool, typer.Option("--freeze-backbone", help="Train only the head (probe track).")] = False,
    robustness: Annotated[bool, typer.Option("--robustness", help="Also score TEST under every perturbation x severity.")] = False,
    seed: Annotated[str, typer.Option("--seed", "--seeds", help="Random seed(s), comma-separated, e.g. 0,1,2.")] = "0",
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs over TRAIN (the checkpoint is picked on VAL "
                                                   "after each).")] = defaults.EPOCHS,
    batch_size: Annotated[int, typer.Option(min=1, help="Clips per training step (and per evaluation batch).")
                          ] = defaults.BATCH_SIZE,
    lr: Annotated[float, typer.Option(min=1e-9, help="Peak AdamW learning rate.")] = defaults.LR,
    n_boot: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the 95 % intervals (0 = none).")
                      ] = defaults.N_BOOT,
    gpus: Annotated[Optional[int], typer.Option(help="CUDA devices (0 = CPU; default: 1 if present).")] = None,
    precision: Annotated[Optional[str], typer.Option(help="Fabric precision, e.g. 32-true, bf16-mixed.")] = None,
    num_workers: Annotated[Optional[int], typer.Option(min=0, help="DataLoader worker processes per device (default: 0 on CPU; on GPU the available cores per process); the decoding pass before training uses as many (default: the available cores per process).")] = None,
    results: Annotated[Path, typer.Option(help="Leaderboard directory for run records.")] = Path("leaderboard"),
    runs: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished run(s) with this configuration; "
                                         "completed ones in a sweep are not rerun.")] = False,
    placement: Annotated[str, typer.Option(help="sequential (one run after another here) or per-gpu (a sweep: one "
                                                "run per GPU of --gpus N at a time, each its own process).")] = "sequential",
    launcher: Annotated[str, typer.Option(help="local, or submitit: each run of the sweep as one job (SLURM where "
                                               "sbatch exists, else local processes); needs echobench[slurm].")] = "local",
    cpu_slots: Annotated[int, typer.Option(min=0, hidden=True, help="per-gpu placement over N CPU processes (tests).")] = 0,
) -> None:
    """Fine-tune on TRAIN, pick the checkpoint on VAL, evaluate on TEST; write a run record.

    Comma-separated backbones, heads, tasks and seeds run the whole grid (one record per run); a
    run that fails is reported and the sweep goes on. Ctrl-C (or SIGTERM) stops after saving the
    run's state; the same command with --resume continues it.
    """
    from dataclasses import replace

    from echobench.engine.loop import Interrupted
    from echobench.evaluation.external import parse_eval_data
    from echobench.experiment.sweep import plan_sweep, run_sweep
    from echobench.registry import get_registry
    from echobench.runner import RunConfig

    registry = get_registry()
    base = RunConfig(backbone="", head="", task="", data=data, protocol=protocol, preset=preset, weights=weights,
                     freeze_backbone=freeze_backbone, robustness=robustness, epochs=epochs, batch_size=batch_size,
                     lr=lr, n_boot=n_boot, gpus=gpus, precision=precision, num_workers=num_workers,
                     results=results, runs=runs, resume=resume, dataset=dataset,
                     eval_data=parse_eval_data(eval_data or [], registry=registry))
    configs = plan_sweep(replace(base, gpus=0) if cpu_slots else base, backbones=_names(backbone, "backbone"), heads=_names(head, "head"),
                         tasks=_names(task, "task"), seeds=_seeds(seed), backbone_pairs=backbone_option or [],
                         head_pairs=head_option or [], registry=registry)
    if placement != "sequential" or launcher != "local":  # one process or job per run (experiment.placement)
        _place([replace(c, gpus=gpus) for c in configs], placement=placement, launcher=launcher, gpus=gpus,
               cpu_slots=cpu_slots, runs=runs,
               extra=[*(["--dataset", dataset] if dataset else []),  # run_command spells out the model options
                      *(w for o in eval_data or [] for w in ("--eval-data", o)),
                      *(["--robustness"] if robustness else []), *(["--resume"] if resume else []),
                      *(["--num-workers", str(num_workers)] if num_workers is not None else [])])
        return
    with progress_factory() as make, stop_on_signals() as stop:
        def started(i: int, n: int, cfg) -> None:
            if n > 1:
                err.print(f"[bold]run {i}/{n}:[/] {escape(f'{cfg.backbone}+{cfg.head}, task {cfg.task}, seed {cfg.seed}')}")

        def finished(result) -> None:
            make.close()  # the live display must not redraw over the table
            render_result(result)

        def failed(line: str) -> None:
            err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)

        try:
            outcome = run_sweep(configs, registry=registry, progress=make, log=_log, stop=stop,
                                echo=_echo_if_redirected(), on_start=started, on_result=finished, on_failure=failed)
        except Interrupted as exc:
            err.print(f"[yellow]interrupted:[/] {escape(str(exc))}; rerun the same command with --resume")
            raise typer.Exit(130) from None
    if outcome.failures:
        err.print(f"[bold red]{len(outcome.failures)} of {outcome.runs} runs failed[/]; the others wrote their records")
        raise typer.Exit(1)

def _place(configs, *, placement, launcher, gpus, cpu_slots, runs, extra) -> None:
    """Run the sweep's runs one process (per GPU) or job each (:func:`echobench.experiment.placement.place_sweep`)."""
    import shlex

    from echobench.experiment.placement import place_sweep

    def say(message: str) -> None:
        err.print(escape(message), highlight=False, soft_wrap=True)

    placed = place_sweep(list(configs), to_words=lambda c: shlex.split(run_command(c)) + extra,
                         placement=placement, launcher=launcher, gpus=gpus, cpu_slots=cpu_slots,
                         logs=Path(runs) / "placement", on_event=say)
    failed = [p for p in placed if p.returncode != 0]
    out.print(f"{len(placed) - len(failed)} of {len(placed)} runs finished ({placement}, {launcher}); "
              f"records in the leaderboard directory, logs under {Path(runs) / 'placement'}", highlight=False)
    for p in failed:
        err.print(f"[bold red]failed:[/] {escape(' '.join(p.command[3:]))} on {p.where} (exit {p.returncode}; log "
                  f"{escape(str(p.log))})", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


# Measured on an idle 2-core CPU (README, "Set-up"), protocol echovisionfm@1, TEST split (150 videos): 7 min 37 s
# in all, R² 0.626 [0.499, 0.719], MAE 5.40
# vs 8.69 EF points for the constant predictor. With 1000 videos: R² 0.453 (checkpoint of epoch 5); with
# maxpool, 600 videos and 16-pixel patches (the earlier demo): R² ~0.15.
DEMO_VIDEOS = 1200
DEMO_EPOCHS = 10
DEMO_BATCH_SIZE = 8
DEMO_LR = 3e-4
DEMO_HEAD = "stff"
DEMO_BACKBONE_OPTIONS: dict[str, object] = {"patch_size": 32}  # the 8x7x7 token grid on 16x224x224 clips
DEMO_MIN_R2 = 0.5  # TEST R² asserted with ECHOBENCH_FULL_DEMO=1 (tests/cli/test_demo.py); the demo reached 0.626


@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the synthetic demo data go.")] = Path("echobench-demo"),
    videos: Annotated[int, typer.Option(min=12, help="Synthetic videos to generate.")] = DEMO_VIDEOS,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = DEMO_EPOCHS,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the synthetic data and of training.")] = 0,
    results: Annotated[Path, typer.Option(help="Leaderboard directory for the run record.")] = Path("leaderboard"),
    runs: Annotated[Path, typer.Option(help="Where the run directory goes.")] = Path("runs"),
) -> None:
    """Synthesize a small EchoNet-format dataset, fine-tune echo-videomae (tiny, 32 px patches) + the
    STFF-Net head on EF, and print the TEST and VAL results next to the constant predictor."""
    import json

    from echobench.data.synth import VERSION as SYNTH_VERSION
    from echobench.data.synth import synthesize
    from echobench.runner import RunConfig, run_experiment

    from echobench.engine.allocator import tune_cpu_allocator

    tune_cpu_allocator()  # all of the demo is CPU work: synthesis, decoding and training reuse freed memory
    data = out_dir / "data"
    marker = data / "SYNTHETIC.json"
    reuse = False
    filelist = data / "FileList.csv"
    if marker.is_file() and filelist.is_file() and filelist.stat().st_mtime >= marker.stat().st_mtime:
        try:  # reuse only a complete dataset written by this generator version with these settings
            meta = json.loads(marker.read_text())
        except (OSError, ValueError):
            meta = {}
        reuse = (meta.get("seed") == seed and meta.get("videos") == videos
                 and str(meta.get("version")) == str(SYNTH_VERSION)
                 and len(list((data / "Videos").glob("*.avi"))) == videos)
    with progress_factory() as make:
        if not reuse:
            synthesize(data, videos=videos, seed=seed, progress=make("synthesize videos", videos))
        cfg = RunConfig(backbone="echo-videomae", head=DEMO_HEAD, task="ef", data=data, protocol="echovisionfm",
                        preset="tiny", seed=seed, epochs=epochs, batch_size=DEMO_BATCH_SIZE, lr=DEMO_LR, gpus=0,
                        results=results, runs=runs, backbone_options=dict(DEMO_BACKBONE_OPTIONS))
        result = run_experiment(cfg, progress=make, log=_log, echo=_echo_if_redirected())
    out.print(f"[dim]synthetic data (not patient data): {data}[/]")
    render_result(result)
    out.print(f"the same run with `echobench run` (same settings, same config hash):\n  {escape(run_command(cfg))}",
              highlight=False, soft_wrap=True)


def run_command(cfg) -> str:
    """The ``echobench run`` command line that runs exactly ``cfg`` (a :class:`RunConfig`): every
    setting that defines the numbers is spelled out, so the command does not depend on defaults."""
    import shlex

    options = [("--backbone", cfg.backbone), ("--head", cfg.head), ("--task", cfg.task), ("--data", cfg.data),
               ("--protocol", cfg.protocol), ("--preset", cfg.preset), ("--weights", cfg.weights),
               ("--seed", cfg.seed), ("--epochs", cfg.epochs), ("--batch-size", cfg.batch_size), ("--lr", cfg.lr),
               ("--n-boot", cfg.n_boot), ("--gpus", cfg.gpus), ("--precision", cfg.precision),
               ("--results", cfg.results), ("--runs", cfg.runs)]
    words = ["echobench", "run"]
    for flag, value in options:
        if value is not None:
            words += [flag, str(value)]
    for flag, chosen in (("--backbone-option", cfg.backbone_options), ("--head-option", cfg.head_options)):
        for key, value in sorted(chosen.items()):
            words += [flag, f"{key}={value}"]
    if cfg.freeze_backbone:
        words.append("--freeze-backbone")
    return shlex.join(words)
