"""``echobench score``: metrics with 95 % bootstrap intervals for a predictions file, no model run.

Thin command: parses, calls :func:`echobench.scoring.score_predictions`, renders a Rich table on
stdout (warnings on stderr). A user error prints one ``error: ...`` line and exits 2.
"""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from echobench.cli.common import err, out, progress_factory, user_errors


class TaskName(str, Enum):
    """The tasks a predictions file can be scored on (DESIGN §5)."""

    ef = "ef"
    esv = "esv"
    edv = "edv"
    ef50 = "ef50"


def _cell(est, units: str) -> str:
    digits = 2 if units in ("%", "mL") else 3
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
                     f"constant predictor: {result.constant_label}\npredictions: {result.predictions}\ndata: {result.data}"),
              highlight=False, soft_wrap=True)


def _warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


@user_errors
def score(
    predictions: Annotated[Path, typer.Argument(
        help="CSV with columns FileName (with or without .avi) and prediction; extra columns are ignored.")],
    task: Annotated[TaskName, typer.Option(
        help="ef: prediction is EF in %. esv, edv: mL. ef50: a probability of reduced EF (EF < 50 %) if "
             "EVERY value is in [0, 1] (reduced when >= 0.5), otherwise a predicted EF in % (reduced when < 50).",
        case_sensitive=False)],
    data: Annotated[Path, typer.Option(help="EchoNet-format directory the predictions are for (videos are not decoded).")],
    split: Annotated[str, typer.Option(help="Split to score: TRAIN, VAL or TEST (any case).")] = "TEST",
    n_boot: Annotated[int, typer.Option("--n-boot", min=0, help="Bootstrap resamples for the 95 % intervals (0: none).")] = 1000,
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
    from echobench.scoring import score_predictions

    with progress_factory() as make:
        result = score_predictions(predictions, data, task=task.value, split=split, n_boot=n_boot, seed=seed,
                                   allow_missing=allow_missing, train_mean=train_mean,
                                   progress=make("probe videos", None))
    for note in result.notes:
        _warn(note)
    render_score(result)
