"""``runs/<id>/log.txt``: the plain-text account of one run (STYLE rule 14: every run leaves a log).

One line per event, each stamped with UTC wall-clock time: the settings, how the data were read
(skipped videos with their reasons, notes), one line per epoch (mean train loss, the VAL score the
checkpoint is picked by, seconds), the time of every phase, and how the run ended. Lines written
before the run directory exists (data preparation) are kept and written once it does; a resumed
run appends to the same file. The same lines can be echoed (``echo``) to a stderr that is not a
terminal, where no progress bar is drawn, so a redirected run is never silent.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

LOG_NAME = "log.txt"


class RunLog:
    """Append-only ``log.txt`` of one run; lines before :meth:`attach` are buffered.

    Args:
        echo: also called with every line (without its time stamp), e.g. a stderr printer.
    """

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.echo = echo
        self.path: Path | None = None
        self._pending: list[str] = []

    def line(self, text: str, *, echo: bool = True) -> None:
        """Record one event (multi-line text is written as one line per line); ``echo=False``: the
        file only (the caller already showed it, e.g. a warning)."""
        stamp = f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
        for part in str(text).splitlines() or [""]:
            stamped = f"{stamp} {part}"
            if self.path is None:
                self._pending.append(stamped)
            else:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(stamped + "\n")
            if echo and self.echo is not None:
                self.echo(part)

    def attach(self, run_dir: Path) -> Path:
        """Start writing ``run_dir/log.txt`` (appending: a resumed run continues it); returns its path."""
        self.path = Path(run_dir) / LOG_NAME
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.writelines(line + "\n" for line in self._pending)
        self._pending.clear()
        return self.path

    def settings(self, config: Mapping[str, Any]) -> None:
        """One ``settings:`` line with the run's resolved configuration (as in ``config.json``)."""
        self.line("settings: " + json.dumps(dict(config), sort_keys=True, default=str))

    def counts(self, what: str, counter: Mapping[str, int]) -> None:
        """``<what>: <n> <reason>, ...`` (or ``none``), e.g. the skipped videos and their reasons."""
        items = ", ".join(f"{n} {reason}" for reason, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
        self.line(f"{what}: {items or 'none'}")

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block: ``phase <name>: <s> s`` when it ends (also when it raises, marked failed)."""
        start = time.monotonic()
        try:
            yield
        except BaseException:
            self.line(f"phase {name}: {time.monotonic() - start:.1f} s (did not finish)")
            raise
        self.line(f"phase {name}: {time.monotonic() - start:.1f} s")

    def epochs(self, total: int, score_name: str, *, start: int = 0) -> Callable[[Any], None]:
        """A callback for every saved fit state: logs each newly finished epoch once.

        The state is :class:`echobench.engine.loop.FitState` (``train_loss``, ``val_score``,
        ``best_epoch``); ``start`` epochs were finished before (a resumed run). A save in the middle
        of an epoch (an interruption) logs nothing new.
        """
        done = [start]
        clock = [time.monotonic()]

        def logged(state: Any) -> None:
            while done[0] < len(state.val_score):
                i, now = done[0], time.monotonic()
                best = " (best so far)" if state.best_epoch == i + 1 else ""
                self.line(f"epoch {i + 1}/{total}: train loss {_num(state.train_loss[i])}, "
                          f"{score_name} {_num(state.val_score[i])}{best}, {now - clock[0]:.1f} s")
                clock[0] = now
                done[0] += 1

        return logged


def _num(value: float) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.4f}"
