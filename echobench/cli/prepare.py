"""``echobench prepare``: turn raw echo files into clips for pre-training (``prepare dicom``), and
join the pieces of a sharded conversion (``prepare merge``).

Thin commands: parse, call :func:`echobench.data.prepare.prepare_dicom` or
:func:`echobench.data.prepare_merge.merge_prepared`, render a one-screen summary on stdout. Progress
goes to stderr. Files that are skipped or fail are counted, not errors (exit 0); an unusable SRC or
OUT prints one ``error: ...`` line and exits 2.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from echobench.cli.common import out as stdout
from echobench.cli.common import progress_factory, user_errors
from echobench.errors import ConfigError

app = typer.Typer(help="Prepare raw echo data (DICOM) as clips for pre-training.", no_args_is_help=True)


class Crop(str, Enum):
    region = "region"
    none = "none"


class Decode(str, Enum):
    fast = "fast"
    exact = "exact"


class BurnedIn(str, Enum):
    mask = "mask"
    skip = "skip"
    keep = "keep"


@app.command()
@user_errors
def dicom(
    src: Annotated[Path, typer.Argument(
        help="Folder of DICOM files, e.g. MIMIC-IV-ECHO's files/ (walked recursively).")],
    out: Annotated[Path, typer.Argument(
        help="Output folder: clips/, manifest.parquet, prepare.json (resumed if present).")],
    fps: Annotated[float, typer.Option(help="Output frame rate (frames/s); loops are resampled to it.")] = 30.0,
    size: Annotated[int, typer.Option(help="Output height = width (pixels).")] = 224,
    min_frames: Annotated[int, typer.Option(help="Fewest frames a loop needs; fewer (e.g. stills) is skipped.")] = 2,
    workers: Annotated[Optional[int], typer.Option(
        help="Worker processes (default: one per CPU, fewer if memory holds fewer 1 GiB workers).",
        show_default=False)] = None,
    crop: Annotated[Crop, typer.Option(help="region: keep only the ultrasound region (header, else sector "
                                            "estimate); none: keep the whole frame.")] = Crop.region,
    retry_failed: Annotated[bool, typer.Option(
        help="Read again the files an earlier run could not decode.")] = False,
    burned_in: Annotated[BurnedIn, typer.Option(
        help="Burnt-in text: mask = zero every pixel outside the scan sector (estimated from the loop); "
             "skip = also refuse files flagged BurnedInAnnotation YES; keep = no mask.")] = BurnedIn.mask,
    shard: Annotated[Optional[str], typer.Option(
        help="K/N: convert only piece K (0-based) of N of the files (deterministic by path), e.g. one "
             "SLURM array task each; join the N OUT folders with `echobench prepare merge`.",
        show_default=False)] = None,
    decode: Annotated[Decode, typer.Option(
        help="fast: decode JPEG frames at 1/2 or 1/4 size when the clip is that much smaller than "
             "the ultrasound region, resize in uint8 (pixels within a tested bound of exact); exact: "
             "full-size decode, float resize.")] = Decode.fast,
) -> None:
    """Convert every DICOM cine loop under SRC to a square clip under OUT, with a manifest.

    Every file under SRC gets one manifest row (ok / skipped / failed, with the reason).

    A rerun skips what is done, also after a crash. No header value (names, IDs, dates) is written.
    """
    from echobench.data.prepare import PrepareSettings, Shard, prepare_dicom

    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    settings = PrepareSettings(fps=fps, size=size, min_frames=min_frames, crop=crop.value,
                               burned_in=burned_in.value, decode=decode.value)
    piece = Shard.parse(shard) if shard is not None else None
    with progress_factory() as make:
        summary = prepare_dicom(src, out, settings, workers=workers, retry_failed=retry_failed, progress=make,
                                shard=piece)
    render_summary(summary)


@app.command()
@user_errors
def merge(
    shards: Annotated[list[Path], typer.Argument(
        help="The OUT folders of `prepare dicom --shard K/N`, all N of them.")],
    out: Annotated[Path, typer.Option("--out", help="Merged output folder (new, or an earlier merge).")],
) -> None:
    """Join the OUT folders of a sharded `prepare dicom` into one, each file exactly once.

    The result equals one unsharded `prepare dicom` over the same SRC (same manifest rows, same clips).
    """
    from echobench.data.prepare_merge import merge_prepared

    render_summary(merge_prepared(shards, out))


@app.command()
@user_errors
def shards(
    prepared: Annotated[Path, typer.Argument(
        help="Folder from `prepare dicom` (manifest.parquet) or a folder of videos.")],
    out: Annotated[Path, typer.Argument(
        help="New folder for the shard store (tar shards, index.parquet, store.json).")],
    shard_mb: Annotated[int, typer.Option("--shard-mb", min=1, help="Shard size in MiB.")] = 1024,
) -> None:
    """Write PREPARED as a shard store for `echobench pretrain METHOD OUT`: uint8 frames at the stored
    resolution (one channel for grey) in WebDataset tar shards, with the manifest's provenance per sample.
    Videos that cannot be decoded are skipped and counted."""
    from echobench.data.pretrain_clips import list_pretrain_videos
    from echobench.data.shards import write_shards

    total = len(list_pretrain_videos(prepared).paths)
    with progress_factory() as make:
        report = write_shards(prepared, out, shard_bytes=shard_mb << 20, progress=make("shards", total))
    stdout.print(f"{report.samples} clips in {report.shards} shard(s), {report.bytes / 2**20:.1f} MiB, "
                 f"{report.channels} channel(s): {report.out}", highlight=False, soft_wrap=True)
    for reason, n in sorted(report.skipped.items()):
        stdout.print(f"skipped {n}: {reason}", highlight=False, soft_wrap=True)


@app.command("merge-stores")
@user_errors
def merge_stores_command(
    stores: Annotated[list[Path], typer.Argument(
        help="Shard stores written by `prepare shards` on several machines, in order (e.g. by shard K).")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the merged store.")],
) -> None:
    """Join shard stores written on several machines into one, without rewriting a clip (shards are
    hard-linked, or copied across file systems); the order of STORES fixes the sample order."""
    from echobench.data.shard_merge import merge_stores

    report = merge_stores(stores, out)
    stdout.print(f"{report.samples} clips in {report.shards} shard(s) from {len(stores)} stores, "
                 f"{report.bytes / 2**20:.1f} MiB: {report.out}", highlight=False, soft_wrap=True)


def render_summary(summary) -> None:
    """Counts by status and reason, and where the manifest is, as one Rich screen on stdout."""
    from rich.table import Table

    counts = summary.counts
    stdout.print(f"{summary.inputs} files: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed "
                 f"({summary.processed} processed now, {summary.reused} done before)", highlight=False)
    reasons = [(status, reason, n) for status, by_reason in summary.reasons.items() for reason, n in by_reason.items()]
    if reasons:
        table = Table("status", "reason", "files", box=None, pad_edge=False)
        for status, reason, n in reasons[:20]:
            table.add_row(status, reason, str(n))
        if len(reasons) > 20:
            table.add_row("...", f"{len(reasons) - 20} more reasons in prepare.json", "")
        stdout.print(table)
    s = summary.settings
    notes = [f"clips: {s.size}x{s.size} at {s.fps:g} frames/s, crop {s.crop}, burnt-in text {s.burned_in}"
             + (f", shard {summary.shard}" if summary.shard else "")]
    if summary.without_timing:
        notes.append(f"{summary.without_timing} ok loop(s) had no frame timing: kept frame for frame")
    if summary.dropped:
        notes.append(f"{summary.dropped} row(s) of earlier runs dropped: their source is gone")
    for note in notes:
        stdout.print(note, highlight=False)
    stdout.print(f"manifest: {summary.manifest}", highlight=False, soft_wrap=True)
