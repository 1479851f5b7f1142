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
from echobench.results.leaderboard import GROUP, cell, markdown_table, memo, model_label, units_label, wide

TRACK_METRICS: dict[str, list[str]] = {  # display order per track
    "calibration": ["ECE", "Brier"],
    "agreement": ["BA bias", "BA LoA low", "BA LoA high", "EF cat agreement", "EF cat kappa",
                  "PI90 coverage", "PI90 half-width"],
    "beats": ["MAE", "RMSE", "R2", "r", "ACC", "F1", "AUROC", "F1[normal+]", "AUROC[normal+]", "beat sd",
              "beats per video", "fallback videos"],
    "probe": ["MAE", "RMSE", "R2", "r", "ACC", "F1", "AUROC", "F1[normal+]", "AUROC[normal+]"],
}  # robustness: every "<score>[perturbation:severity]" triple, in record order
WHAT = {
    "calibration": "Lower is better for both. ECE: 15 equal-width bins of P(positive); Brier: mean squared "
                   "error of P(positive). Compare with the constant predictor (TRAIN prevalence).",
    "agreement": "Bland–Altman bias and 95 % limits of agreement of predicted minus true; clinical EF category "
                 "(≤ 40, 40–50, ≥ 50 %) agreement and Cohen's κ; split-conformal 90 % intervals fitted on VAL "
                 "(half-width) and their coverage on this split (nominal 0.90).",
    "robustness": "TEST under each perturbation x severity (one clip per video): the score, Δ = perturbed - clean "
                  "and relΔ = Δ / clean, each with a paired 95 % bootstrap interval.",
    "strata": "Every metric within each stratum of TEST (clinical EF category; tertiles of FPS, frame count, "
              "brightness and contrast) with its n; a stratum below the minimum n is shown, not ranked.",
    "probe": "Frozen backbone, features cached once; every probe x learning rate x weight decay of the grid "
             "(model name: [lr, wd, TRAIN fraction]), each probe kind's configuration selected on VAL "
             "([selected on VAL]), and the best over every probe; clips = the TEST clip sampler.",
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


UNITLESS = {"R2", "r"}  # their rows carry the task's units in the record; the number has none


def _column(metric: str, units: str) -> str:
    """Column name: ``R²`` for R2, the units in brackets for metrics that have them."""
    if metric in UNITLESS:
        return "R²" if metric == "R2" else metric
    return metric + (f" ({units_label(units)})" if units else "")


def _robustness_table(key: dict, group: pl.DataFrame) -> tuple[list[str], list[dict]]:
    """One row per (model, perturbation): score, Δ and relΔ at each severity."""
    import re

    units = {r["metric"]: r["units"] or "" for r in group.select("metric", "units").unique().iter_rows(named=True)}
    parsed = {m: re.fullmatch(r"(relΔ|Δ)?(\w+)\[(\w+):(\d)\]", m) for m in units}
    perturbations = list(dict.fromkeys(g.group(3) for g in parsed.values() if g))
    severities = sorted({g.group(4) for g in parsed.values() if g})
    score = next((g.group(2) for g in parsed.values() if g), "")
    columns = ["model", "perturbation", *(f"{kind}{score} s{s}" for s in severities for kind in ("", "Δ", "relΔ")), "n"]
    shown = []
    for row in wide(group.drop("units")).iter_rows(named=True):
        row["task"] = key["task"]
        for p in perturbations:
            cells = [cell(row, f"{kind}{score}[{p}:{s}]", units.get(f"{kind}{score}[{p}:{s}]", ""))
                     for s in severities for kind in ("", "Δ", "relΔ")]
            shown.append(dict(zip(columns, [model_label(row), p, *cells, "–" if row["n"] is None else str(row["n"])])))
    return columns, shown


def _strata_table(key: dict, group: pl.DataFrame) -> tuple[list[str], list[dict]]:
    """One row per (model, stratum): the metrics, n, and whether the stratum is ranked (n >= MIN_N)."""
    import re

    from echobench.evaluation.tracks import MIN_N

    cells: dict[tuple[str, str], dict] = {}
    metrics: list[str] = []
    for r in group.sort("metric").iter_rows(named=True):
        m = re.fullmatch(r"(.+?)\[(.+)\]", r["metric"])
        if not m:
            continue
        metric, stratum = m.groups()
        metrics += [] if metric in metrics else [metric]
        row = cells.setdefault((r["model"], stratum), {**r, "n": r["n"]})
        row.update({f"mean_{metric}": r["mean"], f"sd_{metric}": r["sd"], f"ci_low_{metric}": r["ci_low"],
                    f"ci_high_{metric}": r["ci_high"], f"units_{metric}": r["units"] or ""})
    order = [m for m in ["MAE", "RMSE", "R2", "r", "ACC", "F1", "AUROC", "F1[normal+]", "AUROC[normal+]"] if m in metrics]
    names = [_column(m, next((c[f"units_{m}"] for c in cells.values() if c.get(f"units_{m}")), "")) for m in order]
    columns = ["model", "stratum", *names, "n", "ranked"]
    shown = []
    for (model, stratum), row in sorted(cells.items(), key=lambda kv: (kv[0][0].startswith("constant"), kv[0])):
        row["task"] = key["task"]
        n = row["n"] or 0
        shown.append(dict(zip(columns, [model_label(row), stratum,
                                        *(cell(row, m, row.get(f"units_{m}", "")) for m in order), str(n),
                                        "yes" if n >= MIN_N else f"no (n < {MIN_N})"])))
    return columns, shown


def track_table(key: dict, group: pl.DataFrame) -> tuple[list[str], list[dict]]:
    """Column names and display rows (str cells) of one track group; the constant predictor last."""
    name = key["track"].split("@")[0]
    if name == "robustness":
        return _robustness_table(key, group)
    if name == "strata":
        return _strata_table(key, group)
    present = set(group["metric"].to_list())
    metrics = [m for m in TRACK_METRICS.get(name, sorted(present)) if m in present]
    units = {r["metric"]: r["units"] or "" for r in group.select("metric", "units").unique().iter_rows(named=True)}
    names = [_column(m, units[m]) for m in metrics]
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


def tracks_markdown(summary: pl.DataFrame, *, tables: dict | None = None) -> str:
    """Markdown of every track present in ``summary``: ``## Track ...`` then one table per group
    (``tables``: the board's memo, :func:`echobench.results.leaderboard.memo`)."""
    parts: list[str] = []
    current = None
    for key, group in _groups(summary):
        if key["track"] != current:
            current = key["track"]
            parts += [f"## {_heading(current)}\n", WHAT.get(current.split("@")[0], "") + "\n"]
        columns, rows = memo(tables, key, lambda: track_table(key, group))
        parts += markdown_table(f"{key['track']} · {_title(key)}", columns, rows)  # distinct from the main tables
    return "\n".join(parts)


def _reliability_figures(key: dict, group: pl.DataFrame, folder: Path) -> list[tuple[str, Path]]:
    """Reliability diagrams of the group's first :data:`~echobench.results.page.FIGURES_PER_GROUP`
    models (by name), each drawn once per run and reused (:mod:`echobench.results.figure_cache`)."""
    from echobench.results.figure_cache import cached, figure_path
    from echobench.results.page import FIGURES_PER_GROUP, _predictions, _slug
    from echobench.results.track_plots import reliability_diagram

    def draw(run_dir: str, model: str, path: Path) -> Path | None:
        preds = _predictions(run_dir, key["split"], key["clips"])
        if preds is None:
            return None
        from echobench.results.leaderboard import binary_threshold, task_label

        column, threshold = task_label(key["task"]), binary_threshold(key["task"]) or 50.0
        true_label = preds[column].to_numpy() if column in preds.columns else preds["truth"].to_numpy()
        return reliability_diagram(preds["prediction"].to_numpy(), (true_label < threshold).astype(float),
                                   title=f"Reliability · {model}", path=path)

    figures = []
    for run_dir, model in group.select("run_dir", "model").unique().sort("model").iter_rows():
        if len(figures) == FIGURES_PER_GROUP:
            break
        if model.startswith("constant") or not run_dir:
            continue
        stem = _slug(key['task'] + '-' + key['split'] + '-' + key['clips'] + '-' + model + '-' + Path(run_dir).name)
        path = figure_path(folder, stem, "reliability", title=f"Reliability · {model}",
                           source=Path(run_dir) / "predictions.parquet")
        png = path and cached(path, lambda target, run_dir=run_dir, model=model: draw(run_dir, model, target))
        if png is not None:
            figures.append((f"reliability diagram, {model} · {key['task']} · {key['split']}", png))
    return figures


def track_sections(summary: pl.DataFrame, folder: Path, *, tables: dict | None = None) -> list:
    """:class:`echobench.results.html.Section` s of the tracks in ``summary`` (figures under ``folder``;
    ``tables``: the board's memo)."""
    from echobench.results.html import Section

    sections = []
    for key, group in _groups(summary):
        columns, rows = memo(tables, key, lambda: track_table(key, group))
        name = key["track"].split("@")[0]
        figures = _reliability_figures(key, group, folder) if name == "calibration" and key["source"] == "run" else []
        sections.append(Section(heading=f"{_heading(key['track'])} · {_title(key)}", text=WHAT.get(name, ""),
                                tables=[("", pl.DataFrame(rows, schema={c: pl.Utf8 for c in columns}))],
                                figures=figures))
    return sections
