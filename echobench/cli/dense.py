"""Terminal table of a dense run (segmentation, frames): the model next to its baseline row, per split."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from echobench.cli.common import out


def render_dense(result) -> None:
    """Print every metric of the task (Dice/IoU per phase, or frame errors) with its 95 % interval for
    the model and the baseline (fixed TRAIN mean mask / random frame guess), TEST then VAL."""
    from echobench.evaluation.frames import RANDOM_GUESS
    from echobench.evaluation.segmentation import MEAN_MASK

    baseline = MEAN_MASK if result.kind == "segmentation" else RANDOM_GUESS
    metrics = list(result.metrics["TEST"])
    units = "Dice/IoU: fraction" if result.kind == "segmentation" else "frame MAE: source-video frames"
    table = Table(title=f"{result.task_tag} · protocol {result.protocol_tag} · {units}", title_justify="left",
                  caption=f"value [95 % bootstrap interval]; checkpoint picked on VAL (epoch {result.best_epoch}); "
                          "one clip per video holding the traced ED and ES frames", caption_justify="left")
    for column in ("split", "model", *metrics, "n"):
        table.add_column(column, justify="left" if column in ("split", "model") else "right",
                         min_width=len(result.model) if column == "model" else None)
    for split in ("TEST", "VAL"):
        for name, values, ci in ((result.model, result.metrics[split], result.metrics_ci.get(split, {})),
                                 (baseline, result.constant[split], result.constant_ci.get(split, {}))):
            cells = []
            for m in metrics:
                low, high = ci.get(m, (float("nan"), float("nan")))
                digits = 2 if m.startswith("frame MAE") else 3
                text = f"{values[m]:.{digits}f}"
                cells.append(text if low != low else f"{text}\n[{low:.{digits}f}, {high:.{digits}f}]")
            table.add_row(split, escape(name), *cells, str(result.n[split]))
    out.print(table)
    if result.kind == "segmentation":
        out.print("EF from the predicted masks (method of discs) is recorded as task ef, trained on "
                  f"{result.task_tag.split('@')[0]}: see `echobench leaderboard`")
    if result.skipped:
        out.print("skipped videos: " + ", ".join(f"{k}: {v}" for k, v in sorted(result.skipped.items())))
    out.print(f"run directory: {result.run_dir}\nrun record:    {result.record}\nrun log:       {result.log}",
              soft_wrap=True)
