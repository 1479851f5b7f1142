"""Leaderboard views derived from run records (never hand-edited; STYLE rule 7; DESIGN §7).

Rows are compared only within a *comparison group*: the same task and task version, protocol and
protocol version, split, test-time clips, dataset (by hash) and units. Within a group a model
(backbone+head, preset, weights, precision, training task) gets one row, mean ± sd over its seeds
(a single run shows its 95 % bootstrap interval instead); runs that differ in any setting other
than the seed (epochs, lr, ... — the record's ``setup_hash``) are separate rows. Published numbers
(:mod:`echobench.results.reported`) appear in their own "reported" tables with their split,
protocol and units, never ranked with measured rows.

Outputs: Markdown (returned and written to ``leaderboard.md``), ``leaderboard.csv`` (every metric
of every row, reported rows included) and a self-contained ``leaderboard.html`` with predicted-vs-
true scatter and Bland–Altman plots (regression) or ROC and confusion-matrix plots (``ef50``).
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from echobench.results.records import read_records
from echobench.results.reported import reported_rows

GROUP = ["task", "task_version", "protocol", "protocol_version", "split", "clips", "dataset", "dataset_hash",
         "synthetic", "units", "source"]
MODEL = ["model", "backbone", "head", "preset", "weights", "precision", "trained_on", "setup_hash"]  # never averaged across
REGRESSION_METRICS = ["MAE", "RMSE", "R2", "r"]
BAND_METRICS = ["MAE[EF<40]", "MAE[EF40-54]", "MAE[EF>=55]"]
BINARY_METRICS = ["ACC", "F1", "AUROC", "F1[normal+]", "AUROC[normal+]"]
LOWER_IS_BETTER = {"MAE", "RMSE", *BAND_METRICS}


def summarize(records: pl.DataFrame, *, task: str | None = None, protocol: str | None = None,
              split: str | None = None, reported: bool = True) -> pl.DataFrame:
    """One row per (comparison group, model, metric): mean, sd, seeds, n, and the single-seed CI.

    ``split`` filters measured rows only; published rows (``reported=True``) are filtered by task
    and protocol and keep their own split.
    """
    frame = records if split is None else records.filter(pl.col("split") == split)
    if reported:  # published rows keep their own split (the paper's tables are VAL), shown apart
        frame = pl.concat([frame, reported_rows()], how="vertical")
    for column, value in (("task", task), ("protocol", protocol)):
        if value is not None:
            frame = frame.filter(pl.col(column) == value)
    frame = frame.with_columns(pl.col("source").fill_null("run"), pl.col("setup_hash").fill_null(pl.col("config_hash")))
    frame = frame.with_columns(pl.col(c).fill_null("-") for c in ("clips", "trained_on", "backbone", "head", "setup_hash"))
    return (
        frame.group_by(GROUP + MODEL + ["metric"])
        .agg(pl.col("value").mean().alias("mean"), pl.col("value").std().alias("sd"),
             pl.col("seed").n_unique().alias("seeds"), pl.col("run_id").n_unique().alias("runs"),
             pl.col("n").first().alias("n"),
             pl.col("ci_low").first().alias("ci_low"), pl.col("ci_high").first().alias("ci_high"),
             pl.col("run_dir").sort().first().alias("run_dir"))
        .sort(GROUP + MODEL + ["metric"])
    )


PRIMARY = ("MAE", "AUROC", "ACC")  # the metric a group is ranked by: the first of these it has
BEATS = "beats constant"


def versus_constant(metric: str, model: tuple[float, float, float], constant: tuple[float, float, float]) -> str:
    """How a model compares with the constant predictor on ``metric``, interval-aware.

    Args:
        model, constant: ``(value, ci_low, ci_high)``; the interval may be NaN (no bootstrap).

    Returns:
        ``"beats constant"`` (better, and the 95 % intervals do not overlap), ``"overlaps constant"``
        (intervals overlap: not shown to be better), ``"worse than constant"`` (worse, intervals apart);
        without intervals ``"beats constant (no interval)"`` or ``"not better than constant (no interval)"``;
        ``"–"`` when either value is missing.
    """
    value, low, high = (float("nan") if v is None else float(v) for v in model)
    c_value, c_low, c_high = (float("nan") if v is None else float(v) for v in constant)
    if math.isnan(value) or math.isnan(c_value):
        return "–"
    better = value < c_value if metric in LOWER_IS_BETTER else value > c_value
    if any(math.isnan(v) for v in (low, high, c_low, c_high)):
        return f"{BEATS} (no interval)" if better else "not better than constant (no interval)"
    if high < c_low or low > c_high:
        return BEATS if better else "worse than constant"
    return "overlaps constant"


def units_label(units: str) -> str:
    """Display name of a task's natural units (EF is reported in EF points, not relative %)."""
    return "EF points" if units == "%" else units


