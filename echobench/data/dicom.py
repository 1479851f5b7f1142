"""Reading echo DICOM cine loops and turning them into square clips (EchoNet-format AVIs).

Follows the idea of EchoNet-Dynamic's DICOM-to-AVI notebook (echonet/dynamic,
``scripts/ConvertDICOMToAVI.ipynb``): keep only the ultrasound sector, pad it square, resize.
From the header: the imaging region is the largest Region Spatial Format 1 (2D) item of the Sequence of
Ultrasound Regions (DICOM PS3.3 C.8.5.5; Max X1/Y1 are inclusive, our boxes ``(x0, y0, x1, y1)`` are
half-open); the frame rate is 1000 / Frame Time (ms), else 1000 / mean Frame Time Vector increment,
else Cine Rate, else Recommended Display Frame Rate (PS3.3 C.7.6.5 Cine module; frames/s).

Pixels are decoded by pydicom's decoders (pylibjpeg/Pillow plugins for JPEG, JPEG-LS, JPEG 2000;
Pillow first for JPEG Baseline/Extended, see :data:`PREFERRED_PLUGINS`), except the YBR_FULL(_422)
JPEG frames most echo loops hold: libjpeg-turbo decodes and converts those itself, the same pixels 6x
faster (:mod:`echobench.data.dicom_jpeg`), and with ``reduce_to`` at 1/2 or 1/4 size when the clip
is that much smaller than the ultrasound region (DCT scaling; :attr:`DicomCine.scale`).
pydicom 3 converts YBR_FULL(_422) to RGB by default; the decoder's metadata is checked and
:func:`pydicom.pixels.convert_color_space` applied if it did not. PALETTE COLOR goes through its LUT;
MONOCHROME1/2 becomes three equal channels (MONOCHROME1 inverted); other than uint8 is stretched
min..max to uint8. Frames are always ``(T, H, W, 3)`` uint8 RGB.

What reaches a clip (:func:`framing`): the crop box (header region, else
:func:`echobench.data.sector.estimate_sector_box`) and, by default, a mask of the scan sector
(:func:`echobench.data.sector.estimate_fan_mask`) outside which every pixel is zero, so burnt-in text
inside the rectangular region is dropped.

Every unusable file raises :class:`DicomError` (a :class:`echobench.errors.DataError`): one line naming
the file and the problem, plus a short ``reason`` without the file name and whether the file is
``skip``-ped on purpose (not DICOM, no pixels, a still, not ultrasound) or failed to decode. Anything
unexpected that pydicom or a decoder raises on a malformed file becomes a :class:`DicomError` too.
No patient identifier from the header appears in a message or return value: pydicom's warnings and
log records (which can quote values) are silenced while reading and decoder messages are scrubbed of
identifying values. ``warnings.catch_warnings`` is process-global: read from one thread at a time
(processes are fine).
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from echobench.data.sector import estimate_fan_mask, estimate_sector_box
from echobench.errors import DataError

Box = tuple[int, int, int, int]

#: Largest decoded pixel array :func:`read_dicom_cine` accepts by default (bytes, from the header's
#: Rows x Columns x frames x samples x bytes per sample): guards against absurd or corrupt headers.
MAX_DECODED_BYTES = 8 << 30

CROPS = ("region", "none")
#: ``burned_in`` policies: mask outside the scan sector; refuse files flagged BurnedInAnnotation YES
#: (and mask the rest); keep every pixel of the box.
BURNED_IN = ("mask", "skip", "keep")

# Elements identifying a patient, study or person: their values are scrubbed from decoder messages.
_IDENTIFYING = (
    "PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "PatientBirthTime", "PatientAddress",
    "PatientTelephoneNumbers", "AccessionNumber", "StudyID", "StudyDate", "SeriesDate", "AcquisitionDate",
    "ContentDate", "InstanceCreationDate", "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime",
    "AcquisitionDateTime", "InstitutionName", "InstitutionAddress", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "StationName", "DeviceSerialNumber", "StudyInstanceUID",
    "SeriesInstanceUID", "SOPInstanceUID",
)


class DicomError(DataError):
    """A DICOM file that cannot be turned into a clip.

    ``str()`` is one line naming the file and the problem (with a scrubbed detail). ``reason`` is the
    problem alone: short, without the file name or any header value that could identify a person, so
    it can be counted across a batch. ``skip`` is True when the file is deliberately not converted
    (not DICOM, no pixel data, too few frames, not ultrasound) and False when it could not be read or
    decoded.
    """

    def __init__(self, name: str, reason: str, *, skip: bool = False, detail: str = "") -> None:
        super().__init__(f"{name}: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = " ".join(reason.split())
        self.skip = skip


@dataclass(frozen=True)
class DicomCine:
    """A decoded cine loop (no header values beyond those below are kept).

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 RGB.
        fps: frames/s from the header (see the module docstring), ``None`` if absent.
        region: half-open ``(x0, y0, x1, y1)`` largest 2D ultrasound region, ``None`` if absent.
        modality: the Modality attribute (``"US"`` for echo; ``""`` if absent).
        photometric: the original Photometric Interpretation (before conversion to RGB).
        burned_in: the Burned In Annotation attribute, ``"YES"``, ``"NO"`` or ``""`` if absent.
        notes: recoverable oddities met while reading (short, header-value free), e.g. a stray
            delimiter or a header region that does not fit the image (then ``region`` is None).
        scale: source pixels per frame pixel along each side: 1, or 2 or 4 when the frames were
            decoded reduced (``reduce_to``); ``frames`` and ``region`` are then in reduced pixels.
    """

    frames: np.ndarray
    fps: float | None
    region: Box | None
    modality: str
    photometric: str
    burned_in: str = ""
    notes: tuple[str, ...] = ()
    scale: int = 1


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence pydicom's warnings and log records (both can quote header values) for the block."""
    logger = logging.getLogger("pydicom")
    was_disabled = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = was_disabled


