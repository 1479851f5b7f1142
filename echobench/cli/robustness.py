"""``echobench robustness RUN_DIR``: score a finished run's TEST under every perturbation x severity
(thin wrapper over :func:`echobench.evaluation.robustness_run.score_run_robustness`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from echobench.cli.common import err, out, progress_factory, user_errors


@user_errors
def robustness(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory (runs/<run_id>).")],
    results: Annotated[Path, typer.Option(
        help="Leaderboard directory holding the run's record.")] = Path("leaderboard"),
    data: Annotated[Optional[Path], typer.Option(help="EchoNet-format directory (default: the run's).")] = None,
    gpus: Annotated[Optional[int], typer.Option(help="CUDA devices (0 = CPU).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        min=1, help="Clips per forward pass (default: the run's).")] = None,
    n_boot: Annotated[Optional[int], typer.Option(min=0, help="Bootstrap resamples (default: the run's).")] = None,
) -> None:
    """Score TEST of a finished run's best weights under the versioned perturbations (the records
    `run --robustness` writes), into the run's folder and the leaderboard."""
    from echobench.evaluation.robustness_run import score_run_robustness

    with progress_factory() as make:
        result = score_run_robustness(run_dir, results=results, data=data, gpus=gpus, batch_size=batch_size,
                                      n_boot=n_boot, progress=make,
                                      log=lambda m: err.print(f"[yellow]warning:[/] {escape(m)}"))
        make.close()
    table = Table(title=f"robustness · run {result.run_id} · TEST, one clip", title_justify="left")
    for column in ("metric", "value", "95 % interval"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for s in result.scores:
        e = s.estimate
        table.add_row(escape(s.metric), f"{e.value:.3f}", "–" if e.low != e.low else f"[{e.low:.3f}, {e.high:.3f}]")
    out.print(table)
    out.print(f"record:  {result.record}\nsummary: {result.summary}", soft_wrap=True)
