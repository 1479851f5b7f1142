"""The reader toolkit a dataset plugin builds on (DESIGN §6, §9; STYLE rules 12, 13).

Every dataset reader of echobench (core's EchoNet-Dynamic reader, the first-party EchoNet-Pediatric,
CAMUS and EchoNet-LVH plugins, the example third-party ``example-clips`` plugin) takes the same
real-world variation in its stride through these functions, so each behaves alike and none has to
re-implement them. A plugin reaches them through the public face (``from echobench import
read_table, index_videos, ...``, see :mod:`echobench.contract.reading`):

- :func:`read_table`: a CSV table as stripped strings, header case ignored, a clear one-line
  :class:`~echobench.errors.DataError` naming the file for an unparsable file or ambiguous header;
- :func:`video_stem` / :func:`video_stem_expr`: a FileName without its container extension (EchoNet's
  two CSVs differ in whether FileName carries ``.avi``);
- :func:`index_videos` / :func:`pick_video`: a folder of videos (AVI, MP4, any container of
  :data:`VIDEO_SUFFIXES`) indexed by stem, unusable entries counted, and the file a FileName names;
- :func:`probe_or_skip` / :func:`probe_reason`: a video's frame count, size and frame rate, or a
  counted skip with a reason (empty, truncated, unreadable);
- :func:`ed_es_frames`: ED and ES frames from the method-of-discs volumes of the traced frames;
- :func:`label_notes`: notes for physically inconsistent EF/ESV/EDV labels (kept as published).

Every function counts what it does not use in a :class:`~echobench.contract.dataset.DataReport`
instead of raising, except where the whole folder or file cannot be used.
"""

from __future__ import annotations

import collections
import errno
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl

from echobench.contract.dataset import DataReport
from echobench.data.video import VIDEO_SUFFIXES, VideoInfo, probe_video
from echobench.errors import DataError, describe

MAX_FPS = 1000.0
"""Frames/s above any echo frame rate (high-frame-rate B-mode stays in the hundreds): a larger FPS
cell is a unit or typing error, not a frame rate."""

EF_TOLERANCE = 5.0
"""EF points (%) by which a listed EF may differ from ``100 * (EDV - ESV) / EDV`` before it is noted.
Chosen well above what rounding of the published volumes can explain (rounding ESV and EDV to the
nearest 0.5 mL moves the EF of a 20 mL ventricle by under 2 points) and at the low end of the
inter-observer variation of EF, so a note means the labels disagree by a clinically meaningful amount."""

LABEL_CHECKS = ("ESV greater than EDV", "EF disagrees with (EDV - ESV) / EDV")
"""Note reasons of physically inconsistent labels (rows kept), as :func:`label_notes` gives them."""

SUFFIX_PATTERN = r"(?is)^(.+)\.(" + "|".join(sorted(re.escape(s[1:]) for s in VIDEO_SUFFIXES)) + r")$"
"""A name with a trailing video-container extension (``.avi``, ``.mp4``..., any case) after a non-empty
stem, the stem as group 1 (a polars/re pattern; :func:`video_stem_expr` replaces it by ``${1}``)."""


# ------------------------------------------------------------------------------------------ names
def split_suffix(name: str) -> tuple[str, str]:
    """A file name as (stem, container extension in lower case): ``"X.avi"`` -> ``("X", ".avi")``,
    ``" X.MP4 "`` -> ``("X", ".mp4")``, ``"X"`` or ``"X.csv"`` -> ``(name, "")`` (stripped). Only the
    extensions of :data:`VIDEO_SUFFIXES` count, so a dotted stem (``"a.b"``) stays whole."""
    name = name.strip()
    base, dot, ext = name.rpartition(".")
    return (base, "." + ext.lower()) if dot and base and "." + ext.lower() in VIDEO_SUFFIXES else (name, "")


def video_stem(name: str) -> str:
    """A FileName without its video-container extension, stripped: ``"0X1A.avi"``, ``"0X1A.AVI "``
    and ``"0X1A"`` all give ``"0X1A"`` (EchoNet-Dynamic's FileList and VolumeTracings differ in
    whether FileName carries ``.avi``; DESIGN §6). Only :data:`VIDEO_SUFFIXES` are removed."""
    return split_suffix(name)[0]


