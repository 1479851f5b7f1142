"""Leaderboard views derived from run records (never hand-edited; STYLE rule 7; DESIGN §7).

Rows are compared only within a *comparison group*: the same task and task version, protocol and
protocol version, split, test-time clips, dataset (by hash) and units. Within a group a model
(backbone+head, preset, weights, precision, training task) gets one row, mean ± sd over its seeds
(a single run shows its 95 % bootstrap interval instead); runs that differ in any setting other
than the seed (epochs, lr, ... — the record's ``setup_hash``) are separate rows. Published numbers
(:mod:`echobench.results.reported`) appear in their own "reported" tables with their split,
protocol and units, never ranked with measured rows.

Ranking is against the constant predictor (TRAIN mean) of the group only: a model is ranked when
its interval on the group's primary metric (MAE, else AUROC, else ACC) lies entirely on the better
side of the constant's (:func:`versus_constant`); every other model is listed unranked below the
ranked ones with the reason ("overlaps constant", "worse than constant"), never as rank 1.

Sections are ordered by task (EF, ESV, EDV, EF < 50 %, then any other), measured before published.

Outputs: the *saved board* under the leaderboard directory is always whole (every task, protocol,
split and the published rows): ``leaderboard.md``, ``leaderboard.csv`` (every metric of every row)
and a self-contained ``leaderboard.html`` with predicted-vs-true scatter and Bland–Altman plots
(regression) or ROC and confusion-matrix plots (``ef50``) under ``figures/``, where figures of an
earlier board that the new one no longer shows are removed. A filtered view (a task, a protocol,
no published rows) is returned (and written only to a file the caller names), never saved over it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from echobench.results.records import read_records
from echobench.results.reported import reported_rows

GROUP = ["task", "task_version", "protocol", "protocol_version", "split", "clips", "dataset", "dataset_hash",
         "synthetic", "units", "source", "track", "evaluated_on_dataset"]  # track: evaluation track rows, shown by results.tracks
MODEL = ["model", "backbone", "head", "preset", "weights", "precision", "trained_on", "setup_hash",
         "trained_on_dataset", "trained_on_dataset_hash"]  # never averaged across; "-" in records older than them
REGRESSION_METRICS = ["MAE", "RMSE", "R2", "r"]
BAND_METRICS = ["MAE[EF<40]", "MAE[EF40-54]", "MAE[EF>=55]"]
BINARY_METRICS = ["ACC", "F1", "AUROC", "F1[normal+]", "AUROC[normal+]"]
LOWER_IS_BETTER = {"MAE", "RMSE", *BAND_METRICS, "frame MAE", "frame MAE[ED]", "frame MAE[ES]"}
TASK_ORDER = ("ef", "esv", "edv", "ef50")  # sections in this order, then any other task by name


def summarize(records: pl.DataFrame, *, task: str | None = None, protocol: str | None = None,
              split: str | None = None, reported: bool = True) -> pl.DataFrame:
    """One row per (comparison group, model, metric): mean, sd, seeds, n, and the single-seed CI.

    ``split`` filters measured rows only; published rows (``reported=True``) are filtered by task
    and protocol and keep their own split.

    Deterministic: the same records give the same bytes. Aggregated eagerly (polars' in-memory
    engine), since its streaming engine, the lazy default, adds a group's floats in an order that
    depends on thread timing (two boards of the same records differed in the CSV's last digits);
    the rows (one per key) are then sorted lazily.
    """
    frame = records if split is None else records.filter(pl.col("split") == split)
    if reported:  # published rows keep their own split (the paper's tables are VAL), shown apart
        frame = pl.concat([frame, reported_rows()], how="vertical")
    for column, value in (("task", task), ("protocol", protocol)):
        if value is not None:
            frame = frame.filter(pl.col(column) == value)
    frame = frame.with_columns(pl.col("source").fill_null("run"), pl.col("setup_hash").fill_null(pl.col("config_hash")))
    frame = frame.with_columns(pl.col(c).fill_null("-") for c in ("clips", "trained_on", "backbone", "head", "setup_hash",
                                                                    "trained_on_dataset", "evaluated_on_dataset",
                                                                    "trained_on_dataset_hash"))
    return (
        frame.group_by(GROUP + MODEL + ["metric"])
        .agg(pl.col("value").mean().alias("mean"), pl.col("value").std().alias("sd"),
             pl.col("seed").n_unique().alias("seeds"), pl.col("run_id").n_unique().alias("runs"),
             pl.col("n").first().alias("n"),  # the interval of one run; over seeds the mean interval
             pl.col("ci_low").mean().alias("ci_low"), pl.col("ci_high").mean().alias("ci_high"),
             pl.col("run_dir").min().alias("run_dir"))
        .lazy().sort(GROUP + MODEL + ["metric"]).collect()  # one row per key: any engine gives one order; lazy is 5x faster
    )


def view_of(whole: pl.DataFrame, split: str | None) -> pl.DataFrame:
    """The rows of an unfiltered summary (``summarize(records, split=None)``) that
    ``summarize(records, split=split)`` gives: measured rows of ``split``, published rows of every
    split (published rows are those whose ``source`` is ``"reported"``)."""
    if split is None:
        return whole
    return whole.filter((pl.col("source") == "reported") | (pl.col("split") == split))


def memo(tables: dict | None, key: dict, make):
    """``make()`` once per group ``key`` within one board (``tables`` is the board's memo; None: no memo).
    A group's rows do not depend on the view it is shown in, so its table is rendered once."""
    if tables is None:
        return make()
    k = tuple(key.items())
    if k not in tables:
        tables[k] = make()
    return tables[k]


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


LN_ML_NOTE = ("ln mL: published on the natural-log volume scale (errors of ln(volume / mL)); "
              "not convertible to mL without the paper's per-video predictions")


def units_label(units: str, label: str = "EF") -> str:
    """Display name of a task's natural units, the one label used everywhere (tables, ``score``,
    ``metrics.json``): EF is in EF points (absolute percentage points, not relative %); another label
    in % (a third-party task's, e.g. GLS) in percentage points."""
    if units != "%":
        return units
    return "EF points" if label.upper() == "EF" else "percentage points"


def task_spec(task: str):
    """The registered :class:`~echobench.contract.specs.TaskSpec` ``task``, or None when it is not
    registered here (a record from a plugin that is not installed)."""
    from echobench.errors import EchobenchError
    from echobench.registry import get_registry

    try:
        return get_registry().get("task", task)
    except EchobenchError:
        return None


def task_label(task: str) -> str:
    """The label column of task ``task`` (``"EF"`` when it is not registered here): what
    :func:`units_label` needs for a section title."""
    spec = task_spec(task)
    return spec.label if spec is not None else "EF"


def binary_threshold(task: str) -> float | None:
    """For a binary task, its threshold on the label (positive when label < threshold; 50 for ``ef50``
    when it is not registered here); None for a regression task."""
    spec = task_spec(task)
    if spec is None:
        return 50.0 if task == "ef50" else None
    return float(spec.threshold) if spec.kind == "binary" and spec.threshold is not None else None


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


def is_external(row: dict) -> bool:
    """Whether a row was scored on other data than its model was trained on (external validation):
    its ``dataset_hash`` differs from ``trained_on_dataset_hash`` (unknown in older records: no)."""
    trained = row.get("trained_on_dataset_hash")
    return trained not in (None, "-") and row.get("dataset_hash") not in (None, trained)


def model_label(row: dict) -> str:
    if row.get("preset") == "published":
        return row["model"]
    if row["model"].startswith("constant"):
        trained = row.get("trained_on")
        if trained not in (None, "-") and binary_threshold(trained) is not None:  # a binary task's constant
            return "constant (TRAIN prevalence)"
        return row["model"] + (f" [from {trained} runs]" if trained not in (None, "-", row.get("task")) else "")
    if (row.get("preset"), row.get("weights")) == ("-", "-"):  # a model-free baseline row (e.g. a fixed mask)
        label = row["model"]
    else:
        label = f"{row['model']} ({row['preset']}, {row['weights']}, {row['precision']})"
    if is_external(row):
        label += f" [trained on {row['trained_on_dataset']} {row['trained_on_dataset_hash'][:8]}; external]"
    if row.get("trained_on") and row["trained_on"] not in ("-",) and row.get("task") and row["trained_on"] != row["task"]:
        label += f" [trained on {row['trained_on']}]"
    return label


def group_title(key: dict) -> str:
    clips = {"one": "one clip", "all": "all clips averaged"}.get(key["clips"], key["clips"])
    if key["source"] == "reported":
        units = LN_ML_NOTE if key["units"] == "ln mL" else units_label(key["units"]) or "unit-free"
        return (f"{key['task']} · REPORTED (published, not run here) · protocol {key['protocol']} · split "
                f"{key['split']} · {key['dataset']} · {units}")
    return (f"{key['task']}@{key['task_version']} · protocol {key['protocol']}@{key['protocol_version']} · split "
            f"{key['split']} · {clips} · {key['dataset']} ({key['dataset_hash'][:8]}"
            f"{', SYNTHETIC data' if key['synthetic'] else ''}) · "
            f"{units_label(key['units'], task_label(key['task'])) or 'unit-free'}")


def groups(summary: pl.DataFrame):
    """``(key dict, group frame)`` per comparison group, by task (:data:`TASK_ORDER`), measured
    groups of a task before its published ones."""
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    rank = pl.col("task").replace_strict(order, default=len(order), return_dtype=pl.Int64)
    ordered = (summary.with_columns(rank.alias("_task_rank"))
               .sort(["_task_rank", "task", "source", "split", "protocol", "clips"],
                     descending=[False, False, True, False, False, True])
               .drop("_task_rank"))
    from echobench.results.dense import dense_kind

    for key, group in ordered.group_by(GROUP, maintain_order=True):
        # tracks (results.tracks) and measured dense tasks (results.dense) have their own sections
        if dict(zip(GROUP, key))["track"] is None and not (dict(zip(GROUP, key))["source"] == "run" and dense_kind(group)):
            yield dict(zip(GROUP, key)), group


def _constant_for(row: dict, constants: list[dict]) -> dict | None:
    """The group's constant-predictor row for ``row`` (same training task when there are several)."""
    same = [c for c in constants if c.get("trained_on") == row.get("trained_on")]
    return (same or constants or [None])[0]


def table(key: dict, group: pl.DataFrame) -> tuple[list[str], list[dict], list[dict]]:
    """Column names, display rows (str cells) and the underlying wide rows of one comparison group.

    Models that beat the constant predictor (:func:`versus_constant` on the primary metric) are
    ranked first, then the unranked models, then the constant; ``vs constant`` says which.
    """
    metrics = metrics_of(group)
    units = key["units"]
    reported = key["source"] == "reported"
    unit = f" ({units_label(units)})" if units else ""
    names = [f"{m}{unit}" if m in LOWER_IS_BETTER else ("R²" if m == "R2" else m) for m in metrics]
    primary = next((m for m in PRIMARY if m in metrics), None)
    columns = ["rank", "model", "split", "protocol", *names, "seeds", "n",
               *([] if reported else [f"vs constant ({primary or '-'})"])]  # published rows: no constant
    protocol = f"{key['protocol']}@{key['protocol_version']}"
    rows = list(wide(group).iter_rows(named=True))
    constants = [r for r in rows if r["model"].startswith("constant")]

    def verdict(row: dict) -> str:
        const = _constant_for(row, constants)
        if reported or primary is None or const is None or row["model"].startswith("constant"):
            return "–"
        estimate = lambda r: tuple(r.get(f"{p}_{primary}") for p in ("mean", "ci_low", "ci_high"))  # noqa: E731
        return versus_constant(primary, estimate(row), estimate(const))

    verdicts = [verdict(r) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["model"].startswith("constant"),
                                                    not verdicts[i].startswith(BEATS)))  # stable: by primary
    shown, raw = [], []
    rank = 0
    for i in order:
        row = rows[i]
        row["task"], row["dataset_hash"] = key["task"], key.get("dataset_hash")
        ranked = verdicts[i].startswith(BEATS)
        rank += 1 if ranked else 0
        cells = [str(rank) if ranked else "–", model_label(row), key["split"], protocol,
                 *(cell(row, m, units) for m in metrics), "–" if reported else str(row["seeds"]),
                 "–" if row["n"] is None else str(row["n"]), verdicts[i]]
        shown.append(dict(zip(columns, cells)))
        raw.append(row)
    return columns, shown, raw


def markdown_table(heading: str, columns: list[str], rows: list[dict]) -> list[str]:
    """A ``### heading`` and a Markdown table of ``rows`` (dicts of cell text) under ``columns``, then
    a blank line: the lines every leaderboard section (main, tracks, dense, external, sensitivity) uses."""
    return [f"### {heading}\n", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(r[c] for c in columns) + " |" for r in rows), ""]


