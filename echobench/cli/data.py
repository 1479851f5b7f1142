"""``echobench data``: inspect (``check``) and create (``synth``) EchoNet-format data.

Thin commands: each parses, calls one library function, and renders. Progress goes to stderr,
results to stdout; a user error prints one ``error: ...`` line on stderr and exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from echobench.errors import EchobenchError

app = typer.Typer(help="Inspect and create EchoNet-format data.", no_args_is_help=True)


def _progress(total: int | None = None) -> Progress:
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if total is None:
        columns[2] = TextColumn("{task.completed} videos")
    return Progress(*columns, console=Console(stderr=True), transient=True)


def _fail(exc: EchobenchError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


@app.command()
def check(
    root: Annotated[Path, typer.Argument(help="EchoNet-format directory (FileList.csv, VolumeTracings.csv, Videos/).")],
) -> None:
    """Read ROOT as EchoNet-Dynamic data and report what was used, skipped and odd."""
    from echobench.data.check import render_report
    from echobench.data.echonet import read_echonet

    try:
        with _progress() as progress:
            task = progress.add_task("probing videos", total=None)
            data = read_echonet(root, progress=lambda n: progress.advance(task, n))
    except EchobenchError as exc:
        raise _fail(exc) from None
    render_report(data.report, Console())


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Directory to write (FileList.csv, VolumeTracings.csv, Videos/).")],
    videos: Annotated[int, typer.Option(min=1, help="Number of videos to simulate.")] = 32,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
) -> None:
    """Write a synthetic EchoNet-format dataset with physically consistent labels to OUT."""
    from echobench.data.synth import synthesize

    try:
        with _progress(videos) as progress:
            task = progress.add_task("writing videos", total=videos)
            summary = synthesize(out, videos=videos, seed=seed, progress=lambda n: progress.advance(task, n))
    except EchobenchError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"wrote {summary.videos} synthetic videos to {out} (seed {seed}; EF mean {summary.ef_mean:.1f} %, "
        f"sd {summary.ef_sd:.1f} %)"
    )
