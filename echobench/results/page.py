"""The leaderboard's HTML page: every comparison-group table plus the pictures users expect
(DESIGN §7): predicted-vs-true scatter and Bland–Altman plots for regression tasks, ROC and
confusion-matrix plots for ``ef50``, drawn from each run's ``predictions.parquet``.

For a model averaged over seeds, the pictures show its first run (lowest run directory name) and
say so. Rows whose run directory is gone keep their table row and lose only their pictures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from echobench.results.leaderboard import binary_threshold, group_title, groups, table, task_label, units_label


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


def _figures(key: dict, row: dict, folder: Path) -> list[tuple[str, Path]]:
    from echobench.results import plots

    preds = _predictions(row.get("run_dir"), key["split"], key["clips"])
    if preds is None:
        return []
    name = f"{row['model']} ({row['preset']}) · {key['task']} · {key['split']}"
    stem = _slug(f"{key['task']}-{key['protocol']}-{key['split']}-{key['clips']}-{row['model']}-{row['preset']}-"
                 f"{row['weights']}-{row['trained_on']}-{Path(row['run_dir']).name}")
    seeds = f" (first of {row['seeds']} seeds)" if (row.get("seeds") or 0) > 1 else ""
    p = preds["prediction"].to_numpy()
    threshold = binary_threshold(key["task"])
    if threshold is not None:  # a binary task (ef50: reduced EF, EF < 50 %)
        column = task_label(key["task"])
        true_ef = preds[column].to_numpy() if column in preds.columns else preds["truth"].to_numpy()
        label = (true_ef < threshold).astype(np.int64)
        if row.get("trained_on") == key["task"]:
            score, pred_label = p, (p >= 0.5).astype(np.int64)
        else:  # a regression model of the label (ef for ef50): positive when the predicted label < threshold
            score, pred_label = threshold - p, (p < threshold).astype(np.int64)
        return [
            (f"ROC, {name}{seeds}", plots.roc(score, label, title=f"ROC · {name}", path=folder / f"{stem}-roc.png")),
            (f"confusion matrix, {name}{seeds}", plots.confusion(pred_label, label, title=f"Confusion · {name}",
                                                                  path=folder / f"{stem}-confusion.png")),
        ]
    t = preds["truth"].to_numpy()
    units = key["units"]
    return [
        (f"predicted vs true, {name}{seeds}",
         plots.scatter(p, t, units=units, title=f"{name}", path=folder / f"{stem}-scatter.png")),
        (f"Bland–Altman, {name}{seeds} ({units_label(units)})",
         plots.bland_altman(p, t, units=units, title=f"Bland–Altman · {name}", path=folder / f"{stem}-bland-altman.png")),
    ]


@dataclass(frozen=True)
class Page:
    """The written page, how many PNGs it shows, and how many stale PNGs were removed."""

    path: Path
    figures: int
    removed: int


def write_page(summary: pl.DataFrame, results: Path) -> Page:
    """Write ``<results>/leaderboard.html`` (self-contained) and its PNGs under ``<results>/figures/``;
    PNGs there that this page does not show (left by an earlier board) are removed."""
    from echobench.results.html import Section, write_html

    results = Path(results)
    folder = results / "figures"
    sections = []
    for key, group in groups(summary):
        columns, rows, raw = table(key, group)
        figures: list[tuple[str, Path]] = []
        if key["source"] == "run":
            for row in raw:
                if not row["model"].startswith("constant"):
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
    sections += track_sections(summary, folder)
    from echobench.results.sensitivity import sensitivity_sections

    sections += sensitivity_sections(summary)
    path = write_html(results / "leaderboard.html", title="echobench leaderboard", sections=sections)
    shown = {p.resolve() for s in sections for _, p in s.figures}
    stale = [p for p in folder.glob("*.png") if p.resolve() not in shown] if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return Page(path=path, figures=len(shown), removed=len(stale))
