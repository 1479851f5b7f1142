"""Reader for EchoNet-Dynamic-format directories.

EchoNet-Dynamic (Ouyang et al., "Video-based AI for beat-to-beat assessment of cardiac function",
Nature 580, 2020; reference loader: github.com/echonet/dynamic, ``echonet/datasets/echo.py``) ships
as (DESIGN §6)::

    root/FileList.csv        FileName, EF (%), ESV (mL), EDV (mL), FrameHeight, FrameWidth,
                             FPS (frames/s), NumberOfFrames, Split (TRAIN | VAL | TEST)
    root/VolumeTracings.csv  FileName, X1, Y1, X2, Y2, Frame (per traced frame: the long axis,
                             then the disc chords; two traced frames per video)
    root/Videos/<FileName>.avi   (or any container PyAV reads: .mp4, .mov... see VIDEO_SUFFIXES)

:func:`read_echonet` takes real-world variation in its stride and never drops a row silently: every
row not used is counted in :attr:`DataReport.skipped` under its reason, every row used but adjusted
or odd is counted in :attr:`DataReport.notes`, and each such event gets one message line naming the
file. Only a directory that cannot be used at all raises :class:`~echobench.errors.DataError`; an
ambiguous header (two columns that read as one, e.g. ``EF`` and ``ef``) is such a case, since which
column holds the labels cannot be guessed. Entries of ``Videos/`` that cannot be read as files
(symlink loops, FIFOs...) or whose names differ only in case are counted and named, never used.
Physically inconsistent labels (ESV > EDV, EF far from (EDV - ESV) / EDV) are noted and kept.
FileList's FPS is trusted over the container's; the frame count comes from the file itself.
"""

from __future__ import annotations

import collections
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import polars as pl

from echobench.contract.dataset import SPLITS, DataReport, EchoNetData, VideoRecord
from echobench.data.discs import volumes_from_tracings
from echobench.data.readers import (EF_TOLERANCE, LABEL_CHECKS, MAX_FPS, VIDEO_SUFFIXES, ed_es_frames, header_key,
                                    index_videos, known_columns, label_notes, parse_csv, pick_video, probe_or_skip,
                                    read_table, video_stem, video_stem_expr)
from echobench.data.video import VideoInfo
from echobench.errors import DataError

_FILELIST_COLUMNS = ("FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split")
_REQUIRED = ("FileName", "EF", "Split")
_TRACING_COLUMNS = ("FileName", "X1", "Y1", "X2", "Y2", "Frame")
def canonical_content(path: str | os.PathLike, kind: str) -> bytes:
    """The normalised content of ``FileList.csv`` (``kind="filelist"``) or ``VolumeTracings.csv``
    (``kind="tracings"``), as bytes for hashing: the known columns in a fixed order (header case,
    column order, BOM and other columns do not matter), FileName without its container extension, Split in upper
    case, numbers as numbers (``55.50`` and ``55.5`` are one value: their float64 bits), other cells
    stripped; rows in file order. Two files that the reader reads alike give the same bytes.

    Raises:
        DataError: the file cannot be parsed or its header is ambiguous.
    """
    columns = {"filelist": _FILELIST_COLUMNS, "tracings": _TRACING_COLUMNS}[kind]
    df = read_table(Path(path), columns)
    parts = [f"{kind}:{df.height}".encode()]
    for name in columns:
        parts.append(f"\x1e{name}:".encode())
        if name not in df.columns:
            continue
        cells = df[name].fill_null("")
        if name in ("FileName", "Split"):
            text = video_stem_expr(cells) if name == "FileName" else cells.str.to_uppercase()
        else:
            number = cells.cast(pl.Float64, strict=False)
            values = number.fill_null(math.nan).to_numpy().astype("<f8") + 0.0  # -0.0 is 0.0
            parts.append(np.where(np.isnan(values), math.nan, values).tobytes())  # one NaN
            where = number.is_null().arg_true()  # the cells that are not numbers: their row and text
            parts.append(where.cast(pl.Int64).to_numpy().astype("<i8").tobytes())
            text = cells.gather(where)
        parts.append("\x1f".join(text.to_list()).encode("utf-8", "surrogateescape"))
    return b"".join(parts)


def _floats(df: pl.DataFrame, name: str) -> list[float | None]:
    if name not in df.columns:
        return [None] * df.height
    return df[name].cast(pl.Float64, strict=False).to_list()


