"""The leaderboard's HTML page: every comparison-group table plus the pictures users expect
(DESIGN §7): predicted-vs-true scatter and Bland–Altman plots for regression tasks, ROC and
confusion-matrix plots for ``ef50``, drawn from each run's ``predictions.parquet``.

For a model averaged over seeds, the pictures show its first run (lowest run directory name) and
say so. Rows whose run directory is gone keep their table row and lose only their pictures.

At scale (issue 15 item 7): only the first :data:`FIGURES_PER_GROUP` models of a group (in ranked
order) get pictures, each picture is drawn once per run and reused by later boards
(:mod:`echobench.results.figure_cache`), and every table sorts and filters in the browser
(:mod:`echobench.results.html`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from echobench.results.leaderboard import (binary_threshold, group_title, groups, is_external, memo, table, task_label,
                                           units_label)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:90]


def _predictions(run_dir: str | None, split: str, clips: str) -> pl.DataFrame | None:
    if not run_dir:
        return None
    path = Path(run_dir) / "predictions.parquet"
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError):
        return None
    if "clips" in frame.columns:
        frame = frame.filter(pl.col("clips") == clips)
    frame = frame.filter(pl.col("split") == split)
    return frame if frame.height else None


FIGURES_PER_GROUP = 3  # pictures for the first k models of a group (ranked order), so 1,000 rows stay readable


def _arrays(key: dict, row: dict) -> tuple[np.ndarray, ...] | None:
    """What the row's pictures plot, from its run's ``predictions.parquet`` (None: nothing to plot):
    ``(prediction, truth)`` for a regression task; ``(score, predicted label, true label)`` for a binary
    task (``ef50``: its TaskSpec's label and threshold)."""
    preds = _predictions(row.get("run_dir"), key["split"], key["clips"])
    if preds is None:
        return None
    p = preds["prediction"].to_numpy()
    threshold = binary_threshold(key["task"])
    if threshold is None:
        return p, preds["truth"].to_numpy()
    column = task_label(key["task"])  # a binary task (ef50: reduced EF, EF < 50 %)
    true_label = preds[column].to_numpy() if column in preds.columns else preds["truth"].to_numpy()
    label = (true_label < threshold).astype(np.int64)
    if row.get("trained_on") == key["task"]:
        return p, (p >= 0.5).astype(np.int64), label
    # a regression model of the label (ef for ef50): positive when the predicted label < threshold
    return threshold - p, (p < threshold).astype(np.int64), label


def _figures(key: dict, row: dict, folder: Path) -> list[tuple[str, Path]]:
    """The row's two pictures, each drawn once per run and then reused (:mod:`echobench.results.figure_cache`)."""
    from echobench.results import plots
    from echobench.results.figure_cache import cached, figure_path

    if not row.get("run_dir"):
        return []
    name = f"{row['model']} ({row['preset']}) · {key['task']} · {key['split']}"
    stem = _slug(f"{key['task']}-{key['protocol']}-{key['split']}-{key['clips']}-{row['model']}-{row['preset']}-"
                 f"{row['weights']}-{row['trained_on']}-{Path(row['run_dir']).name}")
    seeds = f" (first of {row['seeds']} seeds)" if (row.get("seeds") or 0) > 1 else ""
    units = key["units"]
    if binary_threshold(key["task"]) is not None:
        wanted = [(f"ROC, {name}{seeds}", "roc", f"ROC · {name}",
                   lambda v, title, path: plots.roc(v[0], v[2], title=title, path=path)),
                  (f"confusion matrix, {name}{seeds}", "confusion", f"Confusion · {name}",
                   lambda v, title, path: plots.confusion(v[1], v[2], title=title, path=path))]
    else:
        wanted = [(f"predicted vs true, {name}{seeds}", "scatter", name,
                   lambda v, title, path: plots.scatter(v[0], v[1], units=units, title=title, path=path)),
                  (f"Bland–Altman, {name}{seeds} ({units_label(units)})", "bland-altman", f"Bland–Altman · {name}",
                   lambda v, title, path: plots.bland_altman(v[0], v[1], units=units, title=title, path=path))]
    values = functools.cache(lambda: _arrays(key, row))  # read only when a picture must be drawn
    out = []
    for caption, kind, title, draw in wanted:
        path = figure_path(folder, stem, kind, title=title, source=Path(row["run_dir"]) / "predictions.parquet")
        png = path and cached(path, lambda target, draw=draw, title=title:
                              None if values() is None else draw(values(), title, target))
        if png is None:
            return []
        out.append((caption, png))
    return out


@dataclass(frozen=True)
class Page:
    """The written page, how many PNGs it shows, and how many stale PNGs were removed."""

    path: Path
    figures: int
    removed: int


def write_page(summary: pl.DataFrame, results: Path, *, tables: dict | None = None) -> Page:
    """Write ``<results>/leaderboard.html`` (self-contained) and its PNGs under ``<results>/figures/``;
    PNGs there that this page does not show (left by an earlier board) are removed. ``tables``: the
    board's memo of rendered groups (:func:`echobench.results.leaderboard.memo`)."""
    from echobench.results.html import Section, write_html

    results = Path(results)
    folder = results / "figures"
    sections = []
    for key, group in groups(summary):
        columns, rows, raw = memo(tables, key, lambda: table(key, group))
        figures: list[tuple[str, Path]] = []
        if key["source"] == "run":
            for row in [r for r in raw if not r["model"].startswith("constant")][:FIGURES_PER_GROUP]:
                if is_external({**key, **row}):  # its run's predictions.parquet holds the training data only
                    continue
                figures.extend(_figures(key, row, folder))
        text = ("Published numbers, shown for reference; not run here and not ranked with measured rows."
                if key["source"] == "reported" else
                "Mean ± sd over seeds; a single seed shows its 95 % bootstrap interval. Only models whose "
                "interval on the first metric is better than the constant predictor's are ranked.")
        sections.append(Section(heading=group_title(key), text=text,
                                tables=[("", pl.DataFrame(rows, schema={c: pl.Utf8 for c in columns}))],
                                figures=figures))
    from echobench.results.dense import dense_sections
    from echobench.results.external import external_sections
    from echobench.results.tracks import track_sections

    sections += external_sections(summary)  # next to the main tables, before the tracks
    sections += dense_sections(summary, folder)  # segmentation / ED-ES frames tables, contours, distributions
    sections += track_sections(summary, folder, tables=tables)
    from echobench.results.sensitivity import sensitivity_sections

    sections += sensitivity_sections(summary)
    path = write_html(results / "leaderboard.html", title="echobench leaderboard", sections=sections)
    shown = {p.resolve() for s in sections for _, p in s.figures}
    stale = [p for p in folder.glob("*.png") if p.resolve() not in shown] if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return Page(path=path, figures=len(shown), removed=len(stale))
