"""``echobench leaderboard``: Markdown view of the run records on stdout (also written as .md/.csv)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from echobench.cli.common import user_errors


@user_errors
def leaderboard(
    results: Annotated[Path, typer.Option(help="Leaderboard directory holding records/.")] = Path("leaderboard"),
    task: Annotated[Optional[str], typer.Option(help="Only this task.")] = None,
    protocol: Annotated[Optional[str], typer.Option(help="Only this protocol.")] = None,
    split: Annotated[str, typer.Option(help="TEST, VAL, or 'all'.")] = "TEST",
) -> None:
    """Show the leaderboard: mean ± sd over seeds, grouped so only like is compared with like."""
    from echobench.results.leaderboard import build_leaderboard

    typer.echo(build_leaderboard(results, task=task, protocol=protocol, split=None if split == "all" else split.upper()))
