"""CAMUS (Leclerc et al., "Deep learning for segmentation using an open large-scale dataset in 2D
echocardiography", IEEE TMI 38, 2019; the 2023 public NIfTI release from CREATIS,
www.creatis.insa-lyon.fr/Challenge/camus): reader, LV masks and a synthetic generator.

Layout of the release (``CAMUS_public/``), as read by the public loaders (``vitalab/vital``,
``vital/data/camus/dataset_generator.py``; loaders reading ``database_split/subgroup_*.txt``)::

    root/database_nifti/patient0001/patient0001_2CH_half_sequence.nii.gz   ED -> ES frames (x, y, t)
                                    patient0001_2CH_half_sequence_gt.nii.gz
                                    patient0001_2CH_ED.nii.gz, _2CH_ED_gt.nii.gz, _2CH_ES.nii.gz, _2CH_ES_gt.nii.gz
                                    patient0001_4CH_... (the same for the apical 4-chamber view)
                                    Info_2CH.cfg, Info_4CH.cfg   "Key: value" lines: ED, ES (1-based frame
                                        numbers in the half sequence), NbFrame, Sex, Age, ImageQuality
                                        (Good/Medium/Poor), LVedv, LVesv (mL), LVef (%)
    root/database_split/subgroup_training.txt, subgroup_validation.txt, subgroup_testing.txt
                                    one patient id a line (the official 400 / 50 / 50 split)

Segmentation labels: 0 background, 1 LV cavity (endocardium), 2 myocardium, 3 left atrium. The patient
folders may also sit directly in ``root`` (``database_nifti`` itself given as the root).

Choices (``DatasetSpec.version`` 1):

- one record per patient and view (``patient0001_2CH``, ``patient0001_4CH``); its frames are the half
  sequence, decoded by core's frame reader (:mod:`echobench.data.nifti`);
- labels EF (%), ESV, EDV (mL) from that view's ``Info_*.cfg`` (the release gives the same biplane
  values in both files); ED/ES frames from its ED/ES (1-based -> 0-based; a sequence whose ES comes
  before ED is kept and noted); traced frames are ED and ES where their ``_gt`` file exists;
- split rule :data:`SPLIT_RULE`: the official lists when ``database_split/`` (or ``subgroup_*.txt``
  in the root) is present; otherwise a patient-level rule that depends only on the patient id
  (SHA-256 of the id mod 10: 0-7 TRAIN, 8 VAL, 9 TEST), so both views of a patient always share a
  split and adding patients never moves another. A patient in two lists, or missing from all of
  them, is a counted skip;
- frame rate: ``FrameRate`` in the cfg when present, else the NIfTI header's time step, else
  :data:`ASSUMED_FPS` (noted);
- subgroups: ``sex``, ``age_band`` (:data:`~echobench_datasets.subgroups.ADULT_AGE_BANDS`),
  ``image_quality`` (good/medium/poor), ``view`` (``A2C``/``A4C``).
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from echobench import (SPLITS, DataError, DataReport, DatasetRecords, VideoRecord, atomic_write_bytes, label_notes,
                       nifti_fps, nifti_shape, polygon_mask, probe_or_skip, read_nifti)
from echobench_datasets.subgroups import ADULT_AGE_BANDS, UNKNOWN, age_band, sex

VIEWS = {"2CH": "A2C", "4CH": "A4C"}
LISTS = {"TRAIN": "subgroup_training.txt", "VAL": "subgroup_validation.txt", "TEST": "subgroup_testing.txt"}
SPLIT_RULE = ("official CAMUS lists database_split/subgroup_{training,validation,testing}.txt when present; "
              "else sha256(patient id) mod 10: 0-7 TRAIN, 8 VAL, 9 TEST (patient level; rule v1)")
ASSUMED_FPS = 25.0
"""Frames/s assumed when neither the cfg nor the NIfTI header gives a frame rate (noted per record)."""
QUALITIES = ("good", "medium", "poor")
SUBGROUPS = ("sex", "age_band", "image_quality", "view")
_PATIENT = re.compile(r"patient\d+", re.IGNORECASE)


def _sequence(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / f"{stem}.nii.gz", folder / f"{stem}.nii") if p.is_file()), None)


def _hashed_split(patient: str) -> str:
    fold = int(hashlib.sha256(patient.lower().encode()).hexdigest(), 16) % 10
    return "TRAIN" if fold < 8 else ("VAL" if fold == 8 else "TEST")


def _official_split(root: Path, report: DataReport) -> dict[str, list[str]] | None:
    """``{patient id (lower case): [splits listing it]}`` from the official lists, None without them."""
    folder = next((d for d in (root / "database_split", root) if any((d / f).is_file() for f in LISTS.values())), None)
    if folder is None:
        return None
    listed: dict[str, list[str]] = collections.defaultdict(list)
    for split, name in LISTS.items():
        path = folder / name
        if not path.is_file():
            report.messages.append(f"note: {path}: not found; no patient is {split}")
            continue
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise DataError(f"{path}: cannot read the split list ({exc.strerror or exc})") from None
        for line in lines:
            if line.strip():
                listed[line.strip().lower()].append(split)
    return listed


def _parse_cfg(path: Path) -> dict[str, str]:
    """``Key: value`` lines of an ``Info_*.cfg`` (keys case-sensitive as released; other lines ignored).

    Raises:
        DataError: the file cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return {key.strip(): value.strip()
            for key, sep, value in (line.partition(":") for line in text.splitlines()) if sep}