def _digits(metric: str, units: str) -> int:
    return 2 if metric in LOWER_IS_BETTER and units in ("%", "mL") else 3


def cell(row: dict, metric: str, units: str) -> str:
    """``mean ± sd`` over seeds, or ``value [low, high]`` for one seed, or ``value`` (reported)."""
    mean = row.get(f"mean_{metric}")
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    d = _digits(metric, units)
    sd, runs = row.get(f"sd_{metric}"), row.get("runs") or 0
    if runs > 1 and sd is not None and sd == sd:  # several runs (seeds) of one setup
        return f"{mean:.{d}f} ± {sd:.{d}f}"
    low, high = row.get(f"ci_low_{metric}"), row.get(f"ci_high_{metric}")
    if low is not None and high is not None and low == low and high == high:
        return f"{mean:.{d}f} [{low:.{d}f}, {high:.{d}f}]"
    return f"{mean:.{d}f}"


def metrics_of(group: pl.DataFrame) -> list[str]:
    """The metrics shown for a group, in a fixed order (regression, or ef50)."""
    present = set(group["metric"].to_list())
    return [m for m in REGRESSION_METRICS + BINARY_METRICS if m in present]


def wide(group: pl.DataFrame) -> pl.DataFrame:
    """One row per model of a comparison group, columns ``mean_<metric>``, ``sd_<metric>``, ..."""
    out = group.pivot(on="metric", index=MODEL + ["seeds", "runs", "n", "run_dir"],
                      values=["mean", "sd", "ci_low", "ci_high"])
    if len(set(group["metric"])) == 1:  # polars drops the metric suffix when there is one metric
        m = group["metric"][0]
        out = out.rename({c: f"{c}_{m}" for c in ("mean", "sd", "ci_low", "ci_high") if c in out.columns})
    primary = next((m for m in ("MAE", "AUROC", "ACC") if f"mean_{m}" in out.columns), None)
    if primary is not None:
        out = out.sort(f"mean_{primary}", descending=primary not in LOWER_IS_BETTER, nulls_last=True)
    return out


def model_label(row: dict) -> str:
    if row.get("preset") == "published":
        return row["model"]
    if row["model"].startswith("constant"):
        trained = row.get("trained_on")
        if trained == "ef50":
            return "constant (TRAIN prevalence)"
        return row["model"] + (f" [from {trained} runs]" if trained not in (None, "-", row.get("task")) else "")
    label = f"{row['model']} ({row['preset']}, {row['weights']}, {row['precision']})"
    if row.get("trained_on") and row["trained_on"] not in ("-",) and row.get("task") and row["trained_on"] != row["task"]:
        label += f" [trained on {row['trained_on']}]"
    return label


