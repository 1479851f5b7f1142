"""``manifest.parquet``: the one description of a prepared clip folder (issue 14 item 6).

Written by ``echobench prepare dicom`` (:mod:`echobench.data.prepare`, one row per input file) and
read by pre-training (:mod:`echobench.data.pretrain_clips`). Both take the file name, the schema and
the reader from here, so the writer and the reader cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

from echobench.errors import DataError, describe

MANIFEST = "manifest.parquet"

#: Column -> polars dtype name of ``manifest.parquet`` (the contract the MAE pre-trainer reads).
MANIFEST_SCHEMA = {
    "source": "String",  # path relative to SRC (POSIX separators)
    "clip": "String",  # path relative to OUT, null unless ok
    "status": "String",  # ok | skipped | failed
    "reason": "String",  # null for ok
    "frames": "Int64",  # output frames (0 unless ok)
    "fps": "Float64",  # output frames/s (null unless ok)
    "source_frames": "Int64",  # decoded frames, null unless decoded
    "source_fps": "Float64",  # header frames/s, null when absent or not decoded
    "height": "Int64",  # output pixels, null unless ok
    "width": "Int64",
    "region": "String",  # crop box from: header | estimate | whole frame (null unless ok)
    "mask": "String",  # burnt-in text mask: fan | none | fan not found (null unless ok)
    "mask_kept": "Float64",  # share of the crop box's pixels inside the mask, 1.0 unmasked (null unless ok)
    "notes": "String",  # recoverable oddities, "; "-separated (null if none)
}

#: The columns a reader needs, in the order error messages list them (older manifests lack the rest).
MANIFEST_COLUMNS = ("source", "clip", "status", "reason", "frames", "fps", "source_frames", "source_fps",
                    "height", "width")


def read_manifest(path: str | Path, *, hint: str = ""):
    """Read ``manifest.parquet`` as a polars DataFrame.

    Raises:
        DataError: not readable Parquet, one line ``<path>: cannot read manifest (Type: first line)``
            followed by ``; <hint>`` when given.
    """
    import polars as pl

    try:
        return pl.read_parquet(path)
    except Exception as exc:  # polars raises several error types for corrupt files
        raise DataError(f"{path}: cannot read manifest ({describe(exc)}){'; ' + hint if hint else ''}") from None


def manifest_frame(rows):
    """Rows (dicts keyed by column) as a DataFrame with exactly :data:`MANIFEST_SCHEMA`."""
    import polars as pl

    schema = {name: getattr(pl, dtype) for name, dtype in MANIFEST_SCHEMA.items()}
    return pl.DataFrame(list(rows), schema=schema, orient="row")
