"""``echobench run`` and ``echobench demo``: thin wrappers over :func:`echobench.runner.run_experiment`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from echobench.cli.common import err, out, progress_factory, user_errors


def render_result(result) -> None:
    """Print the model next to the constant predictor, per split, naming protocol, task and units."""
    from echobench.results.leaderboard import units_label

    u = units_label(result.units)
    table = Table(title=f"{result.task_tag} · protocol {result.protocol_tag} · units: {u}", title_justify="left",
                  caption=f"checkpoint picked on VAL (epoch {result.best_epoch})", caption_justify="left")
    for column in ("split", "model", "MAE", "RMSE", "R²", "n"):  # units are in the title
        left = column in ("split", "model")
        width = max(len(result.model), len("constant (TRAIN mean)")) if column == "model" else None
        table.add_column(column, justify="left" if left else "right", min_width=width)
    for split in ("TEST", "VAL"):
        for name, m in ((result.model, result.metrics[split]),
                        ("constant (TRAIN mean)", result.constant[split])):
            table.add_row(split, escape(name), f"{m['MAE']:.2f}", f"{m['RMSE']:.2f}", f"{m['R2']:.3f}", str(result.n[split]))
    out.print(table)
    if result.skipped:
        out.print("skipped videos: " + ", ".join(f"{k}: {v}" for k, v in sorted(result.skipped.items())))
    out.print(f"run directory: {result.run_dir}\nrun record:    {result.record}", soft_wrap=True)


def _log(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


@user_errors
def run(
    backbone: Annotated[str, typer.Option(help="Backbone name (see `echobench list`).")],
    head: Annotated[str, typer.Option(help="Head name.")],
    task: Annotated[str, typer.Option(help="Task name: ef, esv, edv.")] = "ef",
    data: Annotated[Path, typer.Option(help="EchoNet-Dynamic-format directory.")] = Path("echobench-demo/data"),
    protocol: Annotated[str, typer.Option(help="echovisionfm or echonet.")] = "echovisionfm",
    preset: Annotated[Optional[str], typer.Option(help="Backbone size preset (tiny, small, base, large).")] = "tiny",
    weights: Annotated[Optional[str], typer.Option(help="Local weights file for the backbone.")] = None,
    freeze_backbone: Annotated[bool, typer.Option("--freeze-backbone", help="Train only the head (probe track).")] = False,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
    epochs: Annotated[int, typer.Option(min=1)] = 8,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    lr: Annotated[float, typer.Option(min=1e-9, help="Peak AdamW learning rate.")] = 3e-4,
    gpus: Annotated[Optional[int], typer.Option(help="CUDA devices (0 = CPU; default: 1 if present).")] = None,
    precision: Annotated[Optional[str], typer.Option(help="Fabric precision, e.g. 32-true, bf16-mixed.")] = None,
    num_workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes.")] = 0,
    results: Annotated[Path, typer.Option(help="Leaderboard directory for run records.")] = Path("leaderboard"),
    runs: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
) -> None:
    """Fine-tune on TRAIN, pick the checkpoint on VAL, evaluate on TEST; write a run record."""
    from echobench.runner import RunConfig, run_experiment

    cfg = RunConfig(backbone=backbone, head=head, task=task, data=data, protocol=protocol, preset=preset,
                    weights=weights, freeze_backbone=freeze_backbone, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr, gpus=gpus,
                    precision=precision, num_workers=num_workers, results=results, runs=runs)
    with progress_factory() as make:
        result = run_experiment(cfg, progress=make, log=_log)
    render_result(result)


DEMO_VIDEOS = 600
DEMO_EPOCHS = 10


@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the synthetic demo data go.")] = Path("echobench-demo"),
    videos: Annotated[int, typer.Option(min=12, help="Synthetic videos to generate.")] = DEMO_VIDEOS,
    epochs: Annotated[int, typer.Option(min=1)] = DEMO_EPOCHS,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    results: Annotated[Path, typer.Option(help="Leaderboard directory for the run record.")] = Path("leaderboard"),
    runs: Annotated[Path, typer.Option(help="Where the run directory goes.")] = Path("runs"),
) -> None:
    """Synthesize a small EchoNet-format dataset, fine-tune echo-videomae (tiny) + maxpool on EF,
    and print the TEST and VAL results next to the constant predictor."""
    import json

    from echobench.data.synth import VERSION as SYNTH_VERSION
    from echobench.data.synth import synthesize
    from echobench.runner import RunConfig, run_experiment

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
        cfg = RunConfig(backbone="echo-videomae", head="maxpool", task="ef", data=data, protocol="echovisionfm",
                        preset="tiny", seed=seed, epochs=epochs, batch_size=8, gpus=0,
                        results=results, runs=runs)
        result = run_experiment(cfg, progress=make, log=_log)
    out.print(f"[dim]synthetic data (not patient data): {data}[/]")
    render_result(result)
