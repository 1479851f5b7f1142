"""``echobench prepare merge``: join the OUT folders of ``prepare dicom --shard K/N`` runs into one.

Each shard's OUT holds the rows (and clips) of its piece of the inputs (:class:`echobench.data.prepare.Shard`).
The merged OUT is what one unsharded ``prepare dicom`` over the same SRC writes: the same manifest rows
(each input exactly once, sorted by source), the same clip bytes at the same paths, and settings
without a shard, so a later ``prepare dicom SRC OUT`` resumes it like its own.

Refused (one-line :class:`echobench.errors.DataError` / ``ConfigError``): a folder that is not a
finished prepare output (no ``prepare.json``, or unmerged parts of an interrupted run: rerun its
shard), shards made with other settings or of another count N, a shard given twice or missing, a
source recorded twice, an ok row whose clip is gone, a non-empty OUT that is not an earlier merge.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from echobench.atomic import atomic_target, atomic_write_text
from echobench.data.prepare import (
    FORMAT,
    STATE,
    SUMMARY,
    PrepareSettings,
    PrepareSummary,
    Shard,
    _lock,
    _read_manifest,
    _write_outputs,
)
from echobench.errors import ConfigError, DataError


def _read_shard(folder: Path) -> tuple[dict, Shard | None, dict[str, dict]]:
    """``(settings without shard, shard, rows by source)`` of one finished prepare output."""
    if not (folder / SUMMARY).is_file():
        raise DataError(f"{folder}: not a finished `echobench prepare dicom` output (no {SUMMARY})")
    if any((folder / STATE / "parts").glob("*/*.json")):
        raise DataError(f"{folder}: its run was interrupted (unmerged parts): rerun its prepare dicom first")
    try:
        settings = dict(json.loads((folder / SUMMARY).read_text(encoding="utf-8"))["settings"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{folder / SUMMARY}: unreadable ({type(exc).__name__})") from exc
    shard = settings.pop("shard", None)
    return settings, Shard.parse(shard) if shard else None, _read_manifest(folder)


def _place(src: Path, dst: Path) -> None:
    """Put a copy of clip ``src`` at ``dst`` atomically: a hard link when both are on one file system,
    else a byte copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(dst) as tmp:  # fsync, rename; removed on failure
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def merge_prepared(shards: list[str | os.PathLike], out: str | os.PathLike) -> PrepareSummary:
    """Join the OUT folders of ``prepare dicom --shard K/N`` (all N of them) into ``out``.

    Args:
        shards: the shards' OUT folders, in any order.
        out: the merged folder (created; may hold an earlier merge of the same shards, redone).

    Returns:
        :class:`echobench.data.prepare.PrepareSummary` of the merged folder (``processed`` 0,
        ``reused`` = rows).

    Raises:
        DataError: a folder is not a finished prepare output, a source is in two shards, an ok clip is
            missing, or ``out`` is a file, one of the shards, or a non-empty folder that is not an
            earlier merge.
        ConfigError: the shards disagree on settings or N, or a shard is given twice or missing.
    """
    folders, out = [Path(folder) for folder in shards], Path(out)
    if not folders:
        raise ConfigError("prepare merge needs the OUT folders of the shards to join")
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: output exists and is not a folder")
    if any(out.exists() and folder.exists() and out.resolve() == folder.resolve() for folder in folders):
        raise DataError(f"{out}: the merged folder must differ from the shards' folders")
    if out.is_dir() and any(out.iterdir()) and not (out / STATE / "merged.json").is_file():
        raise DataError(f"{out}: not empty and not an earlier merge (choose a new folder)")

    read = [(folder, *_read_shard(folder)) for folder in folders]
    settings = read[0][1]
    for folder, theirs, shard, _ in read:
        if theirs != settings:
            differ = ", ".join(f"{key} {theirs.get(key)} vs {settings.get(key)}"
                               for key in {**settings, **theirs} if theirs.get(key) != settings.get(key))
            raise ConfigError(f"{folder}: prepared with other settings than {read[0][0]} ({differ})")
        if shard is None:
            raise ConfigError(f"{folder}: not a shard (prepared without --shard): nothing to merge")
    count = read[0][2].count
    seen: dict[int, Path] = {}
    for folder, _, shard, _ in read:
        if shard.count != count:
            raise ConfigError(f"{folder}: shard {shard}, but {read[0][0]} is of {count} shards")
        if shard.index in seen:
            raise ConfigError(f"{folder}: shard {shard} given twice (also {seen[shard.index]})")
        seen[shard.index] = folder
    missing = [f"{k}/{count}" for k in range(count) if k not in seen]
    if missing:
        raise ConfigError(f"shard(s) {', '.join(missing)} missing: merge all {count} shards")
    if settings.get("format") != FORMAT:
        raise ConfigError(f"{read[0][0]}: prepared by another echobench (format {settings.get('format')}, "
                          f"this one writes {FORMAT}): prepare it again")

    rows: dict[str, dict] = {}
    owner: dict[str, Path] = {}
    for folder, _, _, manifest in read:
        for source, row in manifest.items():
            if source in rows:
                raise DataError(f"{source}: recorded by two shards ({owner[source]} and {folder})")
            if row["status"] == "ok" and not (folder / row["clip"]).is_file():
                raise DataError(f"{folder / row['clip']}: clip missing: rerun that shard's prepare dicom")
            rows[source], owner[source] = row, folder

    (out / STATE).mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    try:
        for source, row in rows.items():
            if row["status"] == "ok":
                _place(owner[source] / row["clip"], out / row["clip"])
        prepare_settings = PrepareSettings(**{k: v for k, v in settings.items() if k != "format"})
        atomic_write_text(out / STATE / "settings.json", json.dumps(settings, indent=1) + "\n")
        summary = _write_outputs(out, list(rows.values()), prepare_settings, processed=0, reused=len(rows),
                                 dropped=0, shard=None)
        atomic_write_text(out / STATE / "merged.json",
                          json.dumps({"shards": [str(seen[k]) for k in range(count)]}, indent=1) + "\n")
    finally:
        if lock is not None:
            lock.close()
    return summary