def _number(info: dict[str, str], key: str) -> float:
    try:
        return float(info.get(key, "nan"))
    except ValueError:
        return math.nan


def _frame(info: dict[str, str], key: str, frames: int) -> int | None:
    """A 1-based frame number of the cfg as a 0-based index inside ``frames``, else None."""
    value = _number(info, key)
    return int(value) - 1 if math.isfinite(value) and value == int(value) and 1 <= value <= frames else None


def _patients(folder: Path, report: DataReport) -> list[Path]:
    """Patient folders (``patientNNNN``); names differing only in case are ambiguous and skipped."""
    try:
        found = sorted(p for p in folder.iterdir() if _PATIENT.fullmatch(p.name) and p.is_dir())
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the patient folders ({exc.strerror or exc})") from None
    groups: dict[str, list[Path]] = collections.defaultdict(list)
    for path in found:
        groups[path.name.lower()].append(path)
    for group in groups.values():
        if len(group) > 1:
            for path in group:
                report.rows += len(VIEWS)
                for view in VIEWS:
                    report.skip("patient folder names differ only in case", f"{path.name}_{view}",
                                f"{', '.join(p.name for p in group)} in {folder}: neither used")
    return [group[0] for group in groups.values() if len(group) == 1]


def _read_view(patient: Path, view: str, split: str, report: DataReport, *, probe: bool) -> VideoRecord | None:
    """The record of one patient's view, or None (the skip counted)."""
    name = f"{patient.name}_{view}"
    cfg, path = patient / f"Info_{view}.cfg", _sequence(patient, f"{name}_half_sequence")
    if not cfg.is_file():
        report.skip("Info cfg missing", name, f"{cfg} not found")
        return None
    if path is None:
        report.missing_videos.append(name)
        report.skip("half sequence missing", name, f"{patient / name}_half_sequence.nii.gz not found")
        return None
    info = _parse_cfg(cfg)
    ef = _number(info, "LVef")
    if not 0 <= ef <= 100:
        report.skip("LVef missing or outside 0-100", name, f"LVef {info.get('LVef')!r} in {cfg.name}")
        return None
    volumes = {key: _number(info, key) for key in ("LVesv", "LVedv")}
    bad = next((k for k, v in volumes.items() if k in info and not (math.isfinite(v) and v >= 0)), None)
    if bad:
        report.skip("LVesv/LVedv non-numeric or negative", name, f"{bad} {info[bad]!r} in {cfg.name}")
        return None
    if probe:
        probed = probe_or_skip(path, name, report, None, what="half sequence")
        if probed is None:
            return None
        frames, height, width, fps = probed.frames, probed.height, probed.width, probed.fps
    else:
        try:
            (frames, height, width), fps = nifti_shape(path), nifti_fps(path)
        except DataError as exc:
            report.skip("half sequence unreadable", name, str(exc))
            return None
    notes = label_notes(ef, volumes["LVesv"], volumes["LVedv"])
    cfg_fps = _number(info, "FrameRate")
    if math.isfinite(cfg_fps) and cfg_fps > 0:
        fps = cfg_fps
    elif not fps > 0:
        notes.append(("frame rate not given (assumed)", f"neither {cfg.name} nor the NIfTI header gives one; "
                      f"{ASSUMED_FPS:g} fps assumed"))
        fps = ASSUMED_FPS
    if "NbFrame" in info and _number(info, "NbFrame") != frames:
        notes.append(("NbFrame differs from the file", f"{cfg.name} {info['NbFrame']}, file has {frames}"))
    ed, es = _frame(info, "ED", frames), _frame(info, "ES", frames)
    if ed is None or es is None:
        notes.append(("ED/ES frames missing or outside the sequence", f"ED {info.get('ED')!r}, ES {info.get('ES')!r} "
                      f"of {frames} frames"))
        ed = es = None
    elif es < ed:
        notes.append(("ES before ED in the sequence", f"ED frame {ed}, ES frame {es} (0-based; kept)"))
    traced = tuple(sorted({f for f, phase in ((ed, "ED"), (es, "ES"))
                           if f is not None and _sequence(patient, f"{name}_{phase}_gt")}))
    if ed is not None and len(traced) < 2:
        notes.append(("ED/ES segmentation missing", f"{name}_ED_gt / {name}_ES_gt not both present"))
    quality = info.get("ImageQuality", "").strip().lower()
    for reason, detail in notes:
        report.note(reason, name, detail)
    return VideoRecord(
        file_name=name, path=path, split=split, fps=float(fps), num_frames=int(frames), frame_height=int(height),
        frame_width=int(width), traced_frames=traced, ed_frame=ed, es_frame=es, dataset="camus",
        labels={"EF": ef, "ESV": volumes["LVesv"], "EDV": volumes["LVedv"]},
        subgroups={"sex": sex(info.get("Sex")), "age_band": age_band(_number(info, "Age"), ADULT_AGE_BANDS),
                   "image_quality": quality if quality in QUALITIES else UNKNOWN, "view": VIEWS[view]})


