"""The ``echobench`` command: one small Typer app per command, composed here (STYLE "Typer").

Every command module imports its heavy dependencies (torch, PyAV, polars) inside the command, so
``echobench list`` and ``--help`` stay fast and torch-free.
"""

from __future__ import annotations

import typer

from echobench import __version__
from echobench.cli import bench
from echobench.cli import data, leaderboard, plugins, prepare, pretrain, run, score

app = typer.Typer(
    name="echobench",
    help="Benchmark harness for echocardiogram video models (EchoVisionFM reproduction).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("list")(plugins.list_plugins)
app.add_typer(data.app, name="data")
app.add_typer(prepare.app, name="prepare")
app.command("run")(run.run)
app.command("demo")(run.demo)
app.command("leaderboard")(leaderboard.leaderboard)
app.command("bench")(bench.bench)
app.command("pretrain")(pretrain.pretrain)
app.command("score")(score.score)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"echobench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Benchmark harness for echocardiogram video models (EchoVisionFM reproduction)."""


def main() -> None:
    """Console-script entry point."""
    app()
