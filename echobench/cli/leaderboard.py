"""``echobench leaderboard``: Markdown view of the run records on stdout. An unfiltered call also
rewrites the whole saved board under the leaderboard directory (.md, .csv and a self-contained .html
page with plots); a filtered view (``--task``, ``--protocol``, ``--no-reported``) goes to stdout or
``--out`` and never replaces it. Where files were written is said on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from echobench.cli.common import err, skip_reporter, user_errors
from echobench.contract.dataset import SPLITS
from echobench.errors import ConfigError


@user_errors
def leaderboard(
    results: Annotated[Path, typer.Option(help="Leaderboard directory holding records/.")] = Path("leaderboard"),
    task: Annotated[Optional[str], typer.Option(help="Only this task (a filtered view: the saved board is "
                                                     "not rewritten).")] = None,
    protocol: Annotated[Optional[str], typer.Option(help="Only this protocol (a filtered view).")] = None,
    split: Annotated[str, typer.Option(help="TEST, VAL, or 'all' (measured rows; published rows keep their split). "
                                            "The saved board always holds every split.")] = "TEST",
    reported: Annotated[bool, typer.Option("--reported/--no-reported", help="Show the published reference numbers "
                                           "(--no-reported is a filtered view).")] = True,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Also write leaderboard.html and its PNGs.")] = True,
    out: Annotated[Optional[Path],
                   typer.Option("--out", help="Also write the Markdown view shown to this file.")] = None,
    throughput: Annotated[bool, typer.Option("--throughput", help="Show the throughput records of `echobench bench` "
                                                                   "(throughput/) instead of the accuracy table.")
                          ] = False,
) -> None:
    """Show the leaderboard: mean ± sd over seeds, grouped so only like is compared with like; models
    are ranked only when they beat the constant predictor (TRAIN mean) beyond its interval."""
    if split.lower() != "all" and split.upper() not in SPLITS:
        raise ConfigError(f"--split {split!r}: expected one of {', '.join(SPLITS)} or 'all'")
    with skip_reporter("record file(s) skipped; the board is built from the rest") as on_skip:
        if throughput:
            from echobench.results.throughput import markdown, read_throughput

            records = read_throughput(results, on_skip=on_skip)
            if records.is_empty():
                typer.echo(f"no throughput records under {results / 'throughput'}: run `echobench bench`")
                return
            typer.echo(markdown(records))
            return
        from echobench.results.leaderboard import build_leaderboard

        board = build_leaderboard(results, task=task, protocol=protocol,
                                  split=None if split.lower() == "all" else split.upper(), reported=reported, html=html,
                                  out=out, on_skip=on_skip)
    typer.echo(board.text)
    if board.saved:
        figures = (f"; {board.figures} figure(s) in {results / 'figures'}" if html else "") + (
            f", {board.removed} stale one(s) removed" if board.removed else "")
        err.print(f"saved board (every task and split): {', '.join(map(str, board.saved))}{figures}",
                  highlight=False, soft_wrap=True)
    else:
        err.print(f"filtered view: the saved board under {results} is left unchanged", highlight=False, soft_wrap=True)
    if board.view is not None:
        err.print(f"view written to {board.view}", highlight=False, soft_wrap=True)
