"""Leaderboard figures drawn once per run and reused (issue 15 item 7: the cost of a board grows with
new records only).

A figure's PNG name carries a key hashed from what it shows: the figure's name (task, split, clips,
model, run), its kind, its title, :data:`FIGURE_VERSION` and the size and modification time of the
run's ``predictions.parquet`` (written once, atomically, when the run finishes). When that PNG is
already under ``figures/`` it is reused without reading the predictions or importing matplotlib; a
re-written predictions file or a new drawing version gives a new name, and the page's stale-figure
sweep (:func:`echobench.results.page.write_page`) removes the old one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

FIGURE_VERSION = "2"  # bump when a plot's drawing changes, so every cached PNG is redrawn


def figure_path(folder: Path, stem: str, kind: str, *, title: str, source: Path) -> Path | None:
    """``<folder>/<stem>-<key>-<kind>.png`` for a figure drawn from ``source``; None when ``source``
    is not a readable file (its row keeps its table row and loses its pictures)."""
    try:
        st = Path(source).stat()
    except OSError:
        return None
    key = hashlib.sha1(f"{FIGURE_VERSION}|{stem}|{kind}|{title}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    return Path(folder) / f"{stem}-{key[:10]}-{kind}.png"


def cached(path: Path, draw: Callable[[Path], Path | None]) -> Path | None:
    """``path`` when it is already drawn, else ``draw(path)`` (which writes it, or returns None when
    there is nothing to draw)."""
    return path if path.is_file() else draw(path)