def _extra_labels(table: pl.DataFrame) -> dict[str, list[float]]:
    """FileList columns beyond the known ones that hold numbers, as label columns (e.g. a ``GLS``
    column a third-party task reads): column -> value per row, NaN where a cell is empty or not a
    number. A column is a label when at least one of its cells is a finite number; its header is
    kept as written (stripped); an unnamed index column (``Unnamed: 0``) is not a label. A task names it by that header; its units are the task's."""
    known = {c.lower() for c in _FILELIST_COLUMNS}
    out: dict[str, list[float]] = {}
    for column in table.columns:
        name = header_key(column) and column.strip().lstrip("\ufeff").strip()
        if (not name or name.lower() in known or name in out or re.search(r"_duplicated_\d+$", column)
                or re.fullmatch(r"(Unnamed: \d+|column_\d+)", name)):  # a written index, a header-less column
            continue
        values = table[column].str.strip_chars().cast(pl.Float64, strict=False).to_list()
        values = [math.nan if v is None or not math.isfinite(v) else float(v) for v in values]
        if any(math.isfinite(v) for v in values):
            out[name] = values
    return out


def _count(value: float | None) -> int | None:
    """A positive whole number from a CSV cell, else None."""
    if value is None or not math.isfinite(value) or value <= 0 or value != int(value):
        return None
    return int(value)


def _volume_ok(value: float | None) -> bool:
    """NaN (a missing volume) or a finite non-negative number of mL."""
    return value is not None and (math.isnan(value) or 0 <= value < math.inf)


def require_splits(records: Iterable[VideoRecord], root: str | os.PathLike, *, task: str | None = None,
                   skipped: Mapping[str, int] | None = None) -> None:
    """Refuse a dataset ``echobench run`` cannot use: a split of TRAIN, VAL, TEST without a record
    (training needs TRAIN, model selection VAL, the score TEST). Cheap: call it before decoding.

    Args:
        records: the usable records (after any task-specific filtering).
        root: the data directory, for the message.
        task: the task name the records were filtered for, for the message.
        skipped: skip counts by reason, for the message.

    Raises:
        DataError: one line naming every empty split.
    """
    present = {r.split for r in records}
    missing = [s for s in SPLITS if s not in present]
    if missing:
        why = f" (skipped: {dict(skipped) or 'none'})" if skipped is not None else ""
        raise DataError(f"{root}: no usable {' or '.join(missing)} videos" + (f" for task {task}" if task else "")
                        + f"; `echobench run` needs TRAIN, VAL and TEST{why}")


def _read_tracings(root: Path, report: DataReport) -> tuple[dict[str, dict[int, float]], dict[str, int]]:
    """``{stem: {traced frame: method-of-discs volume}}`` (volumes in pixel units, NaN when the rows
    give none) and tracing row counts per stem (for the unlisted count)."""
    path = root / "VolumeTracings.csv"
    if not path.is_file():
        report.messages.append(f"note: {path}: not found; no video has traced frames")
        return {}, {}
    try:
        parsed = parse_csv(path)
    except DataError as exc:
        report.messages.append(f"note: {exc}; no video has traced frames")
        return {}, {}
    df = known_columns(path, parsed, _TRACING_COLUMNS)  # an ambiguous header is refused
    if "FileName" not in df.columns or "Frame" not in df.columns:
        report.messages.append(f"note: {path}: no FileName/Frame columns; no video has traced frames")
        return {}, {}
    df = df.select(
        video_stem_expr(pl.col("FileName")),
        pl.col("Frame").cast(pl.Float64, strict=False),
        *(pl.col(c).cast(pl.Float64, strict=False) if c in df.columns else pl.lit(None, pl.Float64).alias(c)
          for c in ("X1", "Y1", "X2", "Y2")),
    )
    rows = dict(df.group_by("FileName").len().iter_rows())
    valid = (pl.col("Frame").is_not_null() & pl.col("Frame").is_finite() & (pl.col("Frame") >= 0)
             & (pl.col("Frame") < 2**31)  # a frame index is a whole number of a plausible size
             & (pl.col("Frame") == pl.col("Frame").floor()))
    for stem, count in df.filter(~valid).group_by("FileName", maintain_order=True).len().iter_rows():
        name = stem or "(no FileName)"
        report.note("tracing row without a valid Frame", name, f"{count} row(s) in {path.name} ignored")
    volumes = volumes_from_tracings(df.filter(valid), cm_per_pixel=1.0)  # relative: only their order is used
    frames: dict[str, dict[int, float]] = collections.defaultdict(dict)
    for stem, frame, volume in volumes.iter_rows():
        frames[stem][frame] = math.nan if volume is None else volume
    return frames, rows


