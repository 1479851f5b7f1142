"""``echobench probe``: the frozen-probe grid on cached features (thin wrapper over
:func:`echobench.probing.run_probes`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from echobench import defaults
from echobench.cli.common import err, out, progress_factory, stop_on_signals, user_errors
from echobench.errors import ConfigError


def _floats(value: str, flag: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{flag}: expected comma-separated numbers, got {value!r}") from None
    if not values:
        raise ConfigError(f"{flag}: give at least one number")
    return tuple(dict.fromkeys(values))


def _words(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))


def render_probes(result) -> None:
    """The grid (VAL score at each probe's best epoch, TEST primary metric, one clip) and the VAL selections."""
    metric = "TEST MAE" if result.units else "TEST ACC"
    table = Table(title=f"{result.task_tag} · protocol {result.protocol_tag} · frozen probes (features cached)",
                  title_justify="left", caption="selected on VAL; TEST is reported, never used to select; "
                                                "* = selected for its probe kind", caption_justify="left")
    for column in ("TRAIN", "probe", "lr", "wd", "epoch", "VAL score", metric):
        table.add_column(column, justify="left" if column in ("probe",) else "right")
    chosen = {(s["fraction"], s["probe"], s["lr"], s["weight_decay"])
              for s in result.selected if s["kind"] != "any probe"}
    for r in result.grid:
        star = "*" if (r["fraction"], r["probe"], r["lr"], r["weight_decay"]) in chosen else ""
        table.add_row(f"{r['fraction'] * 100:g}% ({r['train_videos']})", escape(r["probe"]) + star, f"{r['lr']:g}",
                      f"{r['weight_decay']:g}", str(r["best_epoch"]), f"{r['val_score']:.3f}", f"{r['test']:.3f}")
    out.print(table)
    for s in result.selected:
        if s["kind"] == "any probe":
            out.print(f"TRAIN {s['fraction'] * 100:g}%: selected on VAL: {escape(s['probe'])} lr {s['lr']:g} "
                      f"wd {s['weight_decay']:g} (VAL {s['val_score']:.3f})", highlight=False)
    out.print(f"features extracted: {', '.join(result.extracted) or 'none'}; read from the cache: "
              f"{', '.join(result.reused) or 'none'}; grid training {result.train_seconds:.1f} s", highlight=False)
    out.print(f"run directory: {result.run_dir}\nrun record:    {result.record}", soft_wrap=True)


@user_errors
def probe(
    backbone: Annotated[str, typer.Option(help="Backbone name (see `echobench list`), e.g. echo-videomae.")],
    task: Annotated[str, typer.Option(help="Task: ef, esv, edv, ef50.")] = "ef",
    data: Annotated[Path, typer.Option(help="EchoNet-Dynamic-format directory.")] = Path("echobench-demo/data"),
    protocol: Annotated[str, typer.Option(help="echovisionfm or echonet.")] = "echovisionfm",
    preset: Annotated[Optional[str], typer.Option(help="Backbone size preset.")] = "tiny",
    weights: Annotated[Optional[str], typer.Option(help="Local weights file for the backbone.")] = None,
    backbone_option: Annotated[Optional[list[str]], typer.Option(
        "--backbone-option", help="KEY=VALUE option the backbone declares (repeatable).")] = None,
    probes: Annotated[str, typer.Option(help="Probes, comma-separated: linear, attentive-1, attentive-4, maxpool, "
                                             "stff, or any head name.")] = (
        "linear,attentive-1,attentive-4,maxpool,stff"),
    lr: Annotated[str, typer.Option(help="Peak AdamW learning rates of the grid, comma-separated.")] = "1e-3,3e-4",
    wd: Annotated[str, typer.Option(help="Weight decays of the grid, comma-separated.")] = "0,0.05",
    train_fraction: Annotated[str, typer.Option(help="TRAIN fractions (label efficiency; nested fixed subsets), "
                                                     "e.g. 0.01,0.1,1.")] = "1",
    clips: Annotated[str, typer.Option(
        help="TEST clip samplers: one, uniform-K, all, beats.")] = "one,uniform-5,all,beats",
    seed: Annotated[int, typer.Option(min=0, help="Seed (initialisation, batch order, flips).")] = 0,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs over TRAIN (each probe's epoch picked on VAL).")
                      ] = defaults.EPOCHS,
    batch_size: Annotated[int, typer.Option(min=1, help="Clips per step (and per extraction batch).")
                          ] = defaults.BATCH_SIZE,
    n_boot: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the 95 % intervals.")] = defaults.N_BOOT,
    gpus: Annotated[Optional[int], typer.Option(help="CUDA devices (0 = CPU; at most 1).")] = None,
    cache: Annotated[Optional[Path], typer.Option(help="Feature cache folder (default: $ECHOBENCH_CACHE, else "
                                                       "RESULTS/feature-cache).")] = None,
    cache_dtype: Annotated[str, typer.Option(
        help="Cached token dtype: float32 or float16 (half the disk).")] = "float32",
    results: Annotated[Path, typer.Option(help="Leaderboard directory for run records.")] = Path("leaderboard"),
    runs: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
) -> None:
    """Frozen backbone: extract features once (cached on disk), train a grid of probes x learning
    rates x weight decays side by side on them, select on VAL, report TEST per clip sampler."""
    from echobench.engine.model import parse_model_options
    from echobench.probing import ProbeConfig, run_probes
    from echobench.registry import get_registry

    registry = get_registry()
    options, _ = parse_model_options(registry, backbone=backbone, head="maxpool", backbone_pairs=backbone_option or [])
    cfg = ProbeConfig(backbone=backbone, task=task, data=data, protocol=protocol, preset=preset, weights=weights,
                      probes=_words(probes), lrs=_floats(lr, "--lr"), weight_decays=_floats(wd, "--wd"),
                      train_fractions=_floats(train_fraction, "--train-fraction"), samplers=_words(clips), seed=seed,
                      epochs=epochs, batch_size=batch_size, n_boot=n_boot, gpus=gpus, dtype=cache_dtype,
                      results=results, runs=runs, cache=cache, backbone_options=options)
    from echobench.engine.loop import Interrupted

    with progress_factory() as make, stop_on_signals() as stop:
        try:
            result = run_probes(cfg, progress=make, log=lambda m: err.print(f"[yellow]warning:[/] {escape(m)}"),
                                registry=registry, stop=stop)
        except Interrupted as exc:
            err.print(f"[yellow]interrupted:[/] {escape(str(exc))}; extracted features stay cached")
            raise typer.Exit(130) from None
        make.close()
    render_probes(result)
