"""Leaderboard tables and page sections of the dense tasks (segmentation, ED/ES frames).

Dense comparison groups (the leaderboard's :data:`~echobench.results.leaderboard.GROUP`) are told by
their metrics: Dice/IoU per phase (segmentation) or frame errors (frames). Each gets its own table:
the metrics of the task, the model's 95 % bootstrap interval (or mean ± sd over seeds), and a verdict
against the group's baseline row (the fixed TRAIN mean mask, or the random frame guess) on the
primary metric (``Dice``, higher is better; ``frame MAE``, lower is better), ranked like the
constant predictor's tables. The EF that a segmentation model's masks give is an ordinary ``ef`` row
(``[trained on lv-seg]``) in the EF tables. The page adds, per model, an overlay of predicted vs
traced contours on a few TEST frames (``masks_TEST.npz`` of the run) and the distribution of its
per-video scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

DENSE_METRICS = {
    "segmentation": ["Dice", "Dice[ED]", "Dice[ES]", "IoU[ED]", "IoU[ES]"],
    "frames": ["frame MAE", "frame MAE[ED]", "frame MAE[ES]", "within ±2[ED]", "within ±2[ES]"],
}
PRIMARY = {"segmentation": "Dice", "frames": "frame MAE"}
OVERLAY_VIDEOS = 3  # TEST videos drawn (ED and ES frame each)


def dense_kind(group: pl.DataFrame) -> str | None:
    """``"segmentation"``, ``"frames"`` or None, from the metrics a group's rows carry."""
    present = set(group["metric"].to_list())
    return next((k for k, names in DENSE_METRICS.items() if present & set(names)), None)


def _baseline(model: str) -> bool:
    from echobench.evaluation.frames import RANDOM_GUESS
    from echobench.evaluation.segmentation import MEAN_MASK

    return model in (MEAN_MASK, RANDOM_GUESS)


def dense_groups(summary: pl.DataFrame):
    """``(key, group, kind)`` of every dense comparison group of measured rows (main table only)."""
    from echobench.results.leaderboard import GROUP

    frame = summary.filter(pl.col("track").is_null() & (pl.col("source") == "run"))
    for key, group in frame.sort(["task", "split", "protocol"]).group_by(GROUP, maintain_order=True):
        kind = dense_kind(group)
        if kind is not None:
            yield dict(zip(GROUP, key)), group, kind


def dense_table(key: dict, group: pl.DataFrame, kind: str) -> tuple[list[str], list[dict], list[dict]]:
    """Columns, display rows and wide rows of one dense group (module docstring)."""
    from echobench.results.leaderboard import BEATS, cell, model_label, versus_constant, wide

    metrics = [m for m in DENSE_METRICS[kind] if m in set(group["metric"])]
    primary = PRIMARY[kind]
    rows = list(wide(group).iter_rows(named=True))
    lower = kind == "frames"
    rows.sort(key=lambda r: (r.get(f"mean_{primary}") or 0.0) * (1 if lower else -1))
    base = next((r for r in rows if _baseline(r["model"])), None)

    def verdict(row: dict) -> str:
        if base is None or row is base:
            return "–"
        est = lambda r: tuple(r.get(f"{p}_{primary}") for p in ("mean", "ci_low", "ci_high"))  # noqa: E731
        return versus_constant(primary, est(row), est(base)).replace("constant", "baseline")

    units = {m: ("frames" if m.startswith("frame MAE") else "") for m in metrics}
    columns = ["rank", "model", "split", "protocol", *(f"{m} ({units[m]})" if units[m] else m for m in metrics),
               "seeds", "n", f"vs baseline ({primary})"]
    verdicts = [verdict(r) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: (_baseline(rows[i]["model"]),
                                                    not verdicts[i].startswith(BEATS.replace("constant", "baseline"))))
    shown, raw, rank = [], [], 0
    for i in order:
        row = rows[i]
        ranked = verdicts[i].startswith("beats baseline")
        rank += ranked
        label = row["model"] if _baseline(row["model"]) else model_label({**row, "task": key["task"]})
        cells = [str(rank) if ranked else "–", label, key["split"], f"{key['protocol']}@{key['protocol_version']}",
                 *(cell(row, m, "frames" if units[m] else "") for m in metrics), str(row["seeds"]),
                 "–" if row["n"] is None else str(row["n"]), verdicts[i]]
        shown.append(dict(zip(columns, cells)))
        raw.append(row)
    return columns, shown, raw


