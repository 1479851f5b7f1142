"""EchoNet-Pediatric (Reddy et al., "Video-based deep learning for automated assessment of left
ventricular ejection fraction in pediatric patients", J Am Soc Echocardiogr 36, 2023; data from
Stanford AIMI, echonet.github.io/pediatric): reader, LV masks and a synthetic generator.

Layout (as read by the public loaders: ``Echo_pediatric_seg`` after ``echonet/dynamic``'s
``echonet/datasets/echo.py``, and ``EchoPediatric`` of the efpredict project, which open
``root/A4C/FileList.csv`` and ``root/PSAX/FileList.csv``)::

    root/A4C/FileList.csv        FileName, EF (%), Sex, Age (years), Weight, Height, Split (fold 0-9)
    root/A4C/VolumeTracings.csv  FileName, X, Y, Frame: one row per outline point of a traced frame
                                 (not EchoNet-Dynamic's chord rows); Frame may read "No Systolic" or
                                 "No Diastolic" where a phase was not traced
    root/A4C/Videos/<FileName>.avi   112x112 AVIs
    root/PSAX/...                the same three for the parasternal short-axis view

Either view folder may be absent; a root with neither is refused. FileList gives no frame rate,
frame count or size: every listed video is probed (container fps, frames, size).

Choices (``DatasetSpec.version`` 1):

- one dataset ``echonet-pediatric`` reads both views; each record carries a ``view`` subgroup
  (``A4C``/``PSAX``), so a run trains on both and strata show each view. FileNames are unique across
  the release; a FileName listed in both views is ambiguous and skipped in the second (counted);
- split rule :data:`SPLIT_RULE`: the publisher's ten folds are kept as they are, folds 0-7 TRAIN,
  8 VAL, 9 TEST (80/10/10 like EchoNet-Dynamic's 75/12.5/12.5; the last two folds, so the rule does
  not depend on which rows are present). The folds were drawn per patient by the publisher; a
  Split that is not a whole number 0-9 is a counted skip;
- ED/ES frames: of the traced frames, the one whose outline encloses the largest area is ED, the
  smallest ES (the EchoNet rule by volume, here by area since the tracings are outlines);
- subgroups: ``sex`` (M/F), ``age_band`` (:data:`~echobench_datasets.subgroups.PEDIATRIC_AGE_BANDS`),
  ``view``; Weight and Height (units not documented in the release) are not labels.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

from echobench import (MAX_FPS, DataError, DataReport, DatasetRecords, VideoRecord, ed_es_frames, index_videos,
                       pick_video, polygon_mask, probe_or_skip, read_table, video_stem, video_stem_expr)
from echobench_datasets.subgroups import PEDIATRIC_AGE_BANDS, age_band, sex

VIEWS = ("A4C", "PSAX")
FILELIST_COLUMNS = ("FileName", "EF", "Sex", "Age", "Weight", "Height", "Split")
TRACING_COLUMNS = ("FileName", "X", "Y", "Frame")
FOLD_SPLITS = {**{fold: "TRAIN" for fold in range(8)}, 8: "VAL", 9: "TEST"}
SPLIT_RULE = "FileList's Split column (publisher's folds 0-9): folds 0-7 TRAIN, 8 VAL, 9 TEST (rule v1)"
SUBGROUPS = ("sex", "age_band", "view")


def _fold(cell: str | None) -> int | None:
    try:
        value = float(cell or "")
    except ValueError:
        return None
    return int(value) if value == int(value) and int(value) in FOLD_SPLITS else None


def _area(x: np.ndarray, y: np.ndarray) -> float:
    """Area (px^2) enclosed by an outline (shoelace formula); NaN for fewer than 3 points."""
    if len(x) < 3:
        return math.nan
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _outlines(path: Path) -> tuple[dict[str, dict[int, tuple[np.ndarray, np.ndarray]]], dict[str, int]]:
    """``{stem: {frame: (x, y)}}`` of a ``VolumeTracings.csv`` of outline points, and per stem the rows
    whose Frame is not a whole frame index (``No Systolic``...), which carry no outline.

    Raises:
        DataError: unparsable file, ambiguous header or missing columns (one line naming it).
    """
    df = read_table(path, TRACING_COLUMNS)
    missing = [c for c in TRACING_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    df = df.select(video_stem_expr(pl.col("FileName")),
                   *(pl.col(c).cast(pl.Float64, strict=False) for c in ("Frame", "X", "Y")))
    valid = (pl.col("Frame").is_finite() & (pl.col("Frame") >= 0) & (pl.col("Frame") == pl.col("Frame").floor())
             & pl.col("X").is_finite() & pl.col("Y").is_finite())
    untraced = dict(df.filter(~valid.fill_null(False)).group_by("FileName").len().iter_rows())
    out: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for (stem, frame), group in df.filter(valid).group_by(["FileName", "Frame"], maintain_order=True):
        out.setdefault(stem, {})[int(frame)] = (group["X"].to_numpy(), group["Y"].to_numpy())
    return out, untraced


@functools.lru_cache(maxsize=4)
def _cached_outlines(path: str, mtime_ns: int, size: int):
    return _outlines(Path(path))[0]


def pediatric_masks(record: VideoRecord) -> dict[int, np.ndarray]:
    """LV cavity masks of an EchoNet-Pediatric record on its traced frames (``DatasetSpec.masks``):
    each outline of ``<view>/VolumeTracings.csv`` rasterised by :func:`echobench.data.polygon.polygon_mask`.

    Returns:
        ``{frame: (frame_height, frame_width) bool}`` (outlines of fewer than 3 points left out).

    Raises:
        DataError: the tracings file is missing or unusable.
    """
    path = Path(record.path).parent.parent / "VolumeTracings.csv"
    try:
        st = path.stat()
    except OSError:
        raise DataError(f"{path}: not found (masks need the tracings)") from None
    frames = _cached_outlines(str(path.resolve()), st.st_mtime_ns, st.st_size).get(record.file_name, {})
    return {frame: polygon_mask(x, y, record.frame_height, record.frame_width)
            for frame, (x, y) in sorted(frames.items()) if len(x) >= 3}


def _tracings(folder: Path, report: DataReport) -> dict[str, dict[int, float]]:
    """``{stem: {traced frame: outline area}}`` of one view folder (notes for untraced rows)."""
    path = folder / "VolumeTracings.csv"
    if not path.is_file():
        report.messages.append(f"note: {path}: not found; no {folder.name} video has traced frames")
        return {}
    outlines, untraced = _outlines(path)
    for stem, count in untraced.items():
        report.note("tracing row without a traced frame (e.g. No Systolic)", stem or "(no FileName)",
                    f"{count} row(s) in {folder.name}/VolumeTracings.csv")
    return {stem: {f: _area(x, y) for f, (x, y) in frames.items()} for stem, frames in outlines.items()}


def _read_view(folder: Path, report: DataReport, seen: dict[str, str], *, progress) -> list[VideoRecord]:
    """The usable records of one view folder (``A4C/`` or ``PSAX/``)."""
    view, filelist = folder.name, folder / "FileList.csv"
    if not (folder / "Videos").is_dir():
        raise DataError(f"{folder / 'Videos'}: video directory not found")
    df = read_table(filelist, FILELIST_COLUMNS)
    missing = [c for c in ("FileName", "EF", "Split") if c not in df.columns]
    if missing:
        raise DataError(f"{filelist}: missing required column(s) {', '.join(missing)}")
    report.rows += df.height
    videos, unusable = index_videos(folder / "Videos", report)
    traced = _tracings(folder, report)
    cells = {c: df[c].to_list() if c in df.columns else [None] * df.height for c in FILELIST_COLUMNS}
    records = []
    for i, name in enumerate(cells["FileName"]):
        line, stem = i + 2, video_stem(name or "")
        where = f"{view}/FileList.csv line {line}"
        if not stem:
            report.skip("FileName missing", where, "")
            continue
        if stem in seen:
            report.skip("duplicate FileName", stem, f"{where} repeats {seen[stem]}; first kept")
            continue
        seen[stem] = where
        fold = _fold(cells["Split"][i])
        if fold is None:
            report.skip("Split not a fold 0-9", stem, f"{cells['Split'][i]!r} ({where})")
            continue
        try:
            ef = float(cells["EF"][i] or "nan")
        except ValueError:
            ef = math.nan
        if not 0 <= ef <= 100:
            report.skip("EF missing or outside 0-100", stem, f"EF {cells['EF'][i]!r} ({where})")
            continue
        if stem in unusable:
            reason, detail = unusable[stem]
            report.skip(reason, stem, f"{detail} in {folder / 'Videos'} ({where})")
            continue
        if stem not in videos:
            report.missing_videos.append(stem)
            report.skip("video missing", stem, f"{folder / 'Videos' / stem}.avi not found ({where})")
            continue
        path, which = pick_video(videos[stem], name)
        if path is None:
            report.skip("video ambiguous (several containers)", stem, f"{which} in {folder / 'Videos'} ({where})")
            continue
        info = probe_or_skip(path, stem, report, progress)
        if info is None:
            continue
        if not 0 < info.fps <= MAX_FPS:
            report.skip("FPS missing", stem, f"the container of {path.name} gives no usable frame rate ({info.fps:g})")
            continue
        try:
            age = float(cells["Age"][i] or "nan")
        except ValueError:
            age = math.nan
        if not math.isfinite(age):
            report.note("Age missing or not a number", stem, f"Age {cells['Age'][i]!r}: age band unknown")
        if (info.height, info.width) != (112, 112):
            report.note("frame size not 112x112", stem, f"file is {info.height}x{info.width}")
        areas = traced.get(stem, {})
        frames_traced = tuple(sorted(areas))
        ed, es = ed_es_frames(areas)
        if len(frames_traced) < 2:
            report.note("fewer than two traced frames", stem, f"frames {list(frames_traced)}")
        if frames_traced and frames_traced[-1] >= info.frames:
            report.note("traced frame beyond the video", stem, f"frame {frames_traced[-1]} of {info.frames}")
        records.append(VideoRecord(
            file_name=stem, path=path, split=FOLD_SPLITS[fold], fps=float(info.fps), num_frames=info.frames,
            frame_height=info.height, frame_width=info.width, traced_frames=frames_traced, ed_frame=ed,
            es_frame=es, labels={"EF": ef}, dataset="echonet-pediatric",
            subgroups={"sex": sex(cells["Sex"][i]), "age_band": age_band(age, PEDIATRIC_AGE_BANDS), "view": view}))
    report.unlisted_videos += sorted(s for s in videos if s not in seen)
    return records


def read_pediatric(root: str | os.PathLike, *, probe: bool = True,
                   progress: Callable[[int], None] | None = None) -> DatasetRecords:
    """Read an EchoNet-Pediatric-format directory (``A4C/`` and/or ``PSAX/``; module docstring).

    Args:
        root: the folder holding the view folders.
        probe: ignored (every video is probed: FileList gives no frame count, size or rate).
        progress: called with ``1`` after each video probed.

    Returns:
        :class:`~echobench.DatasetRecords`: usable records (A4C rows, then PSAX rows, FileList order)
        and a report counting every skip and note with its reason.

    Raises:
        DataError: no directory, no view folder with a ``FileList.csv``, a view without ``Videos/``,
            an unparsable FileList or VolumeTracings, a FileList without FileName/EF/Split, or no
            usable row at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data directory not found")
    views = [root / v for v in VIEWS if (root / v / "FileList.csv").is_file()]
    if not views:
        raise DataError(f"{root}: no A4C/FileList.csv or PSAX/FileList.csv (not an EchoNet-Pediatric-format directory)")
    report = DataReport(root=root)
    seen: dict[str, str] = {}
    records = [r for folder in views for r in _read_view(folder, report, seen, progress=progress)]
    report.summarise(records, ("EF",))
    if not records:
        raise DataError(f"{root}: no usable rows in {', '.join(f'{v.name}/FileList.csv' for v in views)} "
                        f"({report.skip_counts()})")
    return DatasetRecords(root=root, records=records, report=report)


