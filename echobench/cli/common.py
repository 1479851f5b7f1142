"""Shared CLI plumbing: stderr console for progress/logs, one-line errors, progress bars.

Data goes to stdout, progress and logs to stderr (Typer/Rich convention, STYLE "Typer").
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from echobench.errors import EchobenchError

F = TypeVar("F", bound=Callable)


def _no_flag_placeholder() -> None:
    """Help shows no ``<bool>`` placeholder after a flag (``--resume``, ``--help``): a flag takes no
    value. Typer >= 0.20 prints the flag's type in the rich help's type column; an empty metavar is
    what its ``display_type_rich`` shows instead (typer/core.py ``TyperOption.display_type_rich``)."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "_echobench", False):
        return

    def display_type_rich(self, ctx):
        return "" if getattr(self, "is_flag", False) and not getattr(self, "count", False) else shown(self, ctx)

    display_type_rich._echobench = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_flag_placeholder()

out = Console()
err = Console(stderr=True)


def user_errors(fn: F) -> F:
    """Decorator: an :class:`EchobenchError` becomes ``error: <one line>`` on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EchobenchError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # unwritable output folder, a file where a folder should be, disk full
            where = f"{exc.filename}: " if exc.filename else ""
            err.print(f"[bold red]error:[/] {escape(where + str(exc.strerror or exc))}", highlight=False,
                      soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def skip_reporter(summary: str) -> Iterator[Callable[[object, str], None]]:
    """Yields ``on_skip(path, reason)``, which prints ``skipped: <path>: <reason>`` (one line each) on
    stderr; on leaving, ``<count> <summary>`` follows when anything was skipped."""
    count = [0]

    def on_skip(path: object, reason: str) -> None:
        count[0] += 1
        err.print(f"[yellow]skipped:[/] {escape(f'{path}: {reason}')}", highlight=False, soft_wrap=True)

    yield on_skip
    if count[0]:
        err.print(f"[yellow]{count[0]} {escape(summary)}[/]", highlight=False, soft_wrap=True)


class Bars:
    """Rich progress bars on stderr: ``bars(description, total) -> advance(n=1)``; :meth:`close`
    stops the live display (clearing it) so results can be printed below it.

    A bar (and the display) appears with its first advance, so a command that fails before any
    work prints only its one ``error:`` line. After :meth:`close` the next bar starts a fresh display.
    """

    def __init__(self) -> None:
        columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())
        self.progress = Progress(*columns, console=err, transient=True)

    def __call__(self, description: str, total: int | None) -> Callable[[int], None]:
        progress = self.progress
        task: list[int] = []  # the bar appears with its first advance

        def advance(n: int = 1) -> None:
            if not task:
                if not progress.live.is_started and err.is_terminal:  # a file gets no bars (nor a blank line)
                    progress.start()
                for earlier in progress.tasks:  # a new stage starts: freeze the clocks of earlier ones
                    if not earlier.finished:
                        progress.update(earlier.id, total=earlier.completed)
                        progress.stop_task(earlier.id)
                task.append(progress.add_task(description, total=total))
            if task[0] in progress.task_ids:  # a bar of a closed display advances nothing
                progress.advance(task[0], n)

        return advance

    def close(self) -> None:
        """Stop (and clear) the live display and forget its bars; call before printing results."""
        if self.progress.live.is_started:
            self.progress.stop()
        for task in list(self.progress.task_ids):
            self.progress.remove_task(task)


@contextmanager
def progress_factory() -> Iterator[Bars]:
    """Rich progress bars on stderr (:class:`Bars`); the display is stopped on exit.

    Every command prints its results only after the display is stopped (leaving the block, or
    :meth:`Bars.close` between the runs of a sweep): a live display redrawing after a result was
    printed would overwrite the result's last lines on a terminal.
    """
    bars = Bars()
    try:
        yield bars
    finally:
        bars.close()


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], bool]]:
    """SIGINT/SIGTERM ask the running job to stop cleanly: yields ``stop() -> bool`` for the job to
    poll (it saves its state, then stops). A second SIGINT interrupts at once, as usual. Processes
    forked meanwhile (DataLoader workers: Ctrl-C reaches the terminal's whole process group) ignore
    the signals; the job stops them."""
    import os
    import signal

    requested: list[int] = []
    owner = os.getpid()

    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        if os.getpid() != owner:  # a forked worker: the job it works for decides
            return
        if requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        requested.append(signum)
        err.print("[yellow]stopping after the current step (state is saved; rerun with --resume)…[/]")

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for s in previous:
            signal.signal(s, handler)
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    try:
        yield lambda: bool(requested)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
