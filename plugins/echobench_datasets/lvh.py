"""EchoNet-LVH (Duffy et al., "High-throughput precision phenotyping of left ventricular hypertrophy
with cardiovascular deep learning", JAMA Cardiology 7, 2022; Stanford AIMI, echonet.github.io/lvh):
reader and a synthetic generator.

Layout of the release, as read by public loaders (e.g. ``EchoNetLVH`` datasets that open
``MeasurementsList.csv`` and ``Batch1``-``Batch4``)::

    root/MeasurementsList.csv   (index column), HashedFileName, Calc, CalcValue (cm), Frame, X1, X2, Y1, Y2,
                                Frames, FPS, Width, Height, split (train | val | test): one row per
                                measurement; Calc is IVSd, LVIDd, LVPWd (end-diastole) or IVSs, LVIDs,
                                LVPWs (end-systole); X1, Y1 -> X2, Y2 the two key points (pixels)
    root/Batch1/<HashedFileName>.avi ... root/Batch4/...   parasternal long-axis (PLAX) videos

Choices (``DatasetSpec.version`` 1):

- one record per HashedFileName; its labels are the six measurements in cm (NaN when not measured),
  so the tasks ``ivsd``, ``lvidd``, ``lvpwd`` (diastolic thicknesses/diameter) read them by name;
- ED frame: the Frame of the diastolic measurements, ES: of the systolic ones; traced frames: the
  measured frames. Frame is taken as a 0-based index (as ``Frames`` counts frames; an index equal
  to ``Frames`` is noted as beyond the video);
- split: the ``split`` column as released (train/val/test, any case); rows of one video that name
  different splits are a counted skip; a video measured in no known Calc is a counted skip;
- frame rate: the ``FPS`` column when given, else the container's (as EchoNet-Dynamic's FileList).
"""

from __future__ import annotations

import collections
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from echobench import (MAX_FPS, SPLITS, DataError, DataReport, DatasetRecords, VideoRecord, index_videos, pick_video,
                       probe_or_skip, read_table, video_stem)

CALCS = ("IVSd", "LVIDd", "LVPWd", "IVSs", "LVIDs", "LVPWs")
COLUMNS = ("HashedFileName", "Calc", "CalcValue", "Frame", "X1", "X2", "Y1", "Y2", "Frames", "FPS", "Width",
           "Height", "split")
SPLIT_RULE = "MeasurementsList's split column (train/val/test), as released (rule v1)"
MAX_CM = 15.0  # above any wall thickness or LV diameter: a unit error (mm) or a typing error


def _index(root: Path, report: DataReport) -> tuple[dict[str, dict[str, Path]], dict[str, tuple[str, str]]]:
    """Videos of every ``Batch*/`` folder by stem (:func:`echobench.index_videos` of each: ``{stem: {ext:
    path}}``); a stem in two batches is ambiguous (neither used)."""
    index: dict[str, dict[str, Path]] = {}
    unusable: dict[str, tuple[str, str]] = {}
    where: dict[str, list[str]] = collections.defaultdict(list)
    for batch in sorted(p for p in root.glob("Batch*") if p.is_dir()):
        found, bad = index_videos(batch, report)
        unusable.update(bad)
        for stem, containers in found.items():
            where[stem].append(batch.name)
            index[stem] = containers
    for stem, batches in where.items():
        if len(batches) > 1:
            index.pop(stem)
            unusable[stem] = "video ambiguous (in several Batch folders)", ", ".join(batches)
    return index, unusable


