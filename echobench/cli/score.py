"""``echobench score``: metrics with 95 % bootstrap intervals for a predictions file, no model run.

Thin command: parses, calls :func:`echobench.scoring.score_predictions`, renders a Rich table on
stdout (warnings on stderr). A user error prints one ``error: ...`` line and exits 2.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from echobench.cli.common import err, out, progress_factory, user_errors


def _cell(est, units: str) -> str:
    digits = 3 if not units else 2  # EF points, mL: 2 decimals; unit-free (R², r, ACC, ...): 3
    if math.isnan(est.value):
        return "n/a"
    text = f"{est.value:.{digits}f}"
    if not math.isnan(est.low):
        text += f" [{est.low:.{digits}f}, {est.high:.{digits}f}]"
    return text


def render_score(result) -> None:
    """Print each metric for the predictions and the constant predictor side by side, one table per
    section, then the interval method, how predictions were read, and where they came from."""
    title = (f"score · task {result.task} · split {result.split} · N = {result.n}"
             + (f" of {result.n_split}" if result.n != result.n_split else ""))
    out.print(f"[bold]{escape(title)}[/]", highlight=False)
    for section in result.sections:
        table = Table(title=escape(section.title), title_justify="left")
        table.add_column("metric", no_wrap=True)
        table.add_column("predictions", justify="right", no_wrap=True)
        table.add_column("constant", justify="right", no_wrap=True)
        for metric, units in section.units.items():
            name = metric.replace("R2", "R²") + (f" ({units})" if units else "")
            table.add_row(escape(name), _cell(section.model[metric], units), _cell(section.constant[metric], units))
        out.print(table)
    interval = (f"95 % percentile bootstrap over videos, {result.n_boot} resamples, seed {result.seed}"
                if result.n_boot else "no bootstrap (--n-boot 0)")
    out.print(escape(f"value [low, high]: {interval}\nprediction read as {result.interpretation}\n"
                     f"constant predictor: {result.constant_label}\npredictions: {result.predictions}\n"
                     f"data: {result.data}"),
              highlight=False, soft_wrap=True)


def _warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _task_name(name: str) -> str:
    """``name`` as registered, case ignored when only its case differs (``EF`` -> ``ef``)."""
    from echobench.registry import get_registry

    names = get_registry().names("task")
    return name if name in names else next((n for n in names if n.lower() == name.lower()), name)


def _run_config(predictions: Path) -> dict:
    """The ``config.json`` of the run directory holding ``predictions`` (empty when there is none, or
    when ``predictions`` is not a file the run wrote); for the run's predictions on an external dataset
    (:func:`echobench.evaluation.external.external_predictions_path`) with that dataset's folder and
    layout as ``data`` and ``dataset_name``, so its labels are the ones scored."""
    import json

    from echobench.evaluation.external import external_predictions_path

    config = predictions.parent / "config.json"
    if predictions.suffix.lower() != ".parquet" or not config.is_file():
        return {}
    try:
        run = json.loads(config.read_text())
    except (OSError, ValueError):
        return {}
    if predictions.name == "predictions.parquet":
        return run
    for ext in run.get("eval_data") or []:
        if predictions.name == external_predictions_path(".", Path(ext["data"]).name, ext["dataset_hash"]).name:
            return {**run, "data": ext["data"], "dataset_name": ext["dataset"]}
    return {}


@user_errors
def score(
    predictions: Annotated[Path, typer.Argument(
        help="CSV with columns FileName (with or without .avi) and prediction, extra columns ignored; or a run's "
             "runs/<id>/predictions.parquet. Optional columns split and clips pick the rows scored.")],
    task: Annotated[Optional[str], typer.Option(
        help="A registered task (`echobench list task`). ef: prediction is EF in %. esv, edv: mL. ef50: a "
             "probability of reduced EF (EF < 50 %) if EVERY value is in [0, 1] (reduced when >= 0.5), otherwise "
             "a predicted EF in % (reduced when < 50). Another task: its label in its units. "
             "Default for a run's predictions.parquet: the run's task.")] = None,
    dataset: Annotated[Optional[str], typer.Option(
        help="Registered dataset layout of --data (e.g. echonet-dynamic); default: the run's for its "
             "predictions.parquet, else detected from the folder's files, else echonet-dynamic.")] = None,
    data: Annotated[Optional[Path], typer.Option(
        help="EchoNet-format directory the predictions are for (videos are not decoded). Default for a run's "
             "predictions.parquet: the run's data directory.")] = None,
    split: Annotated[str, typer.Option(help="Split to score: TRAIN, VAL or TEST (any case); with a split column, "
                                            "only its rows are read.")] = "TEST",
    clips: Annotated[str, typer.Option(help="With a clips column: one (one clip per video) or all (all clips "
                                            "averaged, echonet protocol).")] = "one",
    n_boot: Annotated[Optional[int], typer.Option("--n-boot", min=0, help="Bootstrap resamples for the 95 % intervals "
                                                  "(0: none; default 1000, or the run's own for its "
                                                  "predictions.parquet).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Bootstrap seed (same seed, same intervals).")] = 0,
    allow_missing: Annotated[bool, typer.Option(
        "--allow-missing", help="Score only the split's videos that have a prediction instead of refusing.")] = False,
    train_mean: Annotated[float | None, typer.Option(
        "--train-mean", help="The constant predictor's value when DATA has no TRAIN labels (e.g. a TEST-only "
                             "copy): the TRAIN mean label (EF %, mL); for ef50 probabilities the TRAIN rate "
                             "of EF < 50 % (0-1). Without it such a directory is scored without the constant "
                             "row.")] = None,
) -> None:
    """Score a predictions file on one split: MAE/RMSE/R²/r (or ACC/F1/AUROC for ef50) with 95 %
    bootstrap intervals, next to the constant predictor (TRAIN mean label)."""
    from echobench.errors import ConfigError
    from echobench.scoring import score_predictions

    run = _run_config(predictions)
    task_name = _task_name(task) if task is not None else run.get("task")
    data = data if data is not None else (Path(run["data"]) if run.get("data") else None)
    for name, value in (("--task", task_name), ("--data", data)):
        if value is None:
            raise ConfigError(f"{name} is required (it is read from the run's config.json only for a run's "
                              f"predictions.parquet)")
    with progress_factory() as make:
        result = score_predictions(predictions, data, task=task_name, split=split, clips=clips,
                                   n_boot=n_boot if n_boot is not None else int(run.get("n_boot", 1000)), seed=seed,
                                   allow_missing=allow_missing, train_mean=train_mean,
                                   progress=make("probe videos", None),
                                   dataset=dataset if dataset is not None else run.get("dataset_name"))
    for note in result.notes:
        _warn(note)
    render_score(result)
