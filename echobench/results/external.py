"""The external-validation view (issue 17 items 3-4): per task, each model trained and selected on one
dataset, its in-distribution TEST number beside its number on every external dataset it was scored
on with no retraining (:mod:`echobench.evaluation.external`), on the task's primary metric, one clip
per video, with the constant predictor (the training dataset's TRAIN mean) for reference.

Derived from the run records like every table (STYLE rule 7); a row is external when its
``dataset_hash`` differs from the ``trained_on_dataset_hash`` of its model (two folders of one
registered layout, e.g. two EchoNet-format datasets, are two datasets).
"""

from __future__ import annotations

import polars as pl

from echobench.results.leaderboard import (MODEL, PRIMARY, TASK_ORDER, cell,
                                           markdown_section, model_label, task_label, units_label)

WHAT = ("Trained and selected on one dataset; scored with no retraining on another (its TEST split, or all "
        "its labelled videos: split ALL), same protocol and the training dataset's TRAIN normalisation; "
        "one clip per video. Value [95 % bootstrap interval], or mean ± sd over seeds.")


def _column(row: dict) -> str:
    return f"{row['evaluated_on_dataset']}: {row['dataset']} ({(row['dataset_hash'] or '')[:8]}) · {row['split']}"


def external_tables(summary: pl.DataFrame) -> list[tuple[str, list[str], list[dict]]]:
    """``(title, columns, display rows)`` per (task, protocol) that has external rows, from a
    :func:`~echobench.results.leaderboard.summarize` frame."""
    frame = summary.filter((pl.col("source") == "run") & pl.col("track").is_null() & (pl.col("clips") == "one")
                           & (pl.col("trained_on_dataset_hash") != "-"))
    external = pl.col("dataset_hash") != pl.col("trained_on_dataset_hash")
    if frame.filter(external).is_empty():
        return []
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    out = []
    for (task, protocol, version), group in sorted(frame.group_by(["task", "protocol", "protocol_version"]),
                                                   key=lambda kv: (order.get(kv[0][0], len(order)), kv[0])):
        if group.filter(external).is_empty():
            continue
        primary = next((m for m in PRIMARY if m in set(group["metric"])), None)
        if primary is None:
            continue
        picked = group.filter(pl.col("metric") == primary)
        inside = picked.filter(~external & (pl.col("split") == "TEST"))
        outside = picked.filter(external)
        external_columns = sorted({_column(r) for r in outside.iter_rows(named=True)})
        units = group["units"][0] or ""
        shown_units = units_label(units, task_label(task)) if units else "unit-free"
        columns = ["model", "trained on", "in-distribution (TEST)", *external_columns]
        keys = MODEL
        rows = []
        for model_key, mine in sorted(outside.group_by(keys), key=lambda kv: (str(kv[0][0]).startswith("constant"), kv[0])):
            row = dict(zip(keys, model_key))
            match = inside
            for k, v in zip(keys, model_key):
                match = match.filter(pl.col(k) == v)

            def shown(r: dict | None) -> str:
                if r is None:
                    return "–"
                wide = {f"mean_{primary}": r["mean"], f"sd_{primary}": r["sd"], f"ci_low_{primary}": r["ci_low"],
                        f"ci_high_{primary}": r["ci_high"], "runs": r["runs"]}
                return cell(wide, primary, units) + f" (n={r['n']})"

            cells = {_column(r): shown(r) for r in mine.iter_rows(named=True)}
            trained = f"{row['trained_on_dataset']} ({row['trained_on_dataset_hash'][:8]})"
            rows.append(dict(zip(columns, [model_label({**row, "task": task}), trained,
                                           shown(next(match.iter_rows(named=True), None)),
                                           *(cells.get(c, "–") for c in external_columns)])))
        title = f"{task} · protocol {protocol}@{version} · {primary} ({shown_units})"
        out.append((title, columns, rows))
    return out


def external_markdown(summary: pl.DataFrame) -> str:
    """``## External validation`` and one Markdown table per task (empty without external rows)."""
    return markdown_section("External validation", WHAT, external_tables(summary), prefix="external validation · ")


def external_sections(summary: pl.DataFrame) -> list:
    """The same tables as :class:`echobench.results.html.Section` s of the HTML page."""
    from echobench.results.html import Section

    return [Section(heading=f"External validation · {title}", text=WHAT,
                    tables=[("", pl.DataFrame(rows, schema={c: pl.Utf8 for c in columns}))])
            for title, columns, rows in external_tables(summary)]