def read_lvh(root: str | os.PathLike, *, probe: bool = True,
             progress: Callable[[int], None] | None = None) -> DatasetRecords:
    """Read an EchoNet-LVH-format directory (module docstring).

    Args:
        root: the folder holding ``MeasurementsList.csv`` and ``Batch*/``.
        probe: ignored (every video is probed for its frame count and size).
        progress: called with ``1`` after each video probed.

    Returns:
        :class:`~echobench.DatasetRecords` (one record per measured video, first-seen order) and a
        report counting every skipped video and every ignored measurement with its reason.

    Raises:
        DataError: no directory, no ``MeasurementsList.csv`` or ``Batch*/`` folder, an unparsable
            list, missing HashedFileName/Calc/CalcValue/split columns, or no usable video.
    """
    root = Path(root)
    path = root / "MeasurementsList.csv"
    if not root.is_dir():
        raise DataError(f"{root}: data directory not found")
    if not path.is_file():
        raise DataError(f"{path}: not found (not an EchoNet-LVH-format directory)")
    if not any(p.is_dir() for p in root.glob("Batch*")):
        raise DataError(f"{root}: no Batch*/ video folder")
    df = read_table(path, COLUMNS)
    missing = [c for c in ("HashedFileName", "Calc", "CalcValue", "split") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing required column(s) {', '.join(missing)}")
    df = df.with_columns(pl.col("HashedFileName").fill_null("").map_elements(video_stem, return_dtype=pl.Utf8),
                         *(pl.col(c).cast(pl.Float64, strict=False) if c in df.columns
                           else pl.lit(None, pl.Float64).alias(c) for c in ("CalcValue", "Frame", "Frames", "FPS")))
    report = DataReport(root=root)
    videos, unusable = _index(root, report)
    records = []
    for (stem,), rows in df.group_by("HashedFileName", maintain_order=True):
        report.rows += 1
        if not stem:
            report.skip("HashedFileName missing", f"{path.name}", f"{rows.height} row(s)")
            continue
        splits = {str(s).strip().upper() for s in rows["split"].fill_null("").to_list()}
        if len(splits) != 1 or (split := next(iter(splits))) not in SPLITS:
            report.skip("unknown or differing split", stem, f"split {sorted(splits)} (train/val/test expected)")
            continue
        labels: dict[str, float] = {}
        frames: dict[str, float | None] = {}
        for row in rows.iter_rows(named=True):
            calc, value = (row["Calc"] or "").strip(), row["CalcValue"]
            if calc not in CALCS:
                report.note("unknown Calc (row ignored)", stem, f"Calc {row['Calc']!r}")
            elif value is None or not 0 < value <= MAX_CM:
                report.note("CalcValue missing or outside 0-15 cm (row ignored)", stem, f"{calc} {row['CalcValue']!r}")
            elif calc in labels:
                report.note("measurement repeated (first kept)", stem, f"{calc}")
            else:
                labels[calc], frames[calc] = float(value), row["Frame"]
        if not labels:
            report.skip("no usable measurement", stem, f"{rows.height} row(s) in {path.name}")
            continue
        if stem in unusable:
            reason, detail = unusable[stem]
            report.skip(reason, stem, detail)
            continue
        if stem not in videos:
            report.missing_videos.append(stem)
            report.skip("video missing", stem, f"{stem}.avi not found in any Batch*/ folder")
            continue
        video, which = pick_video(videos[stem], stem)
        if video is None:
            report.skip("video ambiguous (several containers)", stem, which)
            continue
        info = probe_or_skip(video, stem, report, progress)
        if info is None:
            continue
        fps = rows["FPS"][0]
        if fps is None or not 0 < fps <= MAX_FPS:
            fps = info.fps
        if not 0 < fps <= MAX_FPS:
            report.skip("FPS missing", stem, "no FPS in the list and no usable container frame rate")
            continue
        phase = {}
        for suffix in ("d", "s"):
            found = {int(f) for c, f in frames.items() if c.endswith(suffix) and f is not None and math.isfinite(f)
                     and f >= 0 and f == int(f)}
            if len(found) > 1:
                report.note("measurements of one phase on several frames", stem, f"{suffix}: frames {sorted(found)}")
            phase[suffix] = min(found) if found else None
        traced = tuple(sorted({f for f in phase.values() if f is not None}))
        if traced and traced[-1] >= info.frames:
            report.note("traced frame beyond the video", stem, f"frame {traced[-1]} of {info.frames}")
        records.append(VideoRecord(
            file_name=stem, path=video, split=split, fps=float(fps), num_frames=info.frames,
            frame_height=info.height, frame_width=info.width, traced_frames=traced, ed_frame=phase["d"],
            es_frame=phase["s"], labels={c: labels.get(c, math.nan) for c in CALCS}, subgroups={"view": "PLAX"},
            dataset="echonet-lvh"))
    seen = set(df["HashedFileName"].to_list())
    report.unlisted_videos = sorted(s for s in videos if s not in seen)
    report.summarise(records, CALCS)
    if not records:
        raise DataError(f"{path}: no usable videos ({report.skip_counts()})")
    return DatasetRecords(root=root, records=records, report=report)


def synthesize_lvh(out: str | os.PathLike, *, videos: int, seed: int = 0) -> Path:
    """Write a synthetic EchoNet-LVH-format folder: ``videos`` AVIs in ``Batch1/``, and
    ``MeasurementsList.csv`` with IVSd, LVIDd, LVPWd on the ED frame and LVIDs on the ES frame, plus
    ``SYNTHETIC.json``.

    The videos come from :mod:`echobench.data.synth` (its apical renderer: the layout is faithful, a
    PLAX anatomy is not); the measurements are that heart's geometry in cm (``CM_PER_PIXEL``): LVID
    the cavity's widest chord, IVS and LVPW its wall thickness at ED, key points on the chord and
    the wall. Splits: videos 1, 2 val, test, then 8 train / 1 val / 1 test.

    Raises:
        ConfigError: ``videos < 1`` or ``seed < 0``.
    """
    from dataclasses import replace

    from echobench import atomic_write_text, write_avi
    from echobench.data.synth import CM_PER_PIXEL, NOTE, draw_params, render, synthetic_filelist, tracing

    out = Path(out)
    synthetic_filelist(videos=videos, seed=seed)  # validates videos and seed
    lines = [",HashedFileName,Calc,CalcValue,Frame,X1,X2,Y1,Y2,Frames,FPS,Width,Height,split"]
    for i in range(videos):
        p = draw_params(seed, i)
        p = replace(p, frames=min(p.frames, p.es_frame + 12))  # shorter videos, the same ED/ES: fast to render
        name = f"0X{int.from_bytes(np.random.default_rng([seed, i]).bytes(7), 'big'):014X}"
        texture = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i, 1)))
        write_avi(out / "Batch1" / f"{name}.avi", render(p, texture), p.fps)
        split = ("val", "test")[i] if i < 2 else (("train",) * 8 + ("val", "test"))[(i - 2) % 10]
        for calc, frame, c in (("LVIDd", p.ed_frame, 0.0), ("LVIDs", p.es_frame, 1.0)):
            chords = tracing(p, c)[1]
            k = int(np.argmax(np.hypot(chords[:, 2] - chords[:, 0], chords[:, 3] - chords[:, 1])))
            x1, y1, x2, y2 = chords[k]
            normal = np.array([x2 - x1, y2 - y1]) / math.hypot(x2 - x1, y2 - y1)
            points = {calc: (x1, y1, x2, y2)}
            if c == 0.0:  # the walls either side of the LV diameter, each p.wall thick
                points["IVSd"] = (*(np.array([x1, y1]) - normal * p.wall), x1, y1)
                points["LVPWd"] = (x2, y2, *(np.array([x2, y2]) + normal * p.wall))
            for key, (a, b, e, d) in points.items():
                value = math.hypot(e - a, d - b) * CM_PER_PIXEL
                lines.append(f"{len(lines) - 1},{name},{key},{value:.4f},{frame},{a:.3f},{e:.3f},{b:.3f},{d:.3f},"
                             f"{p.frames},{p.fps},112,112,{split}")
    atomic_write_text(out / "SYNTHETIC.json", json.dumps(
        {"generator": "echobench_datasets.lvh", "seed": seed, "videos": videos, "synthetic": True,
         "note": NOTE, "cm_per_pixel": CM_PER_PIXEL}, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / "MeasurementsList.csv", "\n".join(lines) + "\n")
    return out