def _values(value) -> list:
    """A header value as a list (multi-valued elements are iterable, single values are not)."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]


def _scrub(message: str, ds) -> str:
    """Remove identifying header values from a message; one line, at most 300 characters."""
    for keyword in _IDENTIFYING:
        try:
            texts = [str(v) for v in _values(ds.get(keyword))] if ds is not None else []
        except Exception:  # a malformed element cannot be read: it cannot be scrubbed either
            return "details withheld"
        for text in texts:
            if len(text.strip()) >= 2:
                message = message.replace(text, "[redacted]")
    return " ".join(message.split())[:300]


def _word(value, limit: int = 64) -> str:
    """A header value (transfer syntax name, modality, photometric) made safe to show in a reason:
    printable ASCII letters, digits and ``. _-/()`` only, at most ``limit`` characters."""
    text = re.sub(r"[^A-Za-z0-9 ._\-/()]", "?", " ".join(str(value).split()))
    return text[:limit] or "?"


def _positive(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _header_fps(ds) -> float | None:
    frame_time = _positive(ds.get("FrameTime"))
    if frame_time:
        return 1000.0 / frame_time
    vector = _values(ds.get("FrameTimeVector"))  # ms since the previous frame; the first is 0
    increments = [v for v in map(_positive, vector[1:] if len(vector) > 1 else vector) if v]
    if increments:
        return 1000.0 / (sum(increments) / len(increments))
    rates = map(_positive, (ds.get("CineRate"), ds.get("RecommendedDisplayFrameRate")))  # frames/s
    return next((rate for rate in rates if rate), None)


def _clip(box, height: int, width: int) -> Box | None:
    """``box`` clipped to a ``width`` x ``height`` image, or None when nothing is left."""
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _header_region(ds, height: int, width: int) -> tuple[Box | None, str | None]:
    """The largest 2D ultrasound region as ``(box, None)``; ``(None, note)`` when a 2D region lies
    outside the ``width`` x ``height`` image (a reduced or cropped copy that kept the original's
    regions: clipping it would cut the sector, so the caller estimates it from the pixels)."""
    boxes = []
    for item in _safe(ds, "SequenceOfUltrasoundRegions") or []:
        try:  # Max X1/Y1 are inclusive (PS3.3 C.8.5.5.1.1); 1 = 2D spatial format
            if item.get("RegionSpatialFormat") == 1:
                boxes.append((int(item.RegionLocationMinX0), int(item.RegionLocationMinY0),
                              int(item.RegionLocationMaxX1) + 1, int(item.RegionLocationMaxY1) + 1))
        except Exception:  # a malformed item: ignored like a missing one
            continue
    if any(x0 < 0 or y0 < 0 or x1 > width or y1 > height for x0, y0, x1, y1 in boxes):
        return None, f"header ultrasound region exceeds the {width}x{height} image: sector estimated from the pixels"
    boxes = [box for box in map(lambda b: _clip(b, height, width), boxes) if box]
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), default=None), None


def _safe(ds, keyword: str, default=None):
    """``ds.get(keyword)``, or ``default`` when the element is malformed (its value cannot be
    converted): an optional attribute that cannot be read is treated as absent, never costs the file."""
    try:
        return ds.get(keyword, default)
    except Exception:
        return default


def _stray_delimiters(ds) -> int:
    """Remove top-level item / delimitation elements (group FFFE, e.g. a trailing Sequence Delimitation
    Item (FFFE,E0DD) after the pixel data, seen on ACUSON Sequoia cines); returns how many."""
    stray = [tag for tag in ds.keys() if tag.group == 0xFFFE]
    for tag in stray:
        del ds[tag]
    return len(stray)


def _ends_short(ds, path: Path) -> bool:
    """True when the last element read claims more bytes than the file holds (pydicom reads short).
    Any element pydicom cannot describe counts as not short: only the pixel decoder decides then."""
    tags = list(ds.keys())
    if not tags:
        return True  # nothing after the preamble/file meta
    try:
        raw = ds.get_item(tags[-1])  # elements are read in tag order: this one was read last
        tell, length = getattr(raw, "value_tell", None), getattr(raw, "length", None)
        return tell is not None and length not in (None, 0xFFFFFFFF) and tell + length > path.stat().st_size
    except Exception:
        return False


def _minmax_uint8(arr: np.ndarray) -> np.ndarray:
    """Stretch any numeric array to uint8 over its global min..max (constant input gives zeros)."""
    arr = arr.astype(np.float64)
    low, high = float(arr.min()), float(arr.max())
    if high <= low:
        return np.zeros(arr.shape, np.uint8)
    return np.round((arr - low) * (255.0 / (high - low))).astype(np.uint8)


def _to_rgb(arr: np.ndarray, photometric: str, ds, name: str) -> np.ndarray:
    """``(T, H, W[, S])`` decoded pixels in ``photometric`` -> ``(T, H, W, 3)`` uint8 RGB."""
    from pydicom.pixels import apply_color_lut, convert_color_space

    if photometric in ("YBR_FULL", "YBR_FULL_422"):  # decoder left it as YCbCr: convert explicitly
        arr = convert_color_space(arr, "YBR_FULL", "RGB")
        photometric = "RGB"
    if photometric == "PALETTE COLOR":
        try:
            arr = apply_color_lut(arr, ds)
        except Exception as exc:
            detail = f"{type(exc).__name__}: {_scrub(str(exc), ds)}"
            raise DicomError(name, "cannot apply the palette colour LUT", detail=detail) from exc
        if arr.dtype != np.uint8:  # 16-bit LUT entries: keep the high byte
            arr = (arr >> 8).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
        return np.ascontiguousarray(arr[..., :3])
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        grey = arr if arr.dtype == np.uint8 else _minmax_uint8(arr)
        if photometric == "MONOCHROME1":
            grey = 255 - grey
        return np.repeat(grey[..., None], 3, axis=-1)
    # J2K YBR_ICT/YBR_RCT are returned as RGB by the decoder (the inverse MCT is part of decoding).
    if photometric in ("RGB", "YBR_ICT", "YBR_RCT") and arr.ndim == 4 and arr.shape[-1] == 3:
        return arr if arr.dtype == np.uint8 else _minmax_uint8(arr)
    samples = arr.shape[-1] if arr.ndim == 4 else 1
    raise DicomError(name, f"unsupported photometric interpretation {_word(photometric, 24)!r}",
                     detail=f"{samples} samples/pixel")


def _read_dataset(path: Path, name: str):
    """``dcmread`` (call inside :func:`_quiet`): ``(ds, truncated, notes)``."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not path.is_file():
        raise DicomError(name, "DICOM file not found")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path)
        except InvalidDicomError as exc:
            raise DicomError(name, "not a DICOM file", skip=True,
                             detail="no 'DICM' prefix after the 128-byte preamble") from exc
        except (EOFError, OSError) as exc:
            raise DicomError(name, "DICOM file is truncated or unreadable", detail=type(exc).__name__) from exc
        except Exception as exc:  # pydicom's parsing errors; their text may quote header values
            raise DicomError(name, "cannot parse the DICOM header", detail=type(exc).__name__) from exc
    stray = _stray_delimiters(ds)
    truncated = any("end of file" in str(w.message).lower() for w in caught) or _ends_short(ds, path)
    return ds, truncated, (f"{stray} stray delimiter element(s) (FFFE,xxxx) ignored",) if stray else ()