def video_stem_expr(names: pl.Expr | pl.Series) -> pl.Expr | pl.Series:
    """:func:`video_stem` over a polars string column: an expression (``video_stem_expr(pl.col("FileName"))``)
    or a Series gives the same kind back; nulls become ``""``."""
    return names.fill_null("").str.strip_chars().str.replace(SUFFIX_PATTERN, "${1}")


# ------------------------------------------------------------------------------------------ tables
def parse_csv(path: Path, **options) -> pl.DataFrame:
    """Every cell of a CSV file as a string (polars' names: a repeated header cell gets a
    ``_duplicated_N`` suffix; ragged rows are padded, undecodable bytes replaced).

    Raises:
        DataError: polars cannot parse the file (one line naming it).
    """
    try:
        return pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True, encoding="utf8-lossy", **options)
    except Exception as exc:  # polars raises several error types for malformed CSV
        raise DataError(f"{path}: cannot parse CSV ({describe(exc)})") from exc


def header_key(cell: str) -> str:
    """A header cell as compared: stripped, byte-order mark dropped, lower case."""
    return cell.strip().lstrip("\ufeff").strip().lower()


def known_columns(path: Path, df: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """The known ``columns`` present in ``df`` (parsed from ``path`` by :func:`parse_csv`), renamed to
    their known names, cells stripped (header case-insensitive, stripped, BOM ignored).

    Raises:
        DataError: two header cells read as the same known column (``EF`` and ``ef``, or ``EF``
            twice): which one holds the labels is ambiguous, so neither is guessed.
    """
    first = parse_csv(path, has_header=False, n_rows=1)
    if first.height == 1 and first.width == df.width:
        raw = first.row(0)
    else:  # polars read no header row by itself (e.g. NUL bytes): undo its renaming of repeated cells
        raw = tuple(re.sub(r"_duplicated_\d+$", "", c) for c in df.columns)
    wanted = {name.lower(): name for name in columns}
    found: dict[str, list[int]] = {}
    for i, cell in enumerate(raw):
        key = header_key(cell or "")
        if key in wanted:
            found.setdefault(wanted[key], []).append(i)
    for name, where in found.items():
        if len(where) > 1:
            cells = [f"{raw[i].strip()!r} (column {i + 1})" for i in where]
            both = "both" if len(cells) == 2 else "all"
            raise DataError(f"{path}: columns {', '.join(cells[:-1])} and {cells[-1]} {both} read as {name} "
                            "(header case is ignored); rename or remove all but one")
    return df.select([pl.col(df.columns[where[0]]).str.strip_chars().alias(name) for name, where in found.items()])


def read_table(path: str | os.PathLike, columns: tuple[str, ...]) -> pl.DataFrame:
    """Read a CSV table (a FileList, a measurement list, tracings...) with polars: every cell as a
    stripped string (``None`` for an empty cell), only the known ``columns`` that are present, each
    renamed to its spelling in ``columns`` (header case, surrounding blanks and a BOM are ignored;
    other columns are dropped; row order kept). Cast numbers with ``pl.col(c).cast(pl.Float64,
    strict=False)``, so a bad cell becomes null and the caller counts its row as skipped.

    Args:
        path: the CSV file.
        columns: the column names the reader knows, e.g. ``("FileName", "EF", "Split")``. A missing
            one is simply absent from the result: check for required columns and raise
            ``DataError(f"{path}: missing required column(s) ...")``.

    Returns:
        ``(rows, <present known columns>)`` polars DataFrame of ``Utf8`` cells.

    Raises:
        DataError: one line naming the file: it cannot be parsed, or two header cells read as one
            known column (``EF`` and ``ef``; :func:`known_columns`).
    """
    path = Path(path)
    return known_columns(path, parse_csv(path), columns)


# ------------------------------------------------------------------------------------------ videos
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
               (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def _entry_problem(path: str) -> str | None:
    """Why a video-folder entry cannot be read as a video, or None when it can. Follows symlinks;
    never opens the entry (opening a FIFO would block)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return {errno.ELOOP: "symlink loop", errno.ENOENT: "broken symlink"}.get(
            exc.errno or 0, f"cannot stat ({exc.strerror or exc})")
    if not stat.S_ISREG(mode):
        return "not a regular file" + next((f" ({kind})" for test, kind in _FILE_KINDS if test(mode)), "")
    if not os.access(path, os.R_OK):
        return "not readable (permission denied)"
    return None


def index_videos(folder: str | os.PathLike, report: DataReport
                 ) -> tuple[dict[str, dict[str, Path]], dict[str, tuple[str, str]]]:
    """Index a folder of videos by stem: usable ``<folder>/<stem>.<ext>`` files (any container of
    :data:`VIDEO_SUFFIXES`: AVI, MP4, MOV...; extension in any case) as ``{stem: {ext: path}}``, and
    ``{stem: (skip reason, detail)}`` for the stems whose file cannot be used.

    A stem may have several containers (``X.avi`` beside ``X.mp4``); :func:`pick_video` chooses by
    the FileName's own extension. Entries that are not regular readable files (FIFOs, sockets,
    directories, broken links, symlink loops, unreadable files) and names that differ only in case
    (``X.avi`` and ``X.AVI``: which one is the video is ambiguous, so neither is used) are counted in
    :attr:`DataReport.entries_skipped`, each named; the reader skips a listed row of such a stem with
    the returned reason. Hidden entries (``.*``, e.g. macOS ``._X.avi``) and files of other
    extensions (``notes.txt``, ``X.csv``) are not looked at. Nothing is opened or decoded.

    Raises:
        DataError: ``folder`` cannot be listed (one line naming it).
    """
    folder = Path(folder)
    try:
        names = sorted(e.name for e in os.scandir(folder) if split_suffix(e.name)[1] and not e.name.startswith("."))
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the video directory ({exc.strerror or exc})") from None
    by_lower: dict[str, list[str]] = collections.defaultdict(list)
    for name in names:
        by_lower[name.lower()].append(name)
    index: dict[str, dict[str, Path]] = {}
    unusable: dict[str, tuple[str, str]] = {}
    for group in by_lower.values():
        for name in group:
            stem, ext = split_suffix(name)
            if len(group) > 1:
                reason, detail = "file names differ only in case", f"{', '.join(group)} in {folder}: neither used"
                unusable[stem] = "video ambiguous (file names differ only in case)", ", ".join(group)
            elif problem := _entry_problem(os.path.join(folder, name)):
                reason, detail = problem, f"{folder / name} not used"
                unusable[stem] = "video not usable", f"{name}: {problem}"
            else:
                index.setdefault(stem, {})[ext] = folder / name
                continue
            report.skip_entry(reason, name, detail)
    return index, unusable


def pick_video(containers: Mapping[str, Path], file_name: str) -> tuple[Path | None, str]:
    """The file a listed FileName names among its stem's containers (``index[video_stem(name)]`` of
    :func:`index_videos`), and a note for the report (``""`` when there is nothing to note).

    One container: it, whatever FileName's extension says (the EchoNet loader appends ``.avi``
    to whatever FileName holds). Several (``X.avi`` beside ``X.mp4``): the one with FileName's own
    extension, with a note naming both; without an extension, or when FileName's is not among them,
    ``(None, "<the files>")``: ambiguous, the caller skips the row naming them.
    """
    if len(containers) == 1:
        return next(iter(containers.values())), ""
    ext = split_suffix(file_name)[1]
    found = ", ".join(p.name for p in containers.values())
    if ext in containers:
        return containers[ext], f"{found} present; FileName {file_name.strip()!r} names {containers[ext].name}"
    return None, found


def probe_reason(exc: DataError, what: str = "video") -> str:
    """The skip reason for a failed :func:`~echobench.data.video.probe_video`: ``"<what> empty (0
    bytes)"``, ``"<what> truncated"`` or ``"<what> unreadable"`` (a few reasons to count by; the
    exception's own message, naming the file, goes in the detail)."""
    text = str(exc)
    if "empty (0 bytes)" in text:
        return f"{what} empty (0 bytes)"
    if "truncated" in text:
        return f"{what} truncated"
    return f"{what} unreadable"