def read_echonet(
    root: str | os.PathLike, *, probe: bool = True, progress: Callable[[int], None] | None = None
) -> EchoNetData:
    """Read an EchoNet-Dynamic-format directory.

    Args:
        root: directory holding ``FileList.csv``, ``VolumeTracings.csv`` and ``Videos/``.
        probe: demux every listed video (:func:`~echobench.data.video.probe_video`) to catch
            empty/truncated/unreadable files and count its frames. With ``probe=False`` a video is
            probed only when FileList lacks its FPS, NumberOfFrames or frame size.
        progress: called with ``1`` after each video probed.

    Returns:
        :class:`EchoNetData` with the usable records (FileList order) and a :class:`DataReport`.

    Raises:
        DataError: no directory, no ``FileList.csv`` or ``Videos/``, ``Videos/`` cannot be listed,
            unparsable FileList, missing required columns (FileName, EF, Split), two header cells
            of FileList or VolumeTracings read as one column (``EF`` and ``ef``), or no usable row.
            Odd entries of ``Videos/`` are counted skips (:attr:`DataReport.entries_skipped`), not
            errors. A split without rows is not an error here (``score`` reads TEST-only copies):
            :func:`require_splits` is the check for ``run``.
    """
    root = Path(root)
    filelist = root / "FileList.csv"
    if root.is_file():
        raise DataError(f"{root}: is a file; give the data directory that holds it ({root.parent})")
    if not root.is_dir():
        raise DataError(f"{root}: data directory not found")
    if not filelist.is_file():
        raise DataError(f"{filelist}: not found (not an EchoNet-Dynamic-format directory)")
    if not (root / "Videos").is_dir():
        raise DataError(f"{root / 'Videos'}: video directory not found")
    table = parse_csv(filelist)
    df = known_columns(filelist, table, _FILELIST_COLUMNS)
    extra = _extra_labels(table)
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"{filelist}: missing required column(s) {', '.join(missing)}")
    report = DataReport(root=root, rows=df.height)
    if df.height == 0:
        raise DataError(f"{filelist}: has no rows")
    videos, unusable = index_videos(root / "Videos", report)
    traced, tracing_rows = _read_tracings(root, report)
    for col in ("ESV", "EDV"):
        if col not in df.columns:
            report.messages.append(f"note: {filelist}: no {col} column; volumes are NaN (volume tasks unavailable)")

    names = df["FileName"].fill_null("").to_list()
    splits = df["Split"].fill_null("").to_list()
    raw = {c: df[c].to_list() if c in df.columns else [None] * df.height for c in ("EF", "ESV", "EDV", "FPS")}
    num = {c: _floats(df, c) for c in ("EF", "ESV", "EDV", "FPS", "NumberOfFrames", "FrameHeight", "FrameWidth")}
    seen: dict[str, int] = {}
    records: list[VideoRecord] = []
    for i, name in enumerate(names):
        line = i + 2  # 1-based, after the header
        stem = video_stem(name)
        if not stem:
            report.skip("FileName missing", f"{filelist.name} line {line}", "")
            continue
        if stem in seen:
            report.skip("duplicate FileName", stem, f"line {line} repeats line {seen[stem]}; first kept")
            continue
        seen[stem] = line
        notes: list[tuple[str, str]] = []  # committed only if the row is kept
        split = splits[i].upper()
        if split not in SPLITS:
            report.skip("unknown Split", stem, f"{splits[i]!r} is not TRAIN/VAL/TEST (line {line})")
            continue
        if split != splits[i]:
            notes.append(("split written in lower case", f"Split {splits[i]!r} read as {split}"))
        ef = num["EF"][i]
        if ef is None or not math.isfinite(ef) or not 0 <= ef <= 100:
            report.skip("EF missing or outside 0-100", stem, f"EF {raw['EF'][i]!r} (line {line})")
            continue
        bad = next((c for c in ("ESV", "EDV") if raw[c][i] is not None and not _volume_ok(num[c][i])), None)
        if bad:
            report.skip("ESV/EDV non-numeric or negative", stem, f"{bad} {raw[bad][i]!r} (line {line})")
            continue
        volumes = {c: math.nan if num[c][i] is None else num[c][i] for c in ("ESV", "EDV")}
        for col in ("ESV", "EDV"):
            if col in df.columns and math.isnan(volumes[col]):
                notes.append(("ESV/EDV missing", f"{col} is empty; kept (only volume tasks need it)"))
        notes += label_notes(ef, volumes["ESV"], volumes["EDV"])
        if stem in unusable:
            reason, detail = unusable[stem]
            report.skip(reason, stem, f"{detail} in {root / 'Videos'} (line {line})")
            continue
        if stem not in videos:
            report.missing_videos.append(stem)
            report.skip("video missing", stem, f"{root / 'Videos' / stem}.avi (or .mp4...) not found (line {line})")
            continue
        path, which = pick_video(videos[stem], name)
        if path is None:
            report.skip("video ambiguous (several containers for one FileName)", stem,
                        f"{which} in {root / 'Videos'}; FileName {name.strip()!r} names none of them (line {line})")
            continue
        if which:
            notes.append(("several containers for one FileName (FileName's extension used)", which))

        fps, frames = num["FPS"][i], _count(num["NumberOfFrames"][i])
        height, width = _count(num["FrameHeight"][i]), _count(num["FrameWidth"][i])
        fps_ok = fps is not None and math.isfinite(fps) and 0 < fps <= MAX_FPS
        info: VideoInfo | None = None
        if probe or not fps_ok or frames is None or height is None or width is None:
            if (info := probe_or_skip(path, stem, report, progress)) is None:
                continue
        if not fps_ok:
            implausible = fps is not None and math.isfinite(fps) and fps > MAX_FPS
            if not info or not 0 < info.fps <= MAX_FPS:
                report.skip(f"FPS {'above ' + format(MAX_FPS, 'g') if implausible else 'missing'}", stem,
                            f"FileList FPS {raw['FPS'][i]!r} and no usable container fps")
                continue
            detail = f"FileList FPS {raw['FPS'][i]!r}, container {info.fps:g} fps"
            notes.append((f"FPS {'above ' + format(MAX_FPS, 'g') if implausible else 'missing'} in FileList "
                          "(container fps used)", detail))
            fps = info.fps
        elif info and abs(info.fps - fps) > max(0.01, 1e-3 * fps):
            detail = f"container {info.fps:g} fps, FileList {fps:g} fps (FileList used)"
            notes.append(("container fps differs from FileList FPS", detail))
        if info and frames is not None and frames != info.frames:
            notes.append(("NumberOfFrames differs from the file", f"FileList {frames}, file has {info.frames}"))
        num_frames = info.frames if info else frames
        if height is None or width is None:
            notes.append(("FrameHeight/FrameWidth missing (file size used)", f"file is {info.height}x{info.width}"))
            height, width = info.height, info.width
        if (height, width) != (112, 112):
            notes.append(("FrameHeight/FrameWidth not 112", f"FileList says {height}x{width}"))
        if info and (info.height, info.width) != (height, width):
            detail = f"file {info.height}x{info.width}, FileList {height}x{width}"
            notes.append(("frame size in the file differs from FileList", detail))
        frames_traced = tuple(sorted(traced.get(stem, ())))
        ed_frame, es_frame = ed_es_frames(traced.get(stem, {}))
        if len(frames_traced) > 2 and ed_frame is not None:
            notes.append(("more than two traced frames (ED/ES chosen by volume)",
                          f"frames {', '.join(map(str, frames_traced))}: ED = frame {ed_frame} (largest "
                          f"method-of-discs volume), ES = frame {es_frame} (smallest)"))
        elif len(frames_traced) >= 2 and ed_frame is None:
            notes.append(("ED/ES frames undetermined", f"frames {', '.join(map(str, frames_traced))}: the tracings "
                          "give no two different method-of-discs volumes"))
        if not frames_traced:
            notes.append(("no traced frames", ""))
        elif len(frames_traced) == 1:
            notes.append(("one traced frame", f"frame {frames_traced[0]}"))
        if frames_traced and num_frames is not None and frames_traced[-1] >= num_frames:
            notes.append(("traced frame beyond the video", f"frame {frames_traced[-1]} of {num_frames}"))
        for reason, detail in notes:
            report.note(reason, stem, detail)
        records.append(
            VideoRecord(file_name=stem, path=path, split=split,
                        labels={"EF": ef, "ESV": volumes["ESV"], "EDV": volumes["EDV"],
                                **{c: v[i] for c, v in extra.items()}}, fps=float(fps), num_frames=int(num_frames), frame_height=int(height),
                        frame_width=int(width), traced_frames=frames_traced, ed_frame=ed_frame,
                        es_frame=es_frame)
        )

    for stem, count in tracing_rows.items():
        if stem not in seen:
            report.tracings_for_unlisted += count
            detail = f"{count} row(s) in VolumeTracings.csv ignored"
            report.note("tracings for a file not in FileList", stem or "(no FileName)", detail)
    report.unlisted_videos = sorted(s for s in videos if s not in seen)
    report.rows_per_split = {s: sum(r.split == s for r in records) for s in SPLITS}
    report.traced_frames_hist = dict(sorted(collections.Counter(len(r.traced_frames) for r in records).items()))
    for label in ("EF", "ESV", "EDV", *extra):
        arr = np.asarray([r.label(label) for r in records], dtype=float)
        arr = arr[np.isfinite(arr)]
        if arr.size:
            report.label_ranges[label] = (float(arr.min()), float(arr.mean()), float(arr.max()))
    if not records:
        reasons = ", ".join(f"{n} {r}" for r, n in report.skipped.most_common())
        raise DataError(f"{filelist}: no usable rows ({reasons})")
    return EchoNetData(root=root, records=records, report=report)