def read_camus(root: str | os.PathLike, *, probe: bool = True,
               progress: Callable[[int], None] | None = None) -> DatasetRecords:
    """Read a CAMUS-format folder (module docstring).

    Args:
        root: ``CAMUS_public/`` (holding ``database_nifti/`` and ``database_split/``) or the folder
            holding the ``patientNNNN/`` folders.
        probe: decode every half sequence (catches truncated files); else only headers are read.
        progress: called with ``1`` after each half sequence read.

    Returns:
        :class:`~echobench.DatasetRecords`: one record per usable patient view (patient order, 2CH
        then 4CH), and a report counting every skip and note with its reason.

    Raises:
        DataError: no directory, no patient folder, an unreadable split list, or no usable view.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data directory not found")
    folder = root / "database_nifti" if (root / "database_nifti").is_dir() else root
    report = DataReport(root=root)
    patients = _patients(folder, report)
    if not patients and not report.skipped:
        raise DataError(f"{folder}: no patientNNNN folders (not a CAMUS-format directory)")
    official = _official_split(root, report)
    records: list[VideoRecord] = []
    for patient in patients:
        report.rows += len(VIEWS)
        lists = official.get(patient.name.lower(), []) if official is not None else [_hashed_split(patient.name)]
        if len(lists) != 1:
            reason = "patient in several split lists" if lists else "patient not in the split lists"
            for view in VIEWS:
                report.skip(reason, f"{patient.name}_{view}", f"lists: {', '.join(lists) or 'none'}")
            continue
        for view in VIEWS:
            record = _read_view(patient, view, lists[0], report, probe=probe)
            if progress is not None:
                progress(1)
            if record is not None:
                records.append(record)
    if official is not None:
        present = {p.name.lower() for p in patients}
        report.messages += [f"note: {p}: listed in the split lists but no patient folder" for p in sorted(official)
                            if p not in present][:50]
    report.summarise(records, ("EF", "ESV", "EDV"))
    if not records:
        raise DataError(f"{folder}: no usable patient views ({report.skip_counts()})")
    return DatasetRecords(root=root, records=records, report=report)


def camus_masks(record: VideoRecord) -> dict[int, np.ndarray]:
    """LV cavity masks of a CAMUS record on its ED and ES frames (``DatasetSpec.masks``): label 1 of
    ``<id>_<view>_ED_gt`` / ``_ES_gt``, resized (nearest neighbour) to the half sequence's frame size
    when they differ.

    Returns:
        ``{frame: (frame_height, frame_width) bool}`` for the traced frames whose ``_gt`` file reads.

    Raises:
        DataError: a ``_gt`` file exists but cannot be read (one line naming it).
    """
    from PIL import Image

    folder, out = Path(record.path).parent, {}
    for frame, phase in ((record.ed_frame, "ED"), (record.es_frame, "ES")):
        path = _sequence(folder, f"{record.file_name}_{phase}_gt")
        if frame is None or path is None:
            continue
        cavity = read_nifti(path)[0, :, :, 0] == 1
        if cavity.shape != (record.frame_height, record.frame_width):
            resized = Image.fromarray(cavity).resize((record.frame_width, record.frame_height), Image.NEAREST)
            cavity = np.asarray(resized, dtype=bool)
        out[frame] = cavity
    return out


# ------------------------------------------------------------------------------------- synthetic
def write_nifti(path: Path, frames: np.ndarray, *, spacing_mm: float, fps: float | None = None) -> None:
    """Write ``(T, H, W)`` or ``(H, W)`` uint8 as NIfTI in CAMUS's axis order ``(x, y[, t])``."""
    import gzip

    import nibabel

    data = np.asarray(frames, dtype=np.uint8)
    data = data.T if data.ndim == 2 else data.transpose(2, 1, 0)
    image = nibabel.Nifti1Image(np.ascontiguousarray(data), np.diag([spacing_mm, spacing_mm, 1.0, 1.0]))
    if fps:
        image.header.set_zooms((spacing_mm, spacing_mm, 1.0 / fps))
        image.header.set_xyzt_units("mm", "sec")
    blob = image.to_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, gzip.compress(blob, mtime=0) if path.name.endswith(".gz") else blob)