def probe_or_skip(path: str | os.PathLike, name: str, report: DataReport,
                  progress: Callable[[int], None] | None = None, *, what: str = "video") -> VideoInfo | None:
    """Probe a listed video (demux without decoding: :func:`~echobench.data.video.probe_video`), or
    count its failure as a skip of ``name``.

    Args:
        path: the video (any container PyAV reads, or a NIfTI sequence).
        name: the row's name in the report (its FileName stem).
        report: where a failure is counted, under :func:`probe_reason`'s reason, with the
            one-line error naming the file as detail.
        progress: called with ``1`` after the probe, whether it succeeded or not.
        what: the word for the file in the reason (``"half sequence"`` for CAMUS...).

    Returns:
        :class:`~echobench.data.video.VideoInfo` (frames, height and width in pixels, container fps
        in frames/s, 0.0 when it gives none), or None when the file is missing, empty, truncated or
        unreadable (the skip counted). Never raises :class:`DataError`.
    """
    try:
        return probe_video(path)
    except DataError as exc:
        report.skip(probe_reason(exc, what), name, str(exc))
        return None
    finally:
        if progress is not None:
            progress(1)


# ------------------------------------------------------------------------------------------ labels
def ed_es_frames(volumes: Mapping[int, float]) -> tuple[int | None, int | None]:
    """The end-diastolic and end-systolic frames among the traced frames: ED is the frame with the
    largest method-of-discs volume, ES the one with the smallest, whatever their order or number
    (EchoNet-Dynamic issue #74; issue 12 item 7). Volumes may be in any unit (pixels, mL, or an area
    for outline tracings): only their order is used.

    Args:
        volumes: traced frame index -> volume (NaN when the tracing gives none; such frames are ignored).

    Returns:
        ``(ed_frame, es_frame)``; ``(None, None)`` when fewer than two traced frames have a volume
        or all volumes are equal. Ties: the earlier frame.
    """
    known = sorted((f, v) for f, v in volumes.items() if math.isfinite(v))
    if len(known) < 2 or max(v for _, v in known) == min(v for _, v in known):
        return None, None
    return max(known, key=lambda fv: (fv[1], -fv[0]))[0], min(known, key=lambda fv: (fv[1], fv[0]))[0]