def _count(value) -> int | None:
    """A non-negative integer header value, or None when absent or not a number."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _burned_in(ds) -> str:
    return str(_safe(ds, "BurnedInAnnotation", "") or "").strip().upper()


def _check_header(ds, name: str, *, min_frames: int, modality: str | None, max_bytes: int,
                  refuse_burned_in: bool = False) -> None:
    """Reject, before decoding, what the header already shows is unwanted or impossible."""
    if modality is not None:
        found = str(_safe(ds, "Modality", "") or "").strip()
        if found != modality:
            what = f"Modality {_word(found, 16)}" if found else "no Modality"
            raise DicomError(name, f"not {'ultrasound' if modality == 'US' else modality} ({what})", skip=True)
    if refuse_burned_in and _burned_in(ds) == "YES":
        raise DicomError(name, "burnt-in annotation (BurnedInAnnotation YES)", skip=True)
    header_frames = _count(_safe(ds, "NumberOfFrames")) or 1
    if header_frames < min_frames:
        raise DicomError(name, _few_frames_reason(header_frames, min_frames), skip=True,
                         detail=f"the header announces {header_frames} frame(s)")
    rows, cols = _count(ds.get("Rows")) or 0, _count(ds.get("Columns")) or 0
    samples, bits = _count(ds.get("SamplesPerPixel")) or 1, _count(ds.get("BitsAllocated")) or 8
    size = rows * cols * header_frames * samples * max(1, -(-bits // 8))
    if size > max_bytes:
        raise DicomError(name, "image too large to decode",
                         detail=f"{header_frames} frames of {rows}x{cols}x{samples}: {size / 2**30:.1f} GiB")


def _few_frames_reason(frames: int, min_frames: int) -> str:
    return "single-frame image (a still)" if frames <= 1 else f"fewer than {min_frames} frames"


#: Transfer syntaxes newer than pydicom 3.0's UID dictionary (DICOM PS3.6 Table A-1, 2024).
_SYNTAX_NAMES = {
    "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
    "1.2.840.10008.1.2.8.1": "Deflated Image Frame Compression",
}


#: Decoder plugin tried first per transfer syntax (when installed; every available plugin is tried if it
#: fails). JPEG Baseline/Extended: Pillow (libjpeg-turbo) decodes the real 120-frame 480x640 loop of
#: pydicom-data in 1.54 CPU-s against pylibjpeg's 3.10 (medians of 3 interleaved rounds, 2.0x, on a
#: 2-core machine under load ~21), its RGB pixels differing by at most 5 of 255, mean 0.024
#: (benchmarks/test_dicom_decode.py; the bound :data:`JPEG_PLUGIN_MAX_DIFF` is tested on real loops).
PREFERRED_PLUGINS = {
    "1.2.840.10008.1.2.4.50": "pillow",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51": "pillow",  # JPEG Extended (Process 2 & 4)
}
#: Largest |difference| (of 255, any channel) between the preferred plugin's pixels and pylibjpeg's.
JPEG_PLUGIN_MAX_DIFF = 8


def _syntax_label(syntax) -> str:
    """A transfer syntax by name and UID, e.g. ``"JPEG XL JPEG Recompression (1.2.840.10008.1.2.4.111)"``
    (names from pydicom, else :data:`_SYNTAX_NAMES`); the UID alone when neither knows it;
    ``"(an invalid UID)"`` for a malformed one."""
    if not syntax.is_valid:
        return "(an invalid UID)"
    uid = _word(str(syntax))
    name = _SYNTAX_NAMES.get(str(syntax)) or _word(syntax.name)
    return uid if name == uid else f"{name} ({uid})"


def _decode(ds, name: str, truncated: bool):
    """Decode all frames with pydicom's decoder for the transfer syntax: ``(array, metadata)``."""
    from pydicom.pixels import get_decoder

    syntax = getattr(ds, "file_meta", None) and ds.file_meta.get("TransferSyntaxUID")
    if not syntax:
        raise DicomError(name, "DICOM file meta has no Transfer Syntax UID")
    label = _syntax_label(syntax)
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise DicomError(name, f"no pixel data decoder exists for transfer syntax {label}") from exc
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
        raise DicomError(name, f"no installed decoder for transfer syntax {label}", detail=f"needs {needs}")
    preferred = PREFERRED_PLUGINS.get(str(syntax), "")
    try:
        if preferred in decoder.available_plugins:
            try:
                return decoder.as_array(ds, decoding_plugin=preferred)  # YBR_FULL(_422) -> RGB (as_rgb)
            except MemoryError:
                raise
            except Exception:  # the other plugins may still read it
                pass
        return decoder.as_array(ds)  # every available plugin in turn
    except MemoryError as exc:
        raise DicomError(name, "image too large to decode", detail="out of memory") from exc
    except Exception as exc:
        reason = "pixel data is truncated or corrupt" if truncated else "cannot decode pixel data"
        raise DicomError(name, reason, detail=f"{type(exc).__name__}: {_scrub(str(exc), ds)}") from exc