def _title(key: dict, kind: str) -> str:
    from echobench.results.leaderboard import group_title

    return f"{'segmentation' if kind == 'segmentation' else 'ED/ES frames'}: {group_title(key)}"


def dense_markdown(summary: pl.DataFrame) -> str:
    """Markdown tables of every dense group ("" when there is none)."""
    from echobench.results.leaderboard import markdown_table

    parts = []
    for key, group, kind in dense_groups(summary):
        columns, rows, _ = dense_table(key, group, kind)
        parts += markdown_table(_title(key, kind), columns, rows)
    return "\n".join(parts)


def _video_frame(run_dir: Path, file_name: str, frame: int) -> np.ndarray | None:
    """Grey frame ``frame`` of the run's video ``file_name`` (the run's data folder), or None."""
    from echobench.data.video import read_video

    try:
        data = Path(json.loads((run_dir / "config.json").read_text())["data"])
        video = read_video(data / "Videos" / f"{file_name}.avi")
        return video[frame, :, :, 0] if frame < len(video) else None
    except Exception:  # the data may have moved: contours on black instead
        return None


def _figures(key: dict, row: dict, kind: str, folder: Path) -> list[tuple[str, Path]]:
    from echobench.results import dense_plots
    from echobench.results.page import _slug

    run_dir = Path(row["run_dir"]) if row.get("run_dir") else None
    if run_dir is None or not (run_dir / "predictions.parquet").is_file():
        return []
    preds = pl.read_parquet(run_dir / "predictions.parquet").filter(pl.col("split") == key["split"])
    if preds.is_empty():
        return []
    name = f"{row['model']} ({row['preset']}) · {key['task']} · {key['split']}"
    stem = _slug(f"{key['task']}-{key['protocol']}-{key['split']}-{row['model']}-{row['preset']}-{run_dir.name}")
    out = []
    if kind == "segmentation":
        out.append((f"Dice distribution, {name}", dense_plots.distribution(
            {c: preds[c].to_numpy() for c in ("Dice[ED]", "Dice[ES]")}, xlabel="Dice", bins=np.linspace(0, 1, 21),
            title=f"Dice per video · {name}", path=folder / f"{stem}-dice.png")))
        masks_file = run_dir / "masks_TEST.npz"
        if key["split"] == "TEST" and masks_file.is_file():
            masks = np.load(masks_file)
            frames = ({r["FileName"]: (r["ED_frame"], r["ES_frame"]) for r in preds.iter_rows(named=True)}
                      if "ED_frame" in preds.columns else {})
            images, traced, predicted, captions = [], [], [], []
            for i, file_name in enumerate(masks["file_names"][:OVERLAY_VIDEOS]):
                for k, phase in enumerate(("ED", "ES")):
                    frame = frames.get(str(file_name), (None, None))[k]
                    images.append(_video_frame(run_dir, str(file_name), frame) if frame is not None else None)
                    traced.append(masks["true"][i, k])
                    predicted.append(masks["pred"][i, k])
                    captions.append(f"{file_name} {phase}" + (f" (frame {frame})" if frame is not None else ""))
            out.append((f"predicted (red) vs traced (green) contours, {name}", dense_plots.contour_overlay(
                images, traced, predicted, captions, title=f"LV contours · {name}",
                path=folder / f"{stem}-contours.png")))
        return out
    errors = {p: (preds[f"pred_{p}"] - preds[f"true_{p}"]).abs().to_numpy() for p in ("ED", "ES")}
    out.append((f"frame error distribution, {name}", dense_plots.distribution(
        errors, xlabel="|predicted - traced| (frames)", title=f"Frame error per video · {name}",
        path=folder / f"{stem}-frame-error.png")))
    return out


def dense_sections(summary: pl.DataFrame, folder: Path) -> list:
    """HTML page sections: one per dense group, its table and each model's pictures."""
    from echobench.results.html import Section

    sections = []
    for key, group, kind in dense_groups(summary):
        columns, rows, raw = dense_table(key, group, kind)
        figures = [f for row in raw if not _baseline(row["model"]) for f in _figures(key, row, kind, Path(folder))]
        text = ("Mean ± sd over seeds; a single seed shows its 95 % bootstrap interval. One clip per video holding "
                "the traced ED and ES frames (dense-clip rule). Only models whose interval on "
                f"{PRIMARY[kind]} is better than the baseline's are ranked.")
        sections.append(Section(heading=_title(key, kind), text=text,
                                tables=[("", pl.DataFrame(rows, schema={c: pl.Utf8 for c in columns}))],
                                figures=figures))
    return sections