def _labels_map(p, c: float, height: int, width: int) -> np.ndarray:
    """Label map (0 background, 1 LV cavity, 2 myocardium, 3 LA) of the synthetic heart at state ``c``."""
    from echobench.data.synth import tracing

    axis, chords = tracing(p, c)
    outline = np.vstack([chords[:, :2], chords[::-1, 2:]])
    centre = outline.mean(axis=0)
    grown = centre + (outline - centre) * (1.0 + p.wall / max(p.radius, 1.0))
    out = np.zeros((height, width), np.uint8)
    out[polygon_mask(*grown.T, height, width)] = 2
    out[polygon_mask(*outline.T, height, width)] = 1
    base, direction = axis[2:], (axis[2:] - axis[:2]) / max(np.hypot(*(axis[2:] - axis[:2])), 1e-6)
    rows, cols = np.mgrid[0:height, 0:width]
    d = np.stack([cols - base[0], rows - base[1]], axis=-1)
    along, across = d @ direction, d @ np.array([-direction[1], direction[0]])
    atrium = (along > 1.0) & ((along - 0.25 * p.length) ** 2 / (0.25 * p.length) ** 2
                              + across**2 / (0.8 * p.radius) ** 2 < 1)
    out[atrium & (out == 0)] = 3
    return out


