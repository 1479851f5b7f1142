"""``echobench list``: every backbone, head, task and pretrainer with the plugin, distribution and
version that provided it. Imports no torch (specs are lazy)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from echobench.cli.common import err, out, user_errors
from echobench.errors import UnknownNameError

KINDS = ("backbone", "head", "task", "pretrainer")


@user_errors
def list_plugins(
    kind: Annotated[Optional[str], typer.Argument(help="Only this kind: backbone, head, task or pretrainer.")] = None,
) -> None:
    """List registered backbones, heads, tasks and pretrainers with their provenance."""
    from echobench.registry import ENV_VAR, get_registry

    registry = get_registry()
    kinds = KINDS if kind is None else (kind.rstrip("s"),)
    for k in kinds:
        if k not in KINDS:
            raise UnknownNameError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
        table = Table(title=f"{k}s", title_justify="left", expand=False)
        for column in ("name", "summary", "plugin", "distribution", "version"):
            table.add_column(column, overflow="fold", no_wrap=column != "summary",
                             ratio=1 if column == "summary" else None)
        for name in registry.names(k):  # type: ignore[arg-type]
            e = registry.entries[k][name]  # type: ignore[index]
            table.add_row(*(escape(str(v)) for v in (name, e.spec.summary, e.plugin, e.distribution, e.version)))
        if not registry.entries[k]:  # type: ignore[index]
            table.add_row("(none)", "", "", "", "")
        out.print(table)
    for problem in registry.load_errors:
        err.print(f"[yellow]warning:[/] {escape(problem)}", highlight=False)
    import os

    if os.environ.get(ENV_VAR) is not None:
        err.print(f"[dim]{ENV_VAR}={escape(repr(os.environ[ENV_VAR]))} restricts which plugins load[/]")