# ------------------------------------------------------------------------------------- synthetic
def synthesize_pediatric(out: str | os.PathLike, *, videos: int, seed: int = 0) -> Path:
    """Write a synthetic EchoNet-Pediatric-format folder: ``videos`` AVIs split over ``A4C/`` and
    ``PSAX/`` (A4C gets the extra one), each with FileList.csv (folds 8, 9, 0, 1, ... in row order,
    so TRAIN, VAL and TEST are filled from 3 videos per view), outline-point VolumeTracings.csv (the
    ED and ES cavity outlines) and 112x112 videos, plus ``SYNTHETIC.json``.

    The videos, EF and outlines come from :mod:`echobench.data.synth` (its apical beating-heart
    renderer, also for the PSAX folder: the layout is faithful, the anatomy of that view is not).
    Ages (0-18 years), sex, weight and height are drawn from ``seed``.

    Raises:
        ConfigError: ``videos < 1`` or ``seed < 0``.
    """
    from echobench import atomic_write_text, write_avi
    from echobench.data.synth import NOTE, draw_params, render, synthetic_filelist, tracing

    out = Path(out)
    labels = synthetic_filelist(videos=videos, seed=seed)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**20,)))
    rows: dict[str, list[str]] = {v: [",".join(FILELIST_COLUMNS)] for v in VIEWS}
    points: dict[str, list[str]] = {v: [",".join(TRACING_COLUMNS)] for v in VIEWS}
    for i, ef in enumerate(labels["EF"].to_list()):
        view, k = VIEWS[i % 2], i // 2
        p = draw_params(seed, i)
        p = replace(p, frames=min(p.frames, p.es_frame + 12))  # shorter videos, the same ED/ES: fast to render
        name = f"SYNP-{view}-{k + 1:06d}"
        texture = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i, 1)))
        write_avi(out / view / "Videos" / f"{name}.avi", render(p, texture), p.fps)
        age = float(rng.uniform(0.0, 18.0))
        weight, height = 3.5 + 3.3 * age + rng.normal(0, 2), 50.0 + 6.2 * age + rng.normal(0, 4)
        rows[view].append(f"{name},{ef:.6f},{'MF'[int(rng.integers(2))]},{age:.2f},{max(weight, 2.0):.1f},"
                          f"{height:.1f},{(k + 8) % 10}")
        for frame, c in ((p.ed_frame, 0.0), (p.es_frame, 1.0)):
            chords = tracing(p, c)[1]
            outline = np.vstack([chords[:, :2], chords[::-1, 2:]])  # down one wall, up the other
            points[view] += [f"{name},{x:.4f},{y:.4f},{frame}" for x, y in outline]
    atomic_write_text(out / "SYNTHETIC.json", json.dumps(
        {"generator": "echobench_datasets.pediatric", "seed": seed, "videos": videos, "synthetic": True,
         "note": NOTE}, indent=2, sort_keys=True) + "\n")
    for view in VIEWS:
        if len(rows[view]) > 1:
            atomic_write_text(out / view / "VolumeTracings.csv", "\n".join(points[view]) + "\n")
            atomic_write_text(out / view / "FileList.csv", "\n".join(rows[view]) + "\n")
    return out
