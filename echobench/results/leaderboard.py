"""Leaderboard views derived from run records (never hand-edited; STYLE rule 7).

Rows of different task or protocol versions are never ranked together: the table is grouped by
(task, task version, protocol, protocol version, split, dataset) and shows mean ± sd over seeds.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from echobench.results.records import read_records

_KEYS = ["task", "task_version", "protocol", "protocol_version", "split", "dataset", "dataset_hash", "synthetic",
         "units"]
_MODEL = ["model", "preset", "weights", "precision"]  # runs differing in any of these are never averaged


def summarize(records: pl.DataFrame, *, task: str | None = None, protocol: str | None = None,
              split: str | None = None) -> pl.DataFrame:
    """One row per (comparison group, model, metric) with mean, sd and number of seeds."""
    frame = records
    for column, value in (("task", task), ("protocol", protocol), ("split", split)):
        if value is not None:
            frame = frame.filter(pl.col(column) == value)
    return (
        frame.group_by(_KEYS + _MODEL + ["metric"])
        .agg(pl.col("value").mean().alias("mean"), pl.col("value").std().alias("sd"),
             pl.col("seed").n_unique().alias("seeds"), pl.col("n").first().alias("n"))
        .sort(_KEYS + _MODEL + ["metric"])
    )


def _cell(mean: float, sd: float | None, metric: str) -> str:
    digits = 3 if metric == "R2" else 2
    if sd is None or sd != sd:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def units_label(units: str) -> str:
    """Display name of a task's natural units (EF is reported in EF points, not relative %)."""
    return "EF points" if units == "%" else units


def markdown(summary: pl.DataFrame) -> str:
    """Markdown tables, one per comparison group, ranked by MAE (lower first)."""
    if summary.is_empty():
        return "_no run records match: run `echobench run` or `echobench demo`, or relax the filters_\n"
    parts: list[str] = []
    for key, group in summary.group_by(_KEYS, maintain_order=True):
        task, tv, protocol, pv, split, dataset, dhash, synthetic, units = key
        metrics = [m for m in ("MAE", "RMSE", "R2") if m in group["metric"].to_list()]
        wide = group.pivot(on="metric", index=_MODEL + ["seeds", "n"], values=["mean", "sd"])
        sort_col = "mean_MAE" if "mean_MAE" in wide.columns else wide.columns[-1]
        wide = wide.sort(sort_col)
        parts.append(f"### {task}@{tv} · protocol {protocol}@{pv} · split {split} · "
                     f"{dataset} ({dhash[:8]}{', SYNTHETIC data' if synthetic else ''}) · {units_label(units)}\n")
        header = ("| model | " + " | ".join(f"{m} ({units_label(units)})" if m != "R2" else "R²" for m in metrics)
                  + " | seeds | n |")
        parts.append(header)
        parts.append("|" + "---|" * (len(metrics) + 3))
        for row in wide.iter_rows(named=True):
            cells = [_cell(row[f"mean_{m}"], row.get(f"sd_{m}"), m) for m in metrics]
            label = (row["model"] if row["model"].startswith("constant")
                     else f"{row['model']} ({row['preset']}, {row['weights']}, {row['precision']})")
            parts.append(f"| {label} | " + " | ".join(cells) + f" | {row['seeds']} | {row['n']} |")
        parts.append("")
    return "\n".join(parts)


def build_leaderboard(results: Path, *, task: str | None = None, protocol: str | None = None,
                      split: str | None = "TEST") -> str:
    """Read every record under ``results`` and return the Markdown leaderboard; also writes
    ``<results>/leaderboard.md`` and ``<results>/leaderboard.csv``."""
    summary = summarize(read_records(results), task=task, protocol=protocol, split=split)
    text = markdown(summary)
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "leaderboard.md").write_text(text)
    summary.write_csv(results / "leaderboard.csv")
    return text
