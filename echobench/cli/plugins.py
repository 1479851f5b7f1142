"""``echobench list``: every backbone, head, task and pretrainer with the plugin, distribution and
version that provided it, each backbone's size presets and fixed options (e.g. video-resnet's
``variant``), and the clip protocols; ``--json`` for scripts. Imports no torch (specs are lazy)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from echobench.cli.common import err, out, user_errors
from echobench.errors import UnknownNameError

KINDS = ("backbone", "head", "task", "pretrainer", "dataset")
PROTOCOL = "protocol"


def _options(spec) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(spec.defaults.items())) or "–"


def listing(registry, kinds: tuple[str, ...]) -> dict[str, list[dict]]:
    """What ``echobench list`` shows, as plain data: kind -> entries (name, summary, provenance;
    presets and options for backbones; frames/size/period/normalization for protocols)."""
    from echobench.protocols import PROTOCOLS

    shown: dict[str, list[dict]] = {}
    for k in kinds:
        if k == PROTOCOL:
            shown[k] = [{"name": p.name, "version": p.version, "tag": p.tag, "summary": p.summary,
                         **{f: v for f, v in asdict(p).items() if f not in ("name", "version", "summary")}}
                        for p in PROTOCOLS.values()]
            continue
        shown[k] = []
        for name in registry.names(k):
            e = registry.entries[k][name]
            item = {"name": name, "summary": e.spec.summary, "plugin": e.plugin, "distribution": e.distribution,
                    "version": e.version}
            if k == "backbone":
                item.update(presets=list(e.spec.presets), options=dict(e.spec.defaults))
            if k == "dataset":
                item.update(labels=dict(e.spec.labels), subgroups=list(e.spec.subgroups),
                            dataset_version=e.spec.version)
            shown[k].append(item)
    return shown


@user_errors
def list_plugins(
    kind: Annotated[Optional[str], typer.Argument(help="Only this kind: backbone, head, task, pretrainer, "
                                                       "dataset or protocol.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (kind -> entries) instead of tables.")] = False,
) -> None:
    """List registered backbones (with their presets and options), heads, tasks, pretrainers, dataset
    layouts and the clip protocols, with their provenance."""
    from echobench.registry import ENV_VAR, get_registry

    registry = get_registry()
    every = (*KINDS, PROTOCOL)
    kinds = every if kind is None else (kind.rstrip("s"),)
    for k in kinds:
        if k not in every:
            raise UnknownNameError(f"unknown kind {kind!r}; choose from {', '.join(every)}")
    shown = listing(registry, kinds)
    if as_json:
        typer.echo(json.dumps(shown, indent=2, default=str))
    for k, entries in ({} if as_json else shown).items():
        table = Table(title=f"{k}s", title_justify="left", expand=False)
        if k == PROTOCOL:
            columns = ("name", "version", "summary")  # frames, period, size, normalization: in --json
        else:
            columns = ("name", *(("presets", "options") if k == "backbone" else ()), "summary", "plugin",
                       "distribution", "version")
        for column in columns:
            table.add_column(column, overflow="fold", no_wrap=column != "summary",
                             ratio=1 if column == "summary" else None)
        for e in entries:
            cells = {**e, "presets": ", ".join(e.get("presets", [])) or "–",
                     "options": _options(registry.entries[k][e["name"]].spec) if k == "backbone" else ""}
            table.add_row(*(escape(str(cells[c])) for c in columns))
        if not entries:
            table.add_row("(none)", *("" for _ in columns[1:]))
        out.print(table)
    for problem in registry.load_errors:
        err.print(f"[yellow]warning:[/] {escape(problem)}", highlight=False)
    import os

    if os.environ.get(ENV_VAR) is not None:
        err.print(f"[dim]{ENV_VAR}={escape(repr(os.environ[ENV_VAR]))} restricts which plugins load[/]")
