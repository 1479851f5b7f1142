"""One shard store from the stores several machines wrote (issue 15 item 3: the streaming store
writable from several nodes).

Each node converts its piece (``prepare dicom --shard K/N``) and writes that piece's store
(``prepare shards OUT_K STORE_K``) on its own; :func:`merge_stores` (``echobench prepare merge-stores
STORE_0 ... STORE_N-1 OUT``) then joins them without reading or rewriting a clip: each input shard is
hard-linked (copied when the stores are on another file system) into ``OUT`` under the next shard
number, and the indexes are concatenated in the order the stores are given, with each sample's shard
renamed. Sample ``j`` of store ``i`` becomes sample ``sum(len(store_<i)) + j``, so the merged order,
and with it the pre-training sample order for a seed, is fixed by the order of the stores on the
command line (name them by K). A clip named in two stores (the same piece merged twice) is refused.
Sample keys (the WebDataset ``__key__`` of the tar members) stay those each node wrote: unique within
each shard, as WebDataset needs; samples are addressed by their index row (shard and byte offset).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Sequence

from echobench.data.shards import FORMAT, INDEX, SHARD_PATTERN, STORE, VERSION, ShardReport, is_shard_store, open_store
from echobench.errors import DataError


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: copy
        shutil.copyfile(source, target)


def merge_stores(stores: Sequence[str | os.PathLike], out: str | os.PathLike) -> ShardReport:
    """Join the shard stores ``stores`` (in this order) into the new store ``out``.

    Returns:
        The merged store's :class:`~echobench.data.shards.ShardReport` (skipped: the sum of the inputs').

    Raises:
        DataError: fewer than two stores; one is not a complete store (or another format/version); a
            clip appears in more than one store; ``out`` already holds a store or cannot be written.
    """
    import polars as pl

    from echobench.atomic import atomic_write_parquet, atomic_write_text

    if len(stores) < 2:
        raise DataError("merge-stores needs at least two shard stores")
    out = Path(out)
    if is_shard_store(out) or (out.is_dir() and any(out.glob("shard-*.tar"))):
        raise DataError(f"{out}: already holds a shard store (choose an empty folder)")
    opened = [open_store(s) for s in stores]  # DataError names an incomplete or foreign store
    seen: dict[str, Path] = {}
    for store in opened:
        for clip in store.clips:
            if clip in seen:
                raise DataError(f"{store.root}: clip {clip} is also in {seen[clip]} (a piece merged twice?)")
            seen[clip] = store.root
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{out}: cannot create the store folder ({exc.strerror or exc})") from None
    indexes, skipped, number = [], Counter(), 0
    for store in opened:
        index = pl.read_parquet(store.root / INDEX)
        renamed = {}
        for name in sorted(set(index["shard"].to_list())):
            renamed[name] = SHARD_PATTERN % number
            _link(store.root / name, out / renamed[name])
            number += 1
        indexes.append(index.with_columns(pl.col("shard").replace_strict(renamed)))
        skipped.update(store.info.get("skipped", {}))
    merged = pl.concat(indexes, how="vertical")
    atomic_write_parquet(merged, out / INDEX)
    total, channels = int(merged["nbytes"].sum()), max(s.channels for s in opened)
    atomic_write_text(out / STORE, json.dumps({
        "format": FORMAT, "version": VERSION, "samples": merged.height, "shards": number, "bytes": total,
        "channels": channels, "source": [str(s.root.resolve()) for s in opened], "source_kind": "merged stores",
        "skipped": dict(skipped)}, indent=2))
    return ShardReport(out=out, samples=merged.height, shards=number, bytes=total, channels=channels,
                       skipped=skipped)