def label_notes(ef: float, esv: float, edv: float) -> list[tuple[str, str]]:
    """Notes ``(reason, detail)`` for physically inconsistent labels, to pass to
    :meth:`DataReport.note` (the row is kept, as published): ESV > EDV, or EF more than
    :data:`EF_TOLERANCE` points from ``100 * (EDV - ESV) / EDV``. EF in %, volumes in mL; NaN
    volumes are not checked. Reasons are those of :data:`LABEL_CHECKS`."""
    if not (math.isfinite(esv) and math.isfinite(edv)):
        return []
    if esv > edv:
        return [(LABEL_CHECKS[0], f"ESV {esv:g} mL > EDV {edv:g} mL (label kept as published)")]
    if edv > 0 and abs(ef - (from_volumes := 100.0 * (edv - esv) / edv)) > EF_TOLERANCE:
        return [(LABEL_CHECKS[1],
                 f"EF {ef:g} %, volumes give {from_volumes:.1f} % (more than {EF_TOLERANCE:g} points apart; "
                 "label kept as published)")]
    return []


__all__ = ["EF_TOLERANCE", "LABEL_CHECKS", "MAX_FPS", "SUFFIX_PATTERN", "VIDEO_SUFFIXES", "VideoInfo",
           "ed_es_frames", "header_key", "index_videos", "known_columns", "label_notes", "parse_csv",
           "pick_video", "probe_or_skip", "probe_reason", "probe_video", "read_table", "split_suffix",
           "video_stem", "video_stem_expr"]