def synthesize_camus(out: str | os.PathLike, *, videos: int, seed: int = 0) -> Path:
    """Write a synthetic CAMUS-format folder (``database_nifti/`` + ``database_split/``) with
    ``videos`` patients, each with the 2CH and 4CH files of the release (half sequence ED -> ES,
    ED/ES frames, ED/ES label maps, ``Info_*.cfg``; no ``_half_sequence_gt``), plus ``SYNTHETIC.json``.

    Each patient's heart, EF and volumes come from :mod:`echobench.data.synth` (the same beating heart
    in both views, its own speckle per view: the labels agree like the release's biplane values); the
    half sequence is the rendered ED -> ES frames at 112x112, label 1 is the traced cavity. Split:
    patients 1, 2 VAL, TEST, then the rest 80/10/10 TRAIN/VAL/TEST in the official lists.

    Raises:
        ConfigError: ``videos < 1`` or ``seed < 0``.
    """
    from echobench import atomic_write_text
    from echobench.data.synth import CM_PER_PIXEL, FRAME, NOTE, draw_params, render, synthetic_filelist

    out = Path(out)
    labels = synthetic_filelist(videos=videos, seed=seed)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**21,)))
    spacing = CM_PER_PIXEL * 10.0
    lists: dict[str, list[str]] = {s: [] for s in SPLITS}
    for i, (ef, esv, edv) in enumerate(labels.select("EF", "ESV", "EDV").iter_rows()):
        p, patient = draw_params(seed, i), f"patient{i + 1:04d}"
        systole = replace(p, frames=p.es_frame - p.ed_frame + 1, ed_frame=0, es_frame=p.es_frame - p.ed_frame)
        folder = out / "database_nifti" / patient
        split = ("VAL", "TEST")[i] if i < 2 else (("TRAIN",) * 8 + ("VAL", "TEST"))[(i - 2) % 10]
        lists[split].append(patient)
        sex, age, quality = ("MF"[int(rng.integers(2))], int(rng.integers(20, 91)),
                             ("Good", "Medium", "Poor")[int(rng.integers(3))])
        for k, view in enumerate(VIEWS):
            texture = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i, 2 + k)))
            half = render(systole, texture)  # only the ED -> ES frames are rendered
            stem = folder / f"{patient}_{view}"
            write_nifti(Path(f"{stem}_half_sequence.nii.gz"), half, spacing_mm=spacing, fps=p.fps)
            for phase, frame, c in (("ED", 0, 0.0), ("ES", len(half) - 1, 1.0)):
                write_nifti(Path(f"{stem}_{phase}.nii.gz"), half[frame], spacing_mm=spacing)
                write_nifti(Path(f"{stem}_{phase}_gt.nii.gz"), _labels_map(p, c, FRAME, FRAME), spacing_mm=spacing)
            atomic_write_text(folder / f"Info_{view}.cfg", "".join(f"{k}: {v}\n" for k, v in (
                ("ED", 1), ("ES", len(half)), ("NbFrame", len(half)), ("Sex", sex), ("Age", age),
                ("ImageQuality", quality), ("LVedv", f"{edv:.2f}"), ("LVesv", f"{esv:.2f}"), ("LVef", f"{ef:.2f}"))))
    (out / "database_split").mkdir(parents=True, exist_ok=True)
    for split, name in LISTS.items():
        atomic_write_text(out / "database_split" / name, "".join(f"{p}\n" for p in lists[split]))
    atomic_write_text(out / "SYNTHETIC.json", json.dumps(
        {"generator": "echobench_datasets.camus", "seed": seed, "videos": videos, "synthetic": True,
         "note": NOTE}, indent=2, sort_keys=True) + "\n")
    return out