def markdown_section(heading: str, what: str, tables: list[tuple[str, list[str], list[dict]]], *,
                     prefix: str = "") -> str:
    """A ``## heading`` section: the ``what`` paragraph, then one :func:`markdown_table` per
    ``(title, columns, rows)`` (titles prefixed with ``prefix``); "" without tables."""
    if not tables:
        return ""
    parts = [f"## {heading}\n", what + "\n"]
    for title, columns, rows in tables:
        parts += markdown_table(prefix + title, columns, rows)
    return "\n".join(parts)


def markdown(summary: pl.DataFrame, *, tables: dict | None = None) -> str:
    """Markdown tables, one per comparison group; each row names its split, protocol and version
    (``tables``: the board's memo of rendered groups, :func:`memo`)."""
    if summary.is_empty():
        return "_no run records match: run `echobench run` or `echobench demo`, or relax the filters_\n"
    parts: list[str] = []
    if summary.filter(pl.col("source") == "run").is_empty():
        parts.append("_no measured runs match (only published numbers below): run `echobench run` or "
                     "`echobench demo`, or relax the filters_\n")
    for key, group in groups(summary):
        columns, rows, _ = memo(tables, key, lambda: table(key, group))
        parts += markdown_table(group_title(key), columns, rows)
    from echobench.results.dense import dense_markdown
    from echobench.results.external import external_markdown
    from echobench.results.tracks import tracks_markdown

    parts.append(external_markdown(summary))  # in-distribution beside external rows (issue 17)
    parts.append(dense_markdown(summary))
    parts.append(tracks_markdown(summary, tables=tables))
    from echobench.results.sensitivity import sensitivity_markdown

    parts.append(sensitivity_markdown(summary))
    return "\n".join(parts)


