"""Leaderboard sections of the evaluation tracks (:mod:`echobench.evaluation.tracks`): one section
per track in the Markdown and on the HTML page, grouped like the main tables (task, protocol, split,
clips, dataset) and never mixed into them.

Rows are the records whose ``track`` column is set; :func:`echobench.results.leaderboard.summarize`
averages seeds exactly as for the main table. A track's metrics may have different units (the
Bland–Altman limits in EF points, kappa unit-free), so one table holds every unit and each column
names its own. The calibration section draws a reliability diagram per model from the run's
``predictions.parquet``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from echobench.evaluation.tracks import TRACKS
from echobench.results.leaderboard import GROUP, cell, model_label, units_label, wide

TRACK_METRICS: dict[str, list[str]] = {  # display order per track
    "calibration": ["ECE", "Brier"],
    "agreement": ["BA bias", "BA LoA low", "BA LoA high", "EF cat agreement", "EF cat kappa",
                  "PI90 coverage", "PI90 half-width"],
    "beats": ["MAE", "RMSE", "R2", "r", "beat sd", "beats per video", "fallback videos"],
}
WHAT = {
    "calibration": "Lower is better for both. ECE: 15 equal-width bins of P(positive); Brier: mean squared "
                   "error of P(positive). Compare with the constant predictor (TRAIN prevalence).",
    "agreement": "Bland–Altman bias and 95 % limits of agreement of predicted minus true; clinical EF category "
                 "(≤ 40, 40–50, ≥ 50 %) agreement and Cohen's κ; split-conformal 90 % intervals fitted on VAL "
                 "(half-width) and their coverage on this split (nominal 0.90).",
    "beats": "One clip per detected cardiac cycle, averaged per video (EchoNet-Dynamic's beat-to-beat "
             "protocol); beat sd: mean per-video sd over beats (test–retest proxy); fallback videos: no "
             "cycle found, all clips averaged instead.",
}
_KEY = [c for c in GROUP if c != "units"]


def track_summary(summary: pl.DataFrame) -> pl.DataFrame:
    """The rows of a leaderboard summary that belong to a track (``track`` not null)."""
    return summary.filter(pl.col("track").is_not_null()) if "track" in summary.columns else summary.clear()


def _groups(summary: pl.DataFrame):
    rows = track_summary(summary).sort(["track", "task", "split", "protocol", "clips"])
    for key, group in rows.group_by(_KEY, maintain_order=True):
        yield dict(zip(_KEY, key)), group


def _title(key: dict) -> str:
    from echobench.results.leaderboard import group_title

    return group_title({**key, "units": ""}).rsplit(" · ", 1)[0]  # units are per column here


def track_table(key: dict, group: pl.DataFrame) -> tuple[list[str], list[dict]]:
    """Column names and display rows (str cells) of one track group; the constant predictor last."""
    name = key["track"].split("@")[0]
    present = set(group["metric"].to_list())
    metrics = [m for m in TRACK_METRICS.get(name, sorted(present)) if m in present]
    units = {r["metric"]: r["units"] or "" for r in group.select("metric", "units").unique().iter_rows(named=True)}
    names = [m + (f" ({units_label(units[m])})" if units[m] else "") for m in metrics]
    columns = ["model", "split", "protocol", *names, "seeds", "n"]
    protocol = f"{key['protocol']}@{key['protocol_version']}"
    shown = []
    for row in sorted(wide(group.drop("units")).iter_rows(named=True), key=lambda r: r["model"].startswith("constant")):
        row["task"] = key["task"]
        cells = [model_label(row), key["split"], protocol, *(cell(row, m, units[m]) for m in metrics),
                 str(row["seeds"]), "–" if row["n"] is None else str(row["n"])]
        shown.append(dict(zip(columns, cells)))
    return columns, shown


def _heading(track: str) -> str:
    name = track.split("@")[0]
    known = TRACKS.get(name)
    return f"Track {track}" + (f": {known.summary}" if known else "")


def tracks_markdown(summary: pl.DataFrame) -> str:
    """Markdown of every track present in ``summary``: ``## Track ...`` then one table per group."""
    parts: list[str] = []
    current = None
    for key, group in _groups(summary):
        if key["track"] != current:
            current = key["track"]
            parts += [f"## {_heading(current)}\n", WHAT.get(current.split("@")[0], "") + "\n"]
        columns, rows = track_table(key, group)
        parts.append(f"### {_title(key)}\n")
        parts.append("| " + " | ".join(columns) + " |")
        parts.append("|" + "---|" * len(columns))
        parts.extend("| " + " | ".join(r[c] for c in columns) + " |" for r in rows)
        parts.append("")
    return "\n".join(parts)


def _reliability_figures(key: dict, group: pl.DataFrame, folder: Path) -> list[tuple[str, Path]]:
    from echobench.results.page import _predictions, _slug
    from echobench.results.track_plots import reliability_diagram

    figures = []
    for run_dir, model in group.select("run_dir", "model").unique().sort("model").iter_rows():
        preds = _predictions(run_dir, key["split"], key["clips"])
        if model.startswith("constant") or preds is None:
            continue
        true_ef = preds["EF"].to_numpy() if "EF" in preds.columns else preds["truth"].to_numpy()
        path = folder / f"{_slug(key['task'] + '-' + key['split'] + '-' + key['clips'] + '-' + model + '-' + Path(run_dir).name)}-reliability.png"
        figures.append((f"reliability diagram, {model} · {key['task']} · {key['split']}",
                        reliability_diagram(preds["prediction"].to_numpy(), (true_ef < 50).astype(float),
                                            title=f"Reliability · {model}", path=path)))
    return figures


def track_sections(summary: pl.DataFrame, folder: Path) -> list:
    """:class:`echobench.results.html.Section` s of the tracks in ``summary`` (figures under ``folder``)."""
    from echobench.results.html import Section

    sections = []
    for key, group in _groups(summary):
        columns, rows = track_table(key, group)
        name = key["track"].split("@")[0]
        figures = _reliability_figures(key, group, folder) if name == "calibration" and key["source"] == "run" else []
        sections.append(Section(heading=f"{_heading(key['track'])} · {_title(key)}", text=WHAT.get(name, ""),
                                tables=[("", pl.DataFrame(rows, schema={c: pl.Utf8 for c in columns}))],
                                figures=figures))
    return sections
