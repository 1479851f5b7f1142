"""Score a predictions file against an EchoNet-format split, without running any model (DESIGN §7).

A predictions file is a CSV with columns ``FileName`` and ``prediction`` (header case-insensitive,
FileName with or without ``.avi``, extra columns ignored), one row per video; or a run's own
``predictions.parquet``. A ``split`` column (either format) keeps the rows of the scored split, a
``clips`` column the rows of one test-time protocol (``one`` clip, or ``all`` clips averaged), so
``runs/<id>/predictions.parquet`` scores exactly as the run did (:func:`read_split_predictions`). Units of
``prediction``: EF in % for ``ef``; mL for ``esv``/``edv``; for ``ef50`` a probability of reduced EF
when every value lies in [0, 1] (predicted reduced when >= 0.5), otherwise a predicted EF in %
(predicted reduced when < 50); another task: its label in its units. Labels come from the dataset's
reader (:func:`echobench.data.resolve.resolve_dataset`; EchoNet: ``FileList.csv``) with
``probe=False``: no video is decoded.

The split is scored in full or not at all: a split video without a prediction is an error unless
``allow_missing`` (a subset's numbers are not comparable with a full split's). Metrics and their
bootstrap intervals come from :mod:`echobench.metrics`; the constant predictor (TRAIN mean label,
or for ``ef50`` probabilities the TRAIN rate of reduced EF) is scored alongside (DESIGN §5). A
directory without TRAIN labels (a TEST-only copy) is scored too: the constant rows are then
unavailable (NaN, said so) unless the TRAIN value is given (``train_mean``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from echobench.data.echonet import SPLITS, VideoRecord
from echobench.data.readers import read_table, video_stem
from echobench.errors import ConfigError, DataError, describe
from echobench.contract.specs import TaskSpec
from echobench.results.leaderboard import units_label

if TYPE_CHECKING:  # torch and torchmetrics load only once the predictions file has been read
    from echobench.evaluation import Score
    from echobench.metrics import Estimate

SHOWN = 5  # names listed in an error before "and N more"


def score_task(name: str) -> TaskSpec:
    """The registered task ``name`` (the task plugins' names, labels, kinds and units).

    Raises:
        UnknownNameError: no such task (with a did-you-mean).
    """
    from echobench.registry import get_registry

    return get_registry().get("task", name)


@dataclass(frozen=True)
class ScoreSection:
    """One block of metrics: ``units`` maps each metric to its units ("" for unitless/fractions)."""

    title: str
    units: dict[str, str]
    model: dict[str, Estimate]
    constant: dict[str, Estimate]


@dataclass
class ScoreResult:
    """What :func:`score_predictions` found: metric sections for the predictions and the constant
    predictor, the number of videos scored (``n``) of the split's labelled videos (``n_split``)."""

    predictions: Path
    data: Path
    task: str
    split: str
    n: int
    n_split: int
    missing: list[str]
    interpretation: str
    constant_label: str
    sections: list[ScoreSection]
    n_boot: int
    seed: int
    notes: list[str] = field(default_factory=list)


def _names(items: list[str], total: int | None = None) -> str:
    total = len(items) if total is None else total
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {total - SHOWN} more" if total > SHOWN else "")


def read_predictions(path: str | os.PathLike) -> dict[str, float]:
    """Read a predictions CSV into ``{FileName stem: prediction}`` in file order.

    Raises:
        DataError: the file is missing, a directory, unreadable, empty or not CSV; a column
            (FileName, prediction) is missing; a FileName is empty or repeated (with or without
            ``.avi``: names it and its lines); a prediction is non-numeric or not finite (names the
            FileName and line).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: predictions file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a predictions CSV file")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: cannot read the predictions file (permission denied)")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: is empty; expected a CSV with columns FileName, prediction")
    df = read_table(path, ("FileName", "prediction"))
    missing = [c for c in ("FileName", "prediction") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected columns FileName, prediction")
    if df.height == 0:
        raise DataError(f"{path}: has no rows")
    names = [video_stem(n or "") for n in df["FileName"].to_list()]
    raw = df["prediction"].to_list()
    values = df["prediction"].cast(pl.Float64, strict=False).to_list()
    lines = list(range(2, df.height + 2))  # 1-based, after the header

    empty = [ln for ln, n in zip(lines, names) if not n]
    if empty:
        raise DataError(f"{path}: empty FileName on line(s) {_names([str(x) for x in empty])}")
    rows: dict[str, list[int]] = {}
    for ln, n in zip(lines, names):
        rows.setdefault(n, []).append(ln)
    dups = [(n, lns) for n, lns in rows.items() if len(lns) > 1]
    if dups:
        name, lns = dups[0]
        more = f"; {len(dups) - 1} more FileName(s) repeat" if len(dups) > 1 else ""
        raise DataError(f"{path}: FileName {name} appears {len(lns)} times (lines {', '.join(map(str, lns))})"
                        f"{more}")
    for problem, bad in (("is not a number", [i for i, v in enumerate(values) if v is None]),
                         ("is not finite", [i for i, v in enumerate(values) if v is not None and not math.isfinite(v)])):
        if bad:
            i = bad[0]
            more = f"; {len(bad) - 1} more row(s) like it" if len(bad) > 1 else ""
            shown = "empty" if raw[i] is None else repr(raw[i])
            raise DataError(f"{path}: prediction for {names[i]} (line {lines[i]}) {problem}: {shown}{more}")
    return dict(zip(names, values))


PARQUET_SUFFIXES = (".parquet", ".pq")
SELECTORS = ("split", "clips")  # optional columns that pick the scored rows


def read_split_predictions(path: str | os.PathLike, *, split: str, clips: str = "one") -> dict[str, float]:
    """Read a predictions CSV or Parquet file into ``{FileName stem: prediction}`` for one split.

    A CSV without ``split``/``clips`` columns is read by :func:`read_predictions` (every row is a
    prediction for ``split``). Otherwise (any Parquet file, e.g. a run's ``predictions.parquet``
    with columns FileName, split, clips, prediction, truth, EF; or a CSV with those columns) only
    the rows whose ``split`` equals ``split`` (any case) and whose ``clips`` equals ``clips`` are
    kept; a missing selector column keeps every row.

    Raises:
        DataError: as :func:`read_predictions`; the Parquet file cannot be read; no row is left
            for the split/clips (names the values the file has); a kept row has an empty or
            repeated FileName or a prediction that is not a finite number (names the FileName and
            the line, or the row of a Parquet file).
    """
    path = Path(path)
    parquet = path.suffix.lower() in PARQUET_SUFFIXES
    if not parquet:
        if (not path.is_file() or not os.access(path, os.R_OK) or path.stat().st_size == 0
                or not set(read_table(path, SELECTORS).columns)):
            return read_predictions(path)  # no selector column (or not a readable file): its checks apply
        frame, where = read_table(path, ("FileName", "prediction", *SELECTORS)), "line"
        first = 2  # 1-based, after the header
    else:
        frame, where, first = _read_parquet(path), "row", 1
    by_lower = {c.lower(): c for c in frame.columns}
    missing = [c for c in ("FileName", "prediction") if c.lower() not in by_lower]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected columns FileName, prediction")
    frame = frame.select(pl.col(src).alias(name) for name, src in
                         ((n, by_lower[n.lower()]) for n in ("FileName", "prediction", *SELECTORS) if n.lower() in by_lower))
    frame = frame.with_row_index("_line", offset=first)
    for column, wanted in (("split", split.upper()), ("clips", clips.lower())):
        if column not in frame.columns:
            continue
        values = frame[column].cast(pl.Utf8).str.strip_chars()
        values = values.str.to_uppercase() if column == "split" else values.str.to_lowercase()
        present = sorted(set(values.drop_nulls().to_list()))
        frame = frame.filter(values == wanted)
        if frame.height == 0:
            raise DataError(f"{path}: no rows with {column} {wanted} (the file has {column} "
                            f"{', '.join(present) or 'none'}); choose with --{column}")
    return _checked(path, frame, where)


def _read_parquet(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: predictions file not found" if not path.exists() else
                        f"{path}: is a directory, not a predictions file")
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"{path}: cannot read as Parquet ({describe(exc)})") from None


def _checked(path: Path, frame: pl.DataFrame, where: str) -> dict[str, float]:
    """``{stem: prediction}`` of the kept rows; errors name the FileName and its line/row."""
    names = [video_stem(str(n or "").strip()) for n in frame["FileName"].to_list()]
    values = frame["prediction"].cast(pl.Float64, strict=False).to_list()
    lines = frame["_line"].to_list()
    seen: dict[str, int] = {}
    for name, value, line in zip(names, values, lines):
        if not name:
            raise DataError(f"{path}: empty FileName on {where} {line}")
        if name in seen:
            raise DataError(f"{path}: FileName {name} appears twice for this split ({where}s {seen[name]}, {line})")
        seen[name] = line
        if value is None or not math.isfinite(value):
            raise DataError(f"{path}: prediction for {name} ({where} {line}) is not a finite number")
    return dict(zip(names, values))


def _label(r: VideoRecord, task: TaskSpec) -> float:
    """The record's label for the task, NaN when missing (volumes must also be > 0 mL)."""
    from echobench.data.resolve import usable_label

    value = r.label(task.label)
    return value if usable_label(value, task) else math.nan


def _sections(task: TaskSpec, model: list[Score], constant: list[Score]) -> list[ScoreSection]:
    """One section per scored task of the predictions' and the constant predictor's scores (from
    :mod:`echobench.evaluation`, as ``echobench run`` computes them)."""
    sections = []
    for name in dict.fromkeys(sc.task for sc in model):
        regression = name == task.name and task.kind == "regression"
        if regression:
            title = f"{task.label} ({units_label(task.units, task.label)})"
        elif name == task.name:  # a binary task: positive when its label < threshold
            title = f"{task.label} < {task.threshold:g} {task.units}".rstrip()
        else:  # a derived binary task of a regression task (ef50 of ef)
            derived = score_task(name)
            title = f"{derived.label} < {derived.threshold:g} {derived.units}".rstrip() + f" from predicted {task.label}"
        pick = lambda scores: {sc.metric: sc.estimate for sc in scores if sc.task == name}  # noqa: E731
        metrics = pick(model)
        units = {k: (units_label(task.units, task.label) if regression and k not in ("R2", "r") else "") for k in metrics}
        sections.append(ScoreSection(title, units, metrics, pick(constant)))
    return sections


def score_predictions(
    predictions: str | os.PathLike,
    data: str | os.PathLike,
    *,
    task: str,
    split: str = "TEST",
    n_boot: int = 1000,
    seed: int = 0,
    allow_missing: bool = False,
    train_mean: float | None = None,
    progress: Callable[[int], None] | None = None,
    clips: str = "one",
    dataset: str | None = None,
) -> ScoreResult:
    """Score a predictions CSV (see the module docstring) on one split of an EchoNet-format dataset.

    Args:
        predictions: CSV with columns FileName, prediction, or a run's ``predictions.parquet``
            (optional ``split`` and ``clips`` columns: :func:`read_split_predictions`).
        data: EchoNet-format directory (FileList.csv, Videos/); videos are listed, never decoded.
        task: ``ef``, ``esv``, ``edv`` or ``ef50``.
        split: ``TRAIN``, ``VAL`` or ``TEST`` (any case).
        n_boot, seed: bootstrap resamples and seed (:mod:`echobench.metrics`).
        allow_missing: score only the split's videos that have a prediction instead of refusing.
        train_mean: the constant predictor's value instead of the directory's TRAIN labels (for a
            TEST-only directory): the TRAIN mean label in the task's units (EF in %, mL); for
            ``ef50`` probabilities the TRAIN rate of EF < 50 % (in [0, 1]), for ``ef50`` given as
            predicted EF the TRAIN mean EF in %. Without it and without TRAIN labels the constant
            rows are NaN and ``constant_label`` says they are unavailable.
        clips: with a ``clips`` column, the rows of this test-time protocol (``one`` or ``all``).
        progress: passed to the dataset's reader (EchoNet: called only if FileList lacks a video's metadata).
        dataset: the registered dataset layout of ``data`` (None: detected,
            :func:`echobench.data.resolve.resolve_dataset`).

    Returns:
        :class:`ScoreResult`. For ``ef`` a second section gives the EF < 50 % metrics derived from
        the predicted EF (:func:`echobench.metrics.ef50_from_ef`).

    Raises:
        UnknownNameError: unknown task.
        ConfigError: unknown split, or ``n_boot < 0``.
        DataError: a bad predictions file (:func:`read_predictions`); predictions naming videos not
            in the split (names up to 5 and counts the rest); split videos without a prediction
            unless ``allow_missing``; an unusable data directory.
        ConfigError: ``train_mean`` not finite (or, for ``ef50`` probabilities, outside [0, 1]).
        ConfigError: the dataset has no column for the task's label, or gives it in other units
            (:func:`echobench.data.resolve.label_units`).
    """
    spec = score_task(task)
    split = split.upper()
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if n_boot < 0:
        raise ConfigError(f"--n-boot must be >= 0, got {n_boot}")
    path, root = Path(predictions), Path(data)
    preds = read_split_predictions(path, split=split, clips=clips)  # before torch is imported
    from echobench.evaluation import PROBABILITY_THRESHOLD, constant_outputs, score_outputs

    from echobench.data.resolve import label_units, resolve_dataset

    dataset_spec, dataset = resolve_dataset(dataset, root, probe=False, progress=progress)
    label_units(spec, dataset_spec, dataset)
    notes: list[str] = []
    if dataset.report.skipped:
        reasons = ", ".join(f"{n} {r}" for r, n in dataset.report.skipped.most_common())
        notes.append(f"{root}: FileList rows skipped by the reader ({reasons}); see `echobench data check`")

    in_split = dataset.split(split)
    labelled = [r for r in in_split if not math.isnan(_label(r, spec))]
    unlabelled = {r.file_name for r in in_split} - {r.file_name for r in labelled}
    if unlabelled:
        ignored = [n for n in preds if n in unlabelled]
        notes.append(f"{root}: {len(unlabelled)} {split} video(s) have no usable {spec.label} and are not "
                     f"scored for {task}" + (f" ({len(ignored)} prediction(s) for them ignored)" if ignored else ""))
    wanted = {r.file_name for r in labelled}
    where = {r.file_name: r.split for r in dataset.records}
    unknown = [n for n in preds if n not in wanted and n not in unlabelled]
    if unknown:
        described = [f"{n} ({'in ' + where[n] if n in where else 'not a usable video of the dataset'})"
                     for n in unknown[:SHOWN]]
        raise DataError(f"{path}: {len(unknown)} prediction(s) name videos not in the {split} split of {root}: "
                        f"{_names(described, len(unknown))}")
    missing = [r.file_name for r in labelled if r.file_name not in preds]
    scored = [r for r in labelled if r.file_name in preds]
    if not scored:
        raise DataError(f"{path}: no prediction for any of the {len(labelled)} {split} videos of {root}")
    if missing and not allow_missing:
        raise DataError(f"{path}: no prediction for {len(missing)} of {len(labelled)} {split} videos "
                        f"({_names(missing)}); pass --allow-missing to score only the {len(scored)} that "
                        f"have one (numbers then compare only with runs on the same videos)")
    if missing:
        notes.append(f"scored {len(scored)} of {len(labelled)} {split} videos; {len(missing)} without a "
                     f"prediction ({_names(missing)}) were left out (--allow-missing)")

    train = np.array([_label(r, spec) for r in dataset.split("TRAIN")], dtype=np.float64)
    train = train[np.isfinite(train)]
    pred = np.array([preds[r.file_name] for r in scored], dtype=np.float64)
    true = np.array([_label(r, spec) for r in scored], dtype=np.float64)
    ef = np.array([r.label("EF") for r in scored], dtype=np.float64)  # NaN when the dataset has no EF
    n = len(scored)

    if spec.kind == "regression" and spec.label == "EF" and n > 1 and (np.abs(pred) <= 1).all():
        raise DataError(f"{path}: every EF prediction is within [-1, 1]: these look like EF fractions "
                        f"(EF/100); give EF in %")
    boot = {"n_boot": n_boot, "seed": seed}
    score = lambda outputs: score_outputs(spec, outputs, true, ef, **boot)  # noqa: E731
    if spec.kind == "regression":
        constant_task, what = spec, f"mean {spec.label} in {spec.units}"
        template = "TRAIN mean {:.2f} " + spec.units
        interpretation = f"{spec.label} in {spec.units}"
    elif ((pred >= 0) & (pred <= 1)).all():
        constant_task, what = spec, f"rate of EF < {spec.threshold:g} % (a probability)"
        template = f"TRAIN rate of EF < {spec.threshold:g} %, probability " + "{:.3f}"
        interpretation = f"probability of reduced EF (every value in [0, 1]); reduced when >= {PROBABILITY_THRESHOLD:g}"
    else:  # a predicted label (EF for ef50), scored as a regression model's derived rows are
        from dataclasses import replace

        from echobench.evaluation import derived_scores

        constant_task, what = replace(spec, kind="regression", threshold=None), f"mean {spec.label} in {spec.units}"
        template = f"TRAIN mean {spec.label} " + "{:.2f} " + spec.units
        interpretation = (f"predicted {spec.label} in {spec.units} (values outside [0, 1]); "
                          f"reduced when < {spec.threshold:g}")
        score = lambda outputs: derived_scores(spec.name, outputs, true, **boot)  # noqa: E731
    if train_mean is not None:
        if not math.isfinite(train_mean) or (constant_task.kind == "binary" and not 0 <= train_mean <= 1):
            need = "a probability in [0, 1]" if constant_task.kind == "binary" else "a finite number"
            raise ConfigError(f"--train-mean must be {need} (the TRAIN {what}), got {train_mean:g}")
        const = np.full(n, float(train_mean))
        constant_label = template.format(train_mean) + " (given by --train-mean)"
    elif train.size:
        const = constant_outputs(constant_task, train, n)
        constant_label = template.format(const[0])
    else:
        const = None
        constant_label = (f"unavailable: {root} has no TRAIN video with a usable {spec.label}; "
                          f"pass --train-mean VALUE (the TRAIN {what}) to score one")
        notes.append(f"constant predictor {constant_label}")
    from echobench.evaluation import Score
    from echobench.metrics import Estimate

    model_scores = score(pred)
    constant_scores = (score(const) if const is not None else
                       [Score(sc.task, sc.metric, Estimate(math.nan, math.nan, math.nan)) for sc in model_scores])
    sections = _sections(spec, model_scores, constant_scores)
    return ScoreResult(predictions=path, data=root, task=task, split=split, n=n, n_split=len(labelled),
                       missing=missing, interpretation=interpretation, constant_label=constant_label,
                       sections=sections, n_boot=n_boot, seed=seed, notes=notes)
