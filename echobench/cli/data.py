"""``echobench data``: inspect (``check``) and create (``synth``) EchoNet-format data.

Thin commands: each parses, calls one library function, and renders. Progress goes to stderr,
results to stdout; a user error prints one ``error: ...`` line on stderr and exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from echobench.cli.common import out as stdout
from echobench.cli.common import progress_factory, user_errors

app = typer.Typer(help="Inspect and create EchoNet-format data.", no_args_is_help=True)


@app.command()
@user_errors
def check(
    root: Annotated[Path, typer.Argument(help="Data directory (EchoNet-format: FileList.csv, VolumeTracings.csv, "
                                              "Videos/; or any registered dataset layout).")],
    dataset: Annotated[Optional[str], typer.Option(help="Registered dataset layout of ROOT (e.g. echonet-dynamic); "
                                                   "default: detected from the folder's files, "
                                                   "else echonet-dynamic.")] = None,
) -> None:
    """Read ROOT with its dataset plugin's reader and report what was used, skipped and odd; exit 2 if
    a split (TRAIN, VAL, TEST) has no usable row, since `echobench run` cannot use it then."""
    from echobench.data.check import render_report
    from echobench.data.echonet import require_splits
    from echobench.data.resolve import resolve_dataset

    with progress_factory() as make:
        spec, data = resolve_dataset(dataset, root, progress=make("probe videos", None))
    stdout.print(f"dataset: {spec.name}@{spec.version} ({spec.summary})", highlight=False, soft_wrap=True)
    render_report(data.report, stdout, units=spec.labels, listed_in=spec.markers[0] if spec.markers else "the listing")
    require_splits(data.records, root)  # the report is printed; exit 2 if `run` cannot use the directory


@app.command()
@user_errors
def synth(
    out: Annotated[Path, typer.Argument(help="Directory to write (FileList.csv, VolumeTracings.csv, Videos/).")],
    videos: Annotated[int, typer.Option(min=1, help="Number of videos to simulate.")] = 32,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
) -> None:
    """Write a synthetic EchoNet-format dataset with physically consistent labels to OUT."""
    from echobench.data.synth import synthesize

    with progress_factory() as make:
        summary = synthesize(out, videos=videos, seed=seed, progress=make("synthesize videos", videos))
    typer.echo(f"wrote {summary.videos} synthetic videos to {out} (seed {seed}; EF mean {summary.ef_mean:.1f} %, "
               f"sd {summary.ef_sd:.1f} %)")