@dataclass
class Board:
    """What :func:`build_leaderboard` produced: the Markdown view and every file it wrote."""

    text: str
    filtered: bool
    saved: list[Path] = field(default_factory=list)  # the whole board (md, csv, html)
    figures: int = 0  # PNGs of the saved page
    removed: int = 0  # stale PNGs of an earlier page removed
    view: Path | None = None  # the filtered view, when written to a named file


def build_leaderboard(results: Path, *, task: str | None = None, protocol: str | None = None,
                      split: str | None = "TEST", reported: bool = True, html: bool = True,
                      out: Path | None = None, on_skip=None) -> Board:
    """Read every record under ``results``; return the Markdown view for the filters.

    ``split`` chooses the view's measured split (None: every split). An unfiltered call (no
    ``task``/``protocol``, ``reported=True``) also rewrites the whole saved board under ``results``:
    ``leaderboard.md``, ``leaderboard.csv`` and (``html=True``) ``leaderboard.html`` with its PNGs
    (stale PNGs removed). A filtered call leaves the saved board alone; ``out`` writes the view's
    Markdown to that file (either way). A record file that cannot be read or violates the schema
    is skipped and reported as ``on_skip(path, reason)`` (:func:`read_records`).

    Raises:
        DataError: a record or an output file cannot be read or written.
    """
    from echobench.atomic import atomic_write_text

    records = read_records(results, on_skip=on_skip)
    filtered = task is not None or protocol is not None or not reported
    tables: dict = {}  # each group rendered once for the view, the saved board and the page
    whole = None if filtered else summarize(records, split=None, reported=True)
    view = (summarize(records, task=task, protocol=protocol, split=split, reported=reported) if filtered
            else view_of(whole, split))
    board = Board(text=markdown(view, tables=tables), filtered=filtered)
    results = Path(results)
    if whole is not None:
        results.mkdir(parents=True, exist_ok=True)
        atomic_write_text(results / "leaderboard.md", markdown(whole, tables=tables))
        atomic_write_text(results / "leaderboard.csv", whole.drop("run_dir").write_csv())
        board.saved = [results / "leaderboard.md", results / "leaderboard.csv"]
        if html:
            from echobench.results.page import write_page

            page = write_page(whole, results, tables=tables)
            board.saved.append(page.path)
            board.figures, board.removed = page.figures, page.removed
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(out), board.text)
        board.view = Path(out)
    return board