def group_title(key: dict) -> str:
    clips = {"one": "one clip", "all": "all clips averaged"}.get(key["clips"], key["clips"])
    if key["source"] == "reported":
        return (f"{key['task']} · REPORTED (published, not run here) · protocol {key['protocol']} · split "
                f"{key['split']} · {key['dataset']} · {units_label(key['units']) or 'unit-free'}")
    return (f"{key['task']}@{key['task_version']} · protocol {key['protocol']}@{key['protocol_version']} · split "
            f"{key['split']} · {clips} · {key['dataset']} ({key['dataset_hash'][:8]}"
            f"{', SYNTHETIC data' if key['synthetic'] else ''}) · {units_label(key['units']) or 'unit-free'}")


def groups(summary: pl.DataFrame):
    """``(key dict, group frame)`` per comparison group: measured groups first, then reported."""
    ordered = summary.sort(["task", "source", "split", "protocol", "clips"], descending=[False, True, False, False, True])
    for key, group in ordered.group_by(GROUP, maintain_order=True):
        yield dict(zip(GROUP, key)), group


def table(key: dict, group: pl.DataFrame) -> tuple[list[str], list[dict], list[dict]]:
    """Column names, display rows (str cells) and the underlying wide rows of one comparison group."""
    metrics = metrics_of(group)
    units = key["units"]
    reported = key["source"] == "reported"
    unit = f" ({units_label(units)})" if units else ""
    names = [f"{m}{unit}" if m in LOWER_IS_BETTER else ("R²" if m == "R2" else m) for m in metrics]
    columns = ["rank", "model", "split", "protocol", *names, "seeds", "n"]
    protocol = f"{key['protocol']}@{key['protocol_version']}"
    shown, raw = [], []
    rank = 0
    ordered = sorted(wide(group).iter_rows(named=True), key=lambda r: r["model"].startswith("constant"))
    for row in ordered:  # ranked models first, the constant predictor last
        row["task"] = key["task"]
        constant = row["model"].startswith("constant")
        rank += 0 if reported or constant else 1
        cells = [("–" if reported or constant else str(rank)), model_label(row), key["split"], protocol,
                 *(cell(row, m, units) for m in metrics), "–" if reported else str(row["seeds"]),
                 "–" if row["n"] is None else str(row["n"])]
        shown.append(dict(zip(columns, cells)))
        raw.append(row)
    return columns, shown, raw


def markdown(summary: pl.DataFrame) -> str:
    """Markdown tables, one per comparison group; each row names its split, protocol and version."""
    if summary.is_empty():
        return "_no run records match: run `echobench run` or `echobench demo`, or relax the filters_\n"
    parts: list[str] = []
    if summary.filter(pl.col("source") == "run").is_empty():
        parts.append("_no measured runs match (only published numbers below): run `echobench run` or "
                     "`echobench demo`, or relax the filters_\n")
    for key, group in groups(summary):
        columns, rows, _ = table(key, group)
        parts.append(f"### {group_title(key)}\n")
        parts.append("| " + " | ".join(columns) + " |")
        parts.append("|" + "---|" * len(columns))
        parts.extend("| " + " | ".join(r[c] for c in columns) + " |" for r in rows)
        parts.append("")
    return "\n".join(parts)


def build_leaderboard(results: Path, *, task: str | None = None, protocol: str | None = None,
                      split: str | None = "TEST", reported: bool = True, html: bool = True) -> str:
    """Read every record under ``results`` and return the Markdown leaderboard; also writes
    ``leaderboard.md``, ``leaderboard.csv`` and (``html=True``) ``leaderboard.html`` + PNGs under
    ``results``. ``split=None`` keeps every split."""
    from echobench.atomic import atomic_write_text

    summary = summarize(read_records(results), task=task, protocol=protocol, split=split, reported=reported)
    text = markdown(summary)
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    atomic_write_text(results / "leaderboard.md", text)
    atomic_write_text(results / "leaderboard.csv", summary.drop("run_dir").write_csv())
    if html:
        from echobench.results.page import write_page

        write_page(summary, results)
    return text
