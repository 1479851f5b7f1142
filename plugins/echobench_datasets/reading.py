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
