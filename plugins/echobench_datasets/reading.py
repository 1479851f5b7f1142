"""What the first-party dataset readers share beyond core's EchoNet reader: probing a listed video
with its failure counted as a skip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from echobench import DataReport
from echobench.errors import DataError


def probe_or_skip(path: Path, name: str, report: DataReport, progress: Callable[[int], None] | None, *,
                  what: str = "video"):
    """:func:`echobench.data.video.probe_video` of ``path``, or None with the failure counted in
    ``report`` as a skip of ``name`` (``"<what> empty (0 bytes)"``, ``"<what> truncated"``,
    ``"<what> unreadable"``); ``progress(1)`` either way."""
    from echobench.data.echonet import _probe_reason
    from echobench.data.video import probe_video

    try:
        return probe_video(path)
    except DataError as exc:
        report.skip(_probe_reason(exc).replace("video", what), name, str(exc))
        return None
    finally:
        if progress is not None:
            progress(1)


def pick_video(index: dict, stem: str, file_name: str) -> tuple[Path | None, str]:
    """The file a listed ``file_name`` names in an index of core's ``_index_videos``, and a note.

    The index maps a stem to its path, or (where core reads several containers) to its containers
    ``{".avi": path, ".mp4": path}``, which core's ``_pick_video`` chooses among by the name's own
    extension (None: ambiguous, the second value names the files).
    """
    entry = index.get(stem)
    if entry is None or isinstance(entry, Path):
        return entry, ""
    from echobench.data.echonet import _pick_video

    return _pick_video(entry, file_name)
