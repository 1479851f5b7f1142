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
- :data:`MAX_FPS`: a larger FPS cell is an error, not a frame rate;
- :func:`read_nifti`, :func:`nifti_shape`, :func:`nifti_fps`: NIfTI 2D+time sequences (CAMUS) as
  ``(T, H, W, 3)`` uint8 frames, their shape and frame rate (:mod:`echobench.data.nifti`);
- :func:`polygon_mask`: a traced outline as a ``(H, W)`` bool mask, for a spec's ``masks``
  (:mod:`echobench.data.polygon`).

What a dataset plugin's synthetic generator writes with is in :mod:`echobench.contract.writing`.
"""

from __future__ import annotations

from echobench.data.nifti import nifti_fps, nifti_shape, read_nifti
from echobench.data.polygon import polygon_mask
from echobench.data.readers import (EF_TOLERANCE, LABEL_CHECKS, MAX_FPS, VIDEO_SUFFIXES, VideoInfo, ed_es_frames,
                                    index_videos, label_notes, pick_video, probe_or_skip, probe_reason,
                                    probe_video, read_table, video_stem, video_stem_expr)

__all__ = ["EF_TOLERANCE", "LABEL_CHECKS", "MAX_FPS", "VIDEO_SUFFIXES", "VideoInfo", "ed_es_frames", "index_videos",
           "label_notes", "nifti_fps", "nifti_shape", "pick_video", "polygon_mask", "probe_or_skip", "probe_reason",
           "probe_video", "read_nifti", "read_table", "video_stem", "video_stem_expr"]
