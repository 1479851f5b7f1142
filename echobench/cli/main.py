"""The ``echobench`` command: one small Typer app per command, composed here (STYLE "Typer").

Every command module imports its heavy dependencies (torch, PyAV, polars) inside the command, so
``echobench list`` and ``--help`` stay fast and torch-free.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from typer.core import TyperGroup

try:  # typer >= 0.2x vendors its own click
    from typer._click.exceptions import ClickException
except ImportError:  # older typer: click itself
    from click.exceptions import ClickException

from echobench import __version__
from echobench.cli import bench, common
from echobench.cli import data, leaderboard, plugins, prepare, pretrain, run, score
from echobench.cli import probe, robustness

class _OneLineErrors(TyperGroup):
    """The root command: option misuse anywhere below it (a value out of range, a bad type, an
    unknown or missing option, an unknown command) prints ONE ``error:`` line naming the option and
    pointing at ``--help``, exit code 2, like every other user mistake (never the usage box)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode: bool = True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `echobench` alone: the help (already shown)
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            common.err.print(f"[bold red]error:[/] {escape(' '.join(exc.format_message().split()) + hint)}",
                             highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            common.err.print("Aborted!", highlight=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="echobench",
    help="Benchmark harness for echocardiogram video models (EchoVisionFM reproduction).",
    cls=_OneLineErrors,
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
app.command("probe")(probe.probe)
app.command("robustness")(robustness.robustness)


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
