"""``echobench leaderboard``: Markdown view of the run records on stdout (also written as .md, .csv and a
self-contained .html page with plots under the leaderboard directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from echobench.cli.common import skip_reporter, user_errors


@user_errors
def leaderboard(
    results: Annotated[Path, typer.Option(help="Leaderboard directory holding records/.")] = Path("leaderboard"),
    task: Annotated[Optional[str], typer.Option(help="Only this task.")] = None,
    protocol: Annotated[Optional[str], typer.Option(help="Only this protocol.")] = None,
    split: Annotated[str, typer.Option(help="TEST, VAL, or 'all' (measured rows; published rows keep their split).")] = "TEST",
    reported: Annotated[bool, typer.Option("--reported/--no-reported", help="Show the published reference numbers.")] = True,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Also write leaderboard.html and its PNGs.")] = True,
    throughput: Annotated[bool, typer.Option("--throughput", help="Show the throughput records of `echobench bench` "
                                                                   "(throughput/) instead of the accuracy table.")] = False,
) -> None:
    """Show the leaderboard: mean ± sd over seeds, grouped so only like is compared with like."""
    with skip_reporter("record file(s) skipped; the board is built from the rest") as on_skip:
        if throughput:
            from echobench.results.throughput import markdown, read_throughput

            typer.echo(markdown(read_throughput(results, on_skip=on_skip)))
            return
        from echobench.results.leaderboard import build_leaderboard

        typer.echo(build_leaderboard(results, task=task, protocol=protocol,
                                     split=None if split == "all" else split.upper(), reported=reported, html=html,
                                     on_skip=on_skip))
