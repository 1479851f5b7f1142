"""Decoding the JPEG frames of a DICOM cine with Pillow (libjpeg-turbo) directly, optionally at 1/2
or 1/4 of the size (libjpeg's DCT scaling).

Why not through pydicom: its Pillow plugin has libjpeg return the raw YCbCr of a YBR_FULL(_422) frame
and converts it to RGB in numpy (``pydicom.pixels.processing._convert_YBR_FULL_to_RGB``, float64),
which is ~85 % of its decode time; libjpeg-turbo's own YCbCr -> RGB conversion (SIMD, inside the
decoder) gives the same pixels on the real loops of pydicom-data (tests/data/test_dicom_jpeg.py) at a
sixth of the CPU. DCT scaling (Pillow's ``Image.draft``; libjpeg's ``scale_num / scale_denom``,
``jidctred.c``) computes a reduced inverse DCT of each 8x8 block, so a frame is decoded and colour
converted at 1/s of each side for a fraction of the full cost; a clip far smaller than the source
(480x640 -> 224x224 or 112x112) loses little it would keep (:func:`draft_scale`; the bounds below).
1/8 (each block's DC term alone) is not used: on the real loop it cost 5 % of the fan mask and doubled
the difference to the exact path.

Only what is decoded here exactly as pydicom would is taken: JPEG Baseline / Extended (8-bit), 3
samples, PhotometricInterpretation YBR_FULL_422 or YBR_FULL, every frame a JPEG that Pillow opens as
3-component YCbCr of the header's size. Anything else (another syntax, photometric or bit depth, an
Adobe or component-ID marker saying the components are RGB, a frame Pillow cannot open or decode, a
frame count other than the header's) returns None, and the caller decodes the file with pydicom's
decoders (which then also produce the error message a broken file deserves).
"""

from __future__ import annotations

import io

import numpy as np

#: Transfer syntaxes decoded here: JPEG Baseline (Process 1), JPEG Extended (Process 2 & 4), 8-bit only.
SYNTAXES = frozenset({"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"})
PHOTOMETRICS = frozenset({"YBR_FULL_422", "YBR_FULL"})
#: Bounds on how far a ``--decode fast`` clip from frames decoded at 1/2 or 1/4 size may differ from the
#: exact path's (full-size decode, float32 resize), |difference| of 255 over every pixel, frame and
#: channel of the clip, tested on the real 480x640 loop of pydicom-data (the prepare clips of its first
#: 40 frames at 224 and 112 px, tests/data/test_dicom_jpeg.py). Measured on the whole 120-frame loop:
#: 224 px (1/2): max 53, mean 0.78, 99th percentile 10, PSNR 41.2 dB; 112 px (1/4): max 25, mean 0.58,
#: p99 8, PSNR 43.9 dB; the share of the crop kept by the fan mask 0.443 / 0.431 instead of 0.447.
#: The large differences are single pixels of speckle and of the fan's edge: the reduced crop box is
#: aligned to 2 or 4 source pixels, and libjpeg's reduced inverse DCT filters unlike the resize.
REDUCED_MAX_DIFF = 128
REDUCED_MEAN_DIFF = 1.0
REDUCED_P99_DIFF = 12
REDUCED_MIN_PSNR = 36.0  # dB
#: DCT scaling factors used (of libjpeg's 1/8, 1/4, 1/2 and 1 through Pillow's draft mode).
SCALES = (4, 2, 1)


def draft_scale(side: int, size: int) -> int:
    """The largest ``s`` of :data:`SCALES` with ``ceil(side / s) >= size``: decoding at 1/s keeps at
    least ``size`` pixels across a crop of ``side`` source pixels, so the resize that follows only
    shrinks (never enlarges) it. ``side`` and ``size`` in pixels; 1 when ``side < size``."""
    return next(s for s in SCALES if -(-int(side) // s) >= int(size) or s == 1)


def _rgb_components(image) -> bool:
    """True when libjpeg will take this 3-component frame's samples as RGB, not YCbCr (jdapimin.c
    ``default_decompress_parms``: no JFIF marker and an Adobe marker with transform 0, or no marker
    and component IDs 'R', 'G', 'B'), which pydicom would still convert from YBR."""
    if "jfif" in image.info:
        return False
    adobe = image.info.get("adobe_transform")
    if adobe is not None:
        return adobe == 0
    return [layer[0] for layer in getattr(image, "layer", [])] == [ord("R"), ord("G"), ord("B")]


def decode_jpeg_frames(ds, *, scale: int = 1) -> np.ndarray | None:
    """All frames of a JPEG YBR_FULL(_422) DICOM dataset as RGB, decoded by libjpeg-turbo at 1/``scale``.

    Args:
        ds: a ``pydicom.Dataset`` read with its pixel data.
        scale: one of :data:`SCALES`; frames come out ``ceil(Rows / scale) x ceil(Columns / scale)``.

    Returns:
        ``(T, ceil(Rows / scale), ceil(Columns / scale), 3)`` uint8 RGB, with ``scale`` 1 the pixels
        pydicom's Pillow plugin returns; or None when this path does not apply (see the module
        docstring): the caller decodes with pydicom instead. Never raises for a bad file.

    Raises:
        ValueError: ``scale`` not in :data:`SCALES` (a caller's mistake).
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale}")
    try:
        return _decode(ds, scale)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception:  # a broken frame or header: pydicom's decoders decide and explain
        return None


def _decode(ds, scale: int) -> np.ndarray | None:
    from PIL import Image, ImageFile
    from pydicom.encaps import generate_frames

    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if (syntax not in SYNTAXES or photometric not in PHOTOMETRICS or int(ds.get("SamplesPerPixel", 0)) != 3
            or int(ds.get("BitsAllocated", 0)) != 8 or ImageFile.LOAD_TRUNCATED_IMAGES):
        return None
    rows, cols, count = int(ds.Rows), int(ds.Columns), int(ds.get("NumberOfFrames") or 1)
    shape = (-(-rows // scale), -(-cols // scale))
    out = np.empty((count, *shape, 3), np.uint8)
    seen = 0
    for data in generate_frames(ds.PixelData, number_of_frames=count):
        if seen == count:
            return None
        image = Image.open(io.BytesIO(data), formats=["JPEG"])
        if image.mode != "RGB" or image.size != (cols, rows) or _rgb_components(image):
            return None
        if scale > 1:  # Pillow picks the factor from (size // requested): ask for the floor
            image.draft("RGB", (max(1, cols // scale), max(1, rows // scale)))
            if image.size != (shape[1], shape[0]):
                return None
        out[seen] = np.asarray(image)  # decodes; raises on a truncated or corrupt frame
        seen += 1
    return out if seen == count else None
