"""Rendering of a :class:`~echobench.data.echonet.DataReport` for ``echobench data check``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from echobench.contract.dataset import DataReport
from echobench.data.readers import EF_TOLERANCE, LABEL_CHECKS

_SHOW_NAMES = 5
_SHOW_MESSAGES = 10
_UNITS = {"EF": "EF (%)", "ESV": "ESV (mL)", "EDV": "EDV (mL)"}


def _table(title: str, *columns: str, text_last: bool = False) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, min_width=32)
    for i, column in enumerate(columns):
        left = i == 0 or (text_last and i == len(columns) - 1)
        table.add_column(column, justify="left" if left else "right")
    return table


def _names(names: list[str]) -> str:
    shown = ", ".join(escape(n) for n in names[:_SHOW_NAMES])
    return shown + (f", … ({len(names) - _SHOW_NAMES} more)" if len(names) > _SHOW_NAMES else "")


def _counts(title: str, rows: Iterable[tuple[str, int]], unit: str = "rows") -> Table:
    table = _table(title, "reason", unit)
    for reason, count in rows:
        table.add_row(escape(reason), str(count))
    return table


def render_report(report: DataReport, console: Console, *, units: Mapping[str, str] | None = None,
                  listed_in: str = "FileList.csv") -> None:
    """Print a compact summary of ``report`` with Rich tables (splits, skips, notes, labels...).

    ``units``: label column -> units (a dataset spec's ``labels``); ``listed_in``: the file whose rows
    the report counts (a dataset spec's first marker)."""
    skipped = sum(report.skipped.values())
    console.print(
        f"[bold]{escape(str(report.root))}[/]: {report.rows} rows in {escape(listed_in)}, "
        f"[green]{report.usable()} usable[/], " + (f"[red]{skipped} skipped[/]" if skipped else "0 skipped")
    )
    splits = _table("Usable rows per split", "split", "rows")
    for split, count in report.rows_per_split.items():
        splits.add_row(split, str(count))
    splits.add_row("[bold]total[/]", f"[bold]{report.usable()}[/]")
    console.print(splits)
    if report.skipped:
        console.print(_counts("Skipped rows", report.skipped.most_common()))
    if report.notes:
        console.print(_counts("Notes (rows kept)", report.notes.most_common()))
    if report.entries_skipped:
        console.print(_counts("Files in Videos/ not used", report.entries_skipped.most_common(), "files"))

    files = _table("Files", "", "count", "first names", text_last=True)
    files.add_row("listed but missing", str(len(report.missing_videos)), _names(report.missing_videos))
    files.add_row("present but unlisted", str(len(report.unlisted_videos)), _names(report.unlisted_videos))
    files.add_row("tracing rows for unlisted files", str(report.tracings_for_unlisted), "")
    files.add_row("frame-count mismatches", str(report.notes["NumberOfFrames differs from the file"]), "")
    files.add_row("container fps mismatches", str(report.notes["container fps differs from FileList FPS"]), "")
    console.print(files)

    traced = _table("Traced frames per video", "traced frames", "videos")
    for frames, videos in report.traced_frames_hist.items():
        traced.add_row(str(frames), str(videos))
    checks = _table(f"Label checks (rows kept; EF tolerance {EF_TOLERANCE:g} points)", "", "videos", "first names",
                    text_last=True)
    for reason in LABEL_CHECKS:
        checks.add_row(escape(reason), str(report.notes[reason]), _names(report.names.get(reason, [])))
    labels = _table("Labels (usable rows)", "label", "min", "mean", "max")
    for label, (low, mean, high) in report.label_ranges.items():
        name = _UNITS.get(label) or (f"{label} ({units[label]})" if units and units.get(label) else label)
        labels.add_row(escape(name), f"{low:.1f}", f"{mean:.1f}", f"{high:.1f}")
    console.print(traced)
    console.print(labels)
    console.print(checks)

    if report.messages:
        skips = [m for m in report.messages if m.startswith("skipped")]
        shown = (skips + [m for m in report.messages if not m.startswith("skipped")])[:_SHOW_MESSAGES]
        console.print(f"[bold]Messages[/] (first {len(shown)} of {len(report.messages)} stored, skips first):")
        for message in shown:
            console.print(f"  {escape(message)}", soft_wrap=True)