def read_dicom_cine(
    path: str | os.PathLike,
    *,
    min_frames: int = 2,
    modality: str | None = None,
    max_bytes: int = MAX_DECODED_BYTES,
    refuse_burned_in: bool = False,
    reduce_to: int | None = None,
    crop: str = "region",
) -> DicomCine:
    """Read and decode a (multi-frame) DICOM image, e.g. an echo cine loop.

    Args:
        path: a DICOM Part 10 file.
        min_frames: fewest frames accepted; pass 1 to accept single-frame stills.
        modality: if given (e.g. ``"US"``), files whose Modality differs are rejected before decoding.
        max_bytes: largest decoded pixel array accepted (from the header, before decoding).
        refuse_burned_in: reject (``skip``) files whose BurnedInAnnotation is YES, before decoding.
        reduce_to: the side (pixels) of the clip the frames will be resized to, or None (full size).
            Given, JPEG YBR frames are decoded at 1/s (s = 2 or 4; :func:`dicom_jpeg.draft_scale`)
            when the crop (``crop``: the header's ultrasound region, or the whole frame for
            ``"none"``) keeps at least ``reduce_to`` pixels across; without a usable header region
            the crop is estimated from the pixels and the frames stay full size. The clip then
            differs from the full-size path's by the bound tested in tests/data/test_dicom_jpeg.py.
        crop: the crop :func:`framing` will use (``"region"`` or ``"none"``), for ``reduce_to``.

    Recoverable oddities do not cost the file: stray top-level delimiters (group FFFE) are dropped,
    an optional attribute that cannot be parsed counts as absent, a header region that does not fit
    the image is ignored; each is listed in ``DicomCine.notes``. Only a file whose pixels cannot be
    decoded (or that is rejected on purpose) raises.

    Returns:
        :class:`DicomCine` with frames ``(T, H, W, 3)`` uint8 RGB (``H, W`` divided by
        :attr:`DicomCine.scale`, rounded up).

    Raises:
        DicomError: (a ``DataError``) missing file, not DICOM, truncated or malformed, no pixel data,
            another modality, no (installed) decoder for the transfer syntax, undecodable pixels,
            unsupported photometric interpretation, too large, fewer than ``min_frames`` frames, or
            burnt-in annotation with ``refuse_burned_in``.
            Any other exception raised while parsing a malformed file is turned into one.
        ValueError: ``crop`` not one of :data:`CROPS` or ``reduce_to < 1`` (a caller's mistake).
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
    if reduce_to is not None and reduce_to < 1:
        raise ValueError(f"reduce_to must be >= 1, got {reduce_to}")
    path = Path(path)
    name = str(path)
    with _quiet():
        try:
            return _read_cine(path, name, min_frames=min_frames, modality=modality, max_bytes=max_bytes,
                              refuse_burned_in=refuse_burned_in, reduce_to=reduce_to, crop=crop)
        except DataError:
            raise
        except MemoryError as exc:
            raise DicomError(name, "image too large to decode", detail="out of memory") from exc
        except Exception as exc:  # a malformed element met after parsing (values are converted lazily)
            raise DicomError(name, "malformed DICOM file", detail=type(exc).__name__) from exc


def _draft_scale(region: Box | None, rows: int, cols: int, reduce_to: int | None, crop: str) -> int:
    """How much smaller the JPEG frames may be decoded (see ``reduce_to`` of :func:`read_dicom_cine`)."""
    from echobench.data.dicom_jpeg import draft_scale

    if reduce_to is None or (crop == "region" and region is None):
        return 1
    x0, y0, x1, y1 = region if crop == "region" and region is not None else (0, 0, cols, rows)
    return draft_scale(max(x1 - x0, y1 - y0), reduce_to)


def _scaled(box: Box | None, scale: int, rows: int, cols: int) -> Box | None:
    """A half-open box of source pixels in the pixels of frames decoded at 1/``scale`` (outward)."""
    if box is None or scale == 1:
        return box
    x0, y0, x1, y1 = box
    return _clip((x0 // scale, y0 // scale, -(-x1 // scale), -(-y1 // scale)), -(-rows // scale), -(-cols // scale))


def _read_cine(path: Path, name: str, *, min_frames: int, modality: str | None, max_bytes: int,
               refuse_burned_in: bool, reduce_to: int | None = None, crop: str = "region") -> DicomCine:
    from echobench.data.dicom_jpeg import decode_jpeg_frames

    ds, truncated, notes = _read_dataset(path, name)
    if "PixelData" not in ds:
        if truncated:
            raise DicomError(name, "DICOM file is truncated", detail="it ends inside a data element")
        raise DicomError(name, "DICOM file has no pixel data", skip=True, detail="no PixelData element")
    _check_header(ds, name, min_frames=min_frames, modality=modality, max_bytes=max_bytes,
                  refuse_burned_in=refuse_burned_in)
    photometric = str(_safe(ds, "PhotometricInterpretation", "")).strip()
    rows, cols = _count(_safe(ds, "Rows")) or 0, _count(_safe(ds, "Columns")) or 0
    region, region_note = _header_region(ds, rows, cols)
    scale = _draft_scale(region, rows, cols, reduce_to, crop)
    frames = decode_jpeg_frames(ds, scale=scale)  # None: not a JPEG YBR loop libjpeg-turbo decodes alone
    if frames is None:
        scale = 1
        arr, meta = _decode(ds, name, truncated)
        rows, cols, n_frames = int(meta["rows"]), int(meta["columns"]), int(meta.get("number_of_frames") or 1)
        if n_frames * rows * cols == 0 or arr.size % (n_frames * rows * cols):
            raise DicomError(name, "decoded pixel data does not match the header",
                             detail=f"{arr.shape} is not {n_frames} frame(s) of {rows}x{cols}")
        arr = arr.reshape(n_frames, rows, cols, -1)
        arr = arr[..., 0] if arr.shape[-1] == 1 else arr
        frames = _to_rgb(arr, str(meta.get("photometric_interpretation", photometric)), ds, name)
        region, region_note = _header_region(ds, rows, cols)
    if len(frames) < min_frames:
        raise DicomError(name, _few_frames_reason(len(frames), min_frames), skip=True,
                         detail=f"DICOM image has {len(frames)} frame(s), need at least {min_frames}")
    try:
        fps = _header_fps(ds)
    except Exception:  # a malformed timing element: treated as no timing
        fps, notes = None, (*notes, "frame timing unreadable: treated as absent")
    return DicomCine(
        frames=np.ascontiguousarray(frames),
        fps=fps,
        region=_scaled(region, scale, rows, cols),
        modality=str(_safe(ds, "Modality", "") or ""),
        photometric=photometric,
        burned_in=_burned_in(ds),
        notes=(*notes, *([region_note] if region_note else [])),
        scale=scale,
    )


def crop_to_region(frames: np.ndarray, region: Box) -> np.ndarray:
    """Crop ``(T, H, W[, C])`` frames to the half-open box ``(x0, y0, x1, y1)``, clipped to the image.

    Raises ValueError if nothing is left."""
    box = _clip(region, *frames.shape[1:3])
    if box is None:
        raise ValueError(f"region {tuple(region)} is empty inside a {frames.shape[2]}x{frames.shape[1]} image")
    return frames[:, box[1] : box[3], box[0] : box[2]]


@dataclass(frozen=True)
class Framing:
    """What of a cine's frames reaches the clip.

    Attributes:
        box: half-open ``(x0, y0, x1, y1)`` crop, pixels.
        box_source: ``"header"`` (ultrasound region), ``"estimate"`` (:func:`estimate_sector_box`) or
            ``"whole frame"`` (``crop="none"``).
        mask: ``(H, W)`` bool, True = kept (the scan sector, :func:`estimate_fan_mask`), or None
            when every pixel of the box is kept.
        mask_source: ``"fan"`` (masked outside the scan sector), ``"none"`` (``burned_in="keep"``) or
            ``"fan not found"`` (nothing varies over the loop, or too little: kept unmasked).
        notes: short header-value-free notes (the cine's own notes, a fan that was not found).
    """

    box: Box
    box_source: str
    mask: np.ndarray | None
    mask_source: str
    notes: tuple[str, ...] = ()

    @property
    def kept_fraction(self) -> float:
        """Share of the box's pixels that are kept (1.0 without a mask)."""
        if self.mask is None:
            return 1.0
        x0, y0, x1, y1 = self.box
        return float(self.mask[y0:y1, x0:x1].mean())


def framing(cine: DicomCine, *, crop: str = "region", burned_in: str = "mask") -> Framing:
    """Choose the crop box and the burnt-in-text mask of a cine.

    ``crop="region"``: the header's ultrasound region, else (absent, or larger than the image, see
    :attr:`DicomCine.notes`) :func:`estimate_sector_box` over all frames; ``crop="none"``: the whole
    frame. ``burned_in`` ``"mask"`` or ``"skip"``: pixels of the box outside the scan sector
    (:func:`estimate_fan_mask`, where intensity varies over the loop) are set to zero, so static
    text, scales and markers drawn inside the rectangular region do not reach the clip (as in
    EchoNet-Dynamic's preprocessing); ``"keep"``: no mask. (``"skip"``'s refusal of files flagged
    BurnedInAnnotation YES happens when reading, see :func:`read_dicom_cine`.)

    Raises ValueError for another ``crop`` or ``burned_in``.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
    if burned_in not in BURNED_IN:
        raise ValueError(f"burned_in must be one of {', '.join(BURNED_IN)}, got {burned_in!r}")
    height, width = cine.frames.shape[1:3]
    if crop == "none":
        box, source = (0, 0, width, height), "whole frame"
    elif cine.region is not None:
        box, source = cine.region, "header"
    else:
        box, source = estimate_sector_box(cine.frames), "estimate"
    notes = tuple(cine.notes)
    if burned_in == "keep":
        return Framing(box, source, None, "none", notes)
    # the opening removes specks narrower than ~5 source pixels (6 at 1/2 scale, 12 at 1/4)
    mask = estimate_fan_mask(cine.frames, box, opening=2 if cine.scale == 1 else 1)
    if mask is None:
        return Framing(box, source, None, "fan not found", (*notes, "no scan sector found: not masked"))
    return Framing(box, source, mask, "fan", notes)


def _masked_square(frames: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``(T, H, W, C)`` zero-padded to ``(T, S, S, C)``, S = max(H, W), the content centred, and set to
    zero where ``mask`` (``(H, W)`` bool, optional) is False: one new array (none when square, unmasked)."""
    t, h, w, c = frames.shape
    if h == w and mask is None:
        return frames
    out = np.zeros((t, max(h, w), max(h, w), c), frames.dtype)
    top, left = (max(h, w) - h) // 2, (max(h, w) - w) // 2
    inner = out[:, top : top + h, left : left + w]
    if mask is None:
        inner[...] = frames
    else:
        # the mask repeated over channels: numpy then runs whole rows in its inner loop (26x faster
        # than broadcasting a (H, W, 1) mask, whose inner loop is the 3 channels)
        np.multiply(frames, np.repeat(mask[:, :, None].astype(frames.dtype), c, axis=2), out=inner)
    return out


#: Largest |difference| (of 255) between ``square_resize(..., fast=True)`` and the float32 path.
FAST_RESIZE_MAX_DIFF = 1


def square_resize(frames: np.ndarray, box: Box, *, size: int, chunk: int = 32,
                  mask: np.ndarray | None = None, fast: bool = False) -> np.ndarray:
    """Crop ``(T, H, W, 3)`` uint8 frames to ``box``, zero-pad to a centred square, resize to ``size``.

    ``mask`` (``(H, W)`` bool, optional): pixels where it is False are set to zero before resizing.
    Resizing is bilinear with antialiasing (``torch.nn.functional.interpolate``, CPU, deterministic),
    done ``chunk`` frames at a time to bound memory: on float32 copies, rounded (default), or with
    ``fast`` on the uint8 frames themselves (torch's uint8 channels-last kernel, fixed-point weights,
    ~10x less CPU), which differs from the float32 result by at most :data:`FAST_RESIZE_MAX_DIFF`
    (tested). Returns ``(T, size, size, 3)`` uint8.
    Raises ValueError for ``size < 1`` or an empty box.
    """
    import torch
    import torch.nn.functional as F

    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    cropped = crop_to_region(frames, box)
    square = _masked_square(cropped, None if mask is None else crop_to_region(mask[None], box)[0])
    out = np.empty((len(square), size, size, 3), np.uint8)
    for start in range(0, len(square), chunk):
        block = torch.from_numpy(np.ascontiguousarray(square[start : start + chunk])).permute(0, 3, 1, 2)
        if block.shape[-1] == size:
            out[start : start + chunk] = square[start : start + chunk]
            continue
        if fast:  # the permuted view is channels-last: torch's uint8 antialiased kernel reads it in place
            block = F.interpolate(block, (size, size), mode="bilinear", align_corners=False, antialias=True)
        else:
            block = F.interpolate(block.float(), (size, size), mode="bilinear", align_corners=False,
                                  antialias=True).round().clamp(0, 255).to(torch.uint8)
        out[start : start + chunk] = block.permute(0, 2, 3, 1).numpy()
    return out


def resample_indices(n_frames: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """Source frame indices that resample a loop from ``src_fps`` to ``dst_fps`` (frames/s).

    The loop lasts ``n_frames / src_fps`` s; the output keeps that duration with
    ``max(1, round(n_frames * dst_fps / src_fps))`` frames, output frame ``k`` (at ``k / dst_fps`` s)
    being the nearest source frame, ``round(k * src_fps / dst_fps)``, clipped to the last one.
    (Nearest-frame resampling, no blending, so every output frame is a real acquired image.)

    Returns ``(T_out,)`` int64, non-decreasing. Raises ValueError for a non-positive argument.
    """
    if n_frames < 1 or not (src_fps > 0 and dst_fps > 0 and math.isfinite(src_fps) and math.isfinite(dst_fps)):
        raise ValueError(f"need n_frames >= 1 and finite rates > 0, got {n_frames}, {src_fps}, {dst_fps}")
    count = max(1, int(math.floor(n_frames * dst_fps / src_fps + 0.5)))
    index = np.floor(np.arange(count) * (src_fps / dst_fps) + 0.5).astype(np.int64)
    return np.minimum(index, n_frames - 1)


def cine_to_clip(cine: DicomCine, *, size: int, fps: float | None, crop: str = "region",
                 burned_in: str = "mask", chosen: Framing | None = None, fast: bool = False) -> np.ndarray:
    """A square clip from a cine loop: cropped and masked (:func:`framing`, or ``chosen`` when the
    caller has it), resampled in time to ``fps`` (:func:`resample_indices`; kept frame for frame when
    ``fps`` or the loop's own rate is None), and resized (:func:`square_resize`, ``fast`` passed on).
    Only the frames kept are resized.

    Returns ``(T_out, size, size, 3)`` uint8 RGB.
    """
    chosen = chosen or framing(cine, crop=crop, burned_in=burned_in)  # the estimates look at every frame
    if fps is None or cine.fps is None:
        return square_resize(cine.frames, chosen.box, size=size, mask=chosen.mask, fast=fast)
    kept, where = np.unique(resample_indices(len(cine.frames), cine.fps, fps), return_inverse=True)
    frames = cine.frames if len(kept) == len(cine.frames) else cine.frames[kept]  # kept is sorted, unique
    return square_resize(frames, chosen.box, size=size, mask=chosen.mask, fast=fast)[where]
