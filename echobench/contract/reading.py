"""The reader toolkit for dataset plugins: the contract face of :mod:`echobench.data.readers`.

A dataset plugin's reader (a :class:`~echobench.contract.specs.DatasetSpec`'s ``reader``) turns a folder
into :class:`~echobench.contract.dataset.DatasetRecords`; these are the parts every reader shares, so
a third-party reader takes real-world variation in its stride as core's EchoNet-Dynamic reader does:

- :func:`read_table`: a CSV table (polars) as stripped strings, header case ignored, one-line
  :class:`~echobench.errors.DataError` naming the file;
- :func:`video_stem`, :func:`video_stem_expr`: a FileName with or without ``.avi``/``.mp4``... as one stem;
- :func:`index_videos`, :func:`pick_video`: a folder of videos by stem (any container PyAV reads,
  :data:`VIDEO_SUFFIXES`), unusable entries counted; the file a FileName names;
- :func:`probe_video`, :func:`probe_or_skip`, :func:`probe_reason`: frames, size and fps
  (:class:`VideoInfo`) without decoding, or a counted skip with its reason;
- :func:`ed_es_frames`: ED/ES frames as the traced frames of largest/smallest method-of-discs volume;
- :func:`label_notes` (:data:`LABEL_CHECKS`, :data:`EF_TOLERANCE`): inconsistent EF/ESV/EDV noted;
- :data:`MAX_FPS`: a larger FPS cell is an error, not a frame rate.
"""

from __future__ import annotations

from echobench.data.readers import (EF_TOLERANCE, LABEL_CHECKS, MAX_FPS, VIDEO_SUFFIXES, VideoInfo, ed_es_frames,
                                    index_videos, label_notes, pick_video, probe_or_skip, probe_reason,
                                    probe_video, read_table, video_stem, video_stem_expr)

__all__ = ["EF_TOLERANCE", "LABEL_CHECKS", "MAX_FPS", "VIDEO_SUFFIXES", "VideoInfo", "ed_es_frames", "index_videos",
           "label_notes", "pick_video", "probe_or_skip", "probe_reason", "probe_video", "read_table", "video_stem",
           "video_stem_expr"]
