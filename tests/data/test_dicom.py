"""Tests for echobench.data.dicom on real echo DICOM loops (pydicom-data, deid-data) and tiny
synthetic files built here with pydicom."""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    MPEG2MPML,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from echobench.data.dicom import (
    DicomCine,
    DicomError,
    _scrub,
    _to_rgb,
    cine_to_clip,
    crop_to_region,
    estimate_sector_box,
    framing,
    read_dicom_cine,
    resample_indices,
)
from echobench.data.video import probe_video, read_video
from echobench.errors import DataError
from tests.helpers import dicom_to_avi

# Patient identifiers planted in synthetic files: none may show up in a message or return value.
PHI = {"PatientName": "Zyxwoman^Quilla", "PatientID": "PID-7731942", "PatientBirthDate": "19380417",
       "AccessionNumber": "ACC-55119", "StudyDate": "20190923", "InstitutionName": "Hospital Qwertz"}


def _testdata(name: str) -> Path:
    path = get_testdata_file(name, download=False)  # never touch the network
    if path is None:
        pytest.fail(f"{name} not found: install the test dependency pydicom-data")
    return Path(path)


def _deid_ultrasounds() -> Path:
    try:
        import deid_data
    except ImportError:
        pytest.fail("deid-data is not installed (a test dependency)")
    return Path(os.path.dirname(deid_data.__file__)) / "data" / "ultrasounds"


@pytest.fixture(scope="module")
def real_path() -> Path:
    return _testdata("color3d_jpeg_baseline.dcm")


@pytest.fixture(scope="module")
def real_cine(real_path) -> DicomCine:
    return read_dicom_cine(real_path)


def _write(path: Path, pixels: np.ndarray | None = None, *, photometric: str = "MONOCHROME2",
           bits: int = 8, **attrs) -> Path:
    """A small Part 10 US file with planted identifiers and, optionally, native pixel data."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.Modality = "US"
    for key, value in PHI.items():
        setattr(ds, key, value)
    if pixels is not None:
        ds.set_pixel_data(pixels, photometric, bits)
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def _region(x0, y0, x1, y1, spatial_format=1) -> Dataset:
    item = Dataset()
    item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = spatial_format, 1, 0
    item.RegionLocationMinX0, item.RegionLocationMinY0 = x0, y0
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x1, y1
    return item


def _error(path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        read_dicom_cine(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and Path(path).name in message
    assert not any(value in message for value in PHI.values())
    return message


# --- the real JPEG Baseline YBR_FULL_422 echo loop from pydicom-data ---------------------------------


def test_real_cine_header_and_pixels(real_cine):
    frames = real_cine.frames
    assert frames.shape == (120, 480, 640, 3) and frames.dtype == np.uint8
    assert real_cine.modality == "US" and real_cine.photometric == "YBR_FULL_422"
    assert real_cine.fps == pytest.approx(1000 / 33.333)  # FrameTime 33.333 ms
    assert real_cine.region == (84, 31, 596, 415)  # inclusive MaxX1/MaxY1 595/414 -> half-open
    x0, y0, x1, y1 = real_cine.region
    sector = frames[:, y0:y1, x0:x1].astype(np.int16)
    assert 5 < sector.mean() < 250
    # B-mode is grey: after YCbCr -> RGB the three channels agree; left as YCbCr they would not.
    assert ((sector.max(-1) - sector.min(-1)) <= 10).mean() > 0.95


def test_estimate_sector_box_on_real_cine(real_cine):
    x0, y0, x1, y1 = estimate_sector_box(real_cine.frames)
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480
    assert x1 - x0 > 200 and y1 - y0 > 200
    rx0, ry0, rx1, ry1 = real_cine.region  # the estimate lies (nearly) within the header's region
    inter = max(0, min(x1, rx1) - max(x0, rx0)) * max(0, min(y1, ry1) - max(y0, ry0))
    assert inter / ((x1 - x0) * (y1 - y0)) > 0.9


def test_cine_to_clip_is_deterministic(real_cine):
    short = dataclasses.replace(real_cine, frames=real_cine.frames[:6])
    first, second = cine_to_clip(short, size=112, fps=None), cine_to_clip(short, size=112, fps=None)
    assert first.shape == (6, 112, 112, 3) and first.dtype == np.uint8
    assert np.array_equal(first, second) and first.any()
    assert cine_to_clip(short, size=64, fps=None).shape == (6, 64, 64, 3)


def test_dicom_to_avi_round_trip(real_path, tmp_path):
    dst = tmp_path / "out" / "loop.avi"
    count, fps = dicom_to_avi(real_path, dst)
    assert count == 120 and fps == pytest.approx(30.0, abs=0.01)
    video = read_video(dst)
    assert video.shape == (120, 112, 112, 3)
    assert 5 < video.mean() < 250 and video.max() > 100
    assert probe_video(dst).fps == pytest.approx(30.0, abs=0.01)


# --- synthetic files: colour handling, timing, regions ---------------------------------------------


def test_monochrome1_16bit_is_inverted_and_rescaled(tmp_path):
    pixels = np.zeros((3, 20, 30), np.uint16)
    pixels[:, :, 15:] = 4095
    cine = read_dicom_cine(_write(tmp_path / "m1.dcm", pixels, photometric="MONOCHROME1", bits=12))
    assert cine.frames.shape == (3, 20, 30, 3) and cine.frames.dtype == np.uint8
    assert (cine.frames[:, :, :15] == 255).all() and (cine.frames[:, :, 15:] == 0).all()
    assert cine.fps is None and cine.region is None and cine.photometric == "MONOCHROME1"
    assert not any(value in repr(dataclasses.replace(cine, frames=None)) for value in PHI.values())


@pytest.mark.parametrize(
    ("attrs", "fps"),
    [
        ({"FrameTime": 20.0, "CineRate": 10}, 50.0),
        ({"FrameTimeVector": [0, 40.0, 40.0]}, 25.0),
        ({"CineRate": 18}, 18.0),
        ({"RecommendedDisplayFrameRate": 24}, 24.0),
    ],
)
def test_fps_from_header(tmp_path, attrs, fps):
    cine = read_dicom_cine(_write(tmp_path / "t.dcm", np.zeros((3, 8, 8), np.uint8), **attrs))
    assert cine.fps == pytest.approx(fps)


def test_largest_2d_region_wins_and_padding_is_centred(tmp_path):
    pixels = np.full((2, 40, 60), 200, np.uint8)
    regions = [_region(0, 0, 9, 9), _region(10, 10, 49, 29), _region(0, 0, 59, 39, spatial_format=3)]
    path = _write(tmp_path / "r.dcm", pixels, SequenceOfUltrasoundRegions=regions)
    cine = read_dicom_cine(path)
    assert cine.region == (10, 10, 50, 30)
    assert crop_to_region(cine.frames, cine.region).shape == (2, 20, 40, 3)
    out = cine_to_clip(cine, size=40, fps=None)  # 40x20 crop padded to 40x40: rows 10..29 hold content
    assert (out[:, 12:28] == 200).all() and (out[:, :8] == 0).all() and (out[:, 32:] == 0).all()


def test_no_header_timing_uses_fps_default(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 255, (4, 30, 30), dtype=np.uint8)
    count, fps = dicom_to_avi(_write(tmp_path / "n.dcm", pixels), tmp_path / "n.avi", fps_default=50.0)
    assert (count, fps) == (4, 50.0) and read_video(tmp_path / "n.avi").shape == (4, 112, 112, 3)


def test_ybr_left_by_the_decoder_is_converted():
    ybr = np.zeros((2, 4, 4, 3), np.uint8)
    ybr[..., 0], ybr[..., 1:] = 100, 128  # grey in YCbCr
    assert (_to_rgb(ybr, "YBR_FULL_422", None, "x.dcm") == 100).all()


def test_palette_colour_applies_lut():
    cine = read_dicom_cine(_testdata("OBXXXX1A_2frame.dcm"))
    assert cine.photometric == "PALETTE COLOR" and cine.frames.shape == (2, 600, 800, 3)
    spread = cine.frames.max(-1).astype(int) - cine.frames.min(-1)
    assert spread.max() > 50  # a real colour palette, not grey


def test_estimate_sector_box_falls_back_to_whole_image():
    assert estimate_sector_box(np.zeros((3, 10, 20, 3), np.uint8)) == (0, 0, 20, 10)


def test_resample_indices():
    assert resample_indices(5, 30.0, 30.0).tolist() == [0, 1, 2, 3, 4]
    assert resample_indices(8, 60.0, 30.0).tolist() == [0, 2, 4, 6]
    assert resample_indices(3, 10.0, 30.0).tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert resample_indices(2, 100.0, 30.0).tolist() == [0]
    for n, src, dst in [(30, 18.436, 30.0), (120, 30.0003, 30.0), (64, 73.2, 25.0), (7, 49.9, 50.0)]:
        index = resample_indices(n, src, dst)
        assert abs(len(index) / dst - n / src) <= 0.5 / dst + 1e-9  # the duration is kept
        assert index[0] == 0 and index[-1] <= n - 1 and (np.diff(index) >= 0).all()
        nearest = np.abs(index - np.arange(len(index)) * src / dst) <= 0.5 + 1e-9  # frame k at time k / dst
        assert (nearest | (index == n - 1)).all()
    for bad in [(0, 30.0, 30.0), (5, 0.0, 30.0), (5, 30.0, float("inf"))]:
        with pytest.raises(ValueError):
            resample_indices(*bad)


def test_cine_to_clip_resamples_crops_and_resizes():
    frames = np.zeros((8, 20, 40, 3), np.uint8)
    for i in range(8):
        frames[i, 5:15, 10:30] = 10 * (i + 1)  # the "sector"; vendor text would be outside it
    frames[:, 0:3, 0:8] = 255  # burnt-in text, outside the region
    cine = DicomCine(frames, fps=60.0, region=(10, 5, 30, 15), modality="US", photometric="RGB")
    clip = cine_to_clip(cine, size=16, fps=30.0)
    assert clip.shape == (4, 16, 16, 3) and clip.dtype == np.uint8
    assert clip[:, 8, 8, 0].tolist() == [10, 30, 50, 70]  # frames 0, 2, 4, 6
    assert clip.max() == 70  # the text did not survive the crop
    assert (clip[:, :3] == 0).all() and (clip[:, -3:] == 0).all()  # 20x10 padded to a centred square
    assert cine_to_clip(dataclasses.replace(cine, fps=None), size=16, fps=30.0).shape[0] == 8  # no timing
    whole = cine_to_clip(cine, size=16, fps=None, crop="none", burned_in="keep")
    assert whole.shape == (8, 16, 16, 3) and whole.max() > 200  # the text is kept when asked
    assert cine_to_clip(cine, size=16, fps=None, crop="none").max() == 80  # masked outside the sector
    with pytest.raises(ValueError, match="crop"):
        cine_to_clip(cine, size=16, fps=30.0, crop="sector")


def test_modality_and_size_are_checked_before_decoding(tmp_path):
    path = _write(tmp_path / "ct.dcm", np.zeros((3, 8, 8), np.uint8), Modality="CT")
    assert read_dicom_cine(path).frames.shape == (3, 8, 8, 3)  # no modality asked for
    with pytest.raises(DicomError) as info:
        read_dicom_cine(path, modality="US")
    assert info.value.skip and info.value.reason == "not ultrasound (Modality CT)"
    with pytest.raises(DicomError, match="image too large to decode") as info:
        read_dicom_cine(path, max_bytes=100)
    assert not info.value.skip


def test_reasons_are_short_and_say_skip_or_fail(tmp_path):
    noise = tmp_path / "noise.dcm"
    noise.write_bytes(b"x" * 300)
    cases = {noise: (True, "not a DICOM file"), _write(tmp_path / "nopix.dcm"): (True, "DICOM file has no pixel data"),
             _write(tmp_path / "one.dcm", np.zeros((1, 8, 8), np.uint8)): (True, "single-frame image (a still)"),
             tmp_path / "absent.dcm": (False, "DICOM file not found")}
    for path, (skip, reason) in cases.items():
        with pytest.raises(DicomError) as info:
            read_dicom_cine(path)
        assert (info.value.skip, info.value.reason) == (skip, reason) and path.name in str(info.value)
    with pytest.raises(DicomError) as info:
        read_dicom_cine(_write(tmp_path / "two.dcm", np.zeros((2, 8, 8), np.uint8)), min_frames=3)
    assert info.value.reason == "fewer than 3 frames"


# --- every failure is one DataError line naming the file, with no identifiers ------------------------


def test_not_dicom(tmp_path):
    path = tmp_path / "noise.dcm"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert "not a DICOM file" in _error(path)


def test_missing_file(tmp_path):
    assert "not found" in _error(tmp_path / "absent.dcm")


def test_no_pixel_data(tmp_path):
    assert "no pixel data" in _error(_write(tmp_path / "nopix.dcm"))


@pytest.mark.parametrize("keep", [3000, 0.5])  # cut inside a header element / inside the JPEG frames
def test_truncated_real_file(real_path, tmp_path, keep):
    data = real_path.read_bytes()
    path = tmp_path / "cut_color3d.dcm"
    path.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    assert "truncated" in _error(path)


def test_truncated_native_pixel_data(tmp_path):
    full = _write(tmp_path / "full.dcm", np.zeros((4, 32, 32), np.uint8))
    path = tmp_path / "cut_native.dcm"
    path.write_bytes(full.read_bytes()[:-1000])
    assert "pixel data" in _error(path)


def test_single_frame(tmp_path):
    ds = pydicom.dcmread(_testdata("CT_small.dcm"))
    for key, value in PHI.items():
        setattr(ds, key, value)
    path = tmp_path / "still.dcm"
    ds.save_as(path)
    assert "1 frame" in _error(path)
    cine = read_dicom_cine(path, min_frames=1)  # 16-bit MONOCHROME2 -> uint8, three equal channels
    assert cine.frames.shape == (1, 128, 128, 3) and cine.frames.dtype == np.uint8
    assert cine.frames.max() == 255 and (cine.frames[..., 0] == cine.frames[..., 2]).all()


def _encapsulated(path: Path, syntax, fragments: list[bytes], photometric: str, samples: int) -> Path:
    _write(path, Rows=8, Columns=8, SamplesPerPixel=samples, BitsAllocated=8, BitsStored=8, HighBit=7,
           PixelRepresentation=0, PhotometricInterpretation=photometric, NumberOfFrames=len(fragments),
           PixelData=encapsulate(fragments))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = syntax
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_no_decoder_for_transfer_syntax(tmp_path):
    mpeg_header = b"\x00\x00\x01\xb3" + bytes(60)
    path = _encapsulated(tmp_path / "mpeg.dcm", MPEG2MPML, [mpeg_header] * 2, "YBR_PARTIAL_420", 3)
    assert "no pixel data decoder" in _error(path)


def test_corrupt_jpeg_frames(tmp_path):
    path = _encapsulated(tmp_path / "bad.dcm", JPEGBaseline8Bit, [b"\xff\xd8junk"] * 2, "MONOCHROME2", 1)
    assert "cannot decode pixel data" in _error(path)


def test_scrub_removes_identifiers(tmp_path):
    ds = pydicom.dcmread(_write(tmp_path / "s.dcm"))
    message = _scrub(f"decoder said {PHI['PatientName']} / {PHI['PatientID']}\nbye", ds)
    assert "\n" not in message and not any(value in message for value in PHI.values())


# --- the multi-frame US loops shipped by deid-data (smoke; used later) --------------------------------

DEID_LOOPS = {  # file: (frames, rows, columns, photometric, fps)
    "ultrasound-multiframe.dcm": (30, 600, 800, "RGB", 1000 / 54.241),
    "RGB_CINE.zip": (51, 672, 1016, "RGB", 1000 / 57.9671),
    "GREYSCALE_CINE.zip": (27, 600, 800, "MONOCHROME2", 1000 / 33.333),
}


@pytest.mark.parametrize("name", sorted(DEID_LOOPS))
def test_deid_data_loops(name, tmp_path):
    path = _deid_ultrasounds() / name
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            path = Path(archive.extract(archive.namelist()[0], tmp_path))
    try:
        cine = read_dicom_cine(path)
    except DataError as exc:
        if "no installed decoder" in str(exc):
            pytest.skip(str(exc))
        raise
    frames, rows, cols, photometric, fps = DEID_LOOPS[name]
    assert cine.frames.shape == (frames, rows, cols, 3) and cine.modality == "US"
    assert cine.photometric == photometric and cine.fps == pytest.approx(fps, rel=1e-4)
    assert cine.region is not None
    out = cine_to_clip(cine, size=112, fps=None)
    assert out.shape == (frames, 112, 112, 3) and out.mean() > 5
    if path.parent == tmp_path:
        path.unlink()  # the RGB loop is 100 MB uncompressed


@pytest.mark.parametrize("name", ["GREYSCALE_IMAGE.dcm", "RGB_IMAGE.dcm"])
def test_deid_data_stills(name):
    path = _deid_ultrasounds() / name
    assert "1 frame" in _error(path)
    assert read_dicom_cine(path, min_frames=1).frames.shape == (1, 768, 1024, 3)


# --- recoverable oddities, header regions that do not fit, burnt-in text (issue 12 items 3-5) -----


def _native_copy(path: Path, frames: np.ndarray, like: Path) -> Path:
    """A native (Explicit VR Little Endian) RGB US file holding ``frames`` (T, H, W, 3) uint8, with the
    header (regions, timing) of the real file ``like``."""
    ds = pydicom.dcmread(like)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_pixel_data(np.ascontiguousarray(frames), "RGB", 8)
    ds.NumberOfFrames = len(frames)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_trailing_sequence_delimiter_converts(tmp_path):
    # An ACUSON Sequoia cine ends with a top-level Sequence Delimitation Item (FFFE,E0DD) after the
    # pixel data; the truncation check used to call get_item on it ("malformed DICOM file").
    loop = _testdata("examples_ybr_color.dcm")
    path = tmp_path / "sequoia.dcm"
    path.write_bytes(loop.read_bytes() + b"\xfe\xff\xdd\xe0" + bytes(4))
    assert (0xFFFE, 0xE0DD) in pydicom.dcmread(path)  # the stray item is really read as an element
    cine = read_dicom_cine(path)
    assert cine.frames.shape == (30, 240, 320, 3)
    assert np.array_equal(cine.frames, read_dicom_cine(loop).frames)
    assert any("stray delimiter" in note for note in cine.notes)
    frames, _ = dicom_to_avi(path, tmp_path / "sequoia.avi", size=32)
    assert frames == 30 and read_video(tmp_path / "sequoia.avi").shape == (30, 32, 32, 3)


def test_unknown_transfer_syntax_is_named_by_name_and_uid(tmp_path):
    path = _encapsulated(tmp_path / "jxl.dcm", MPEG2MPML, [b"\xff\x0a" + bytes(30)] * 2, "YBR_FULL", 3)
    data = path.read_bytes()  # pydicom 3.0 refuses to write a syntax it does not know: patch the UID
    assert data.count(b"1.2.840.10008.1.2.4.100\x00") == 1  # same length as the JPEG XL UID
    path.write_bytes(data.replace(b"1.2.840.10008.1.2.4.100\x00", b"1.2.840.10008.1.2.4.111\x00"))
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.111"
    assert "transfer syntax JPEG XL JPEG Recompression (1.2.840.10008.1.2.4.111)" in _error(path)
    path = _encapsulated(tmp_path / "mpeg.dcm", MPEG2MPML, [b"\x00\x00\x01\xb3" + bytes(60)] * 2,
                         "YBR_PARTIAL_420", 3)
    assert f"MPEG2 Main Profile / Main Level ({MPEG2MPML})" in _error(path)


def test_header_region_larger_than_the_image_falls_back_to_the_estimate(real_cine, real_path, tmp_path):
    # A reduced 240x320 copy of the 480x640 loop that kept the original's SequenceOfUltrasoundRegions
    # ((84, 31)-(595, 414)): clipping it to the image would cut the left third of the sector.
    reduced = np.ascontiguousarray(real_cine.frames[:30, ::2, ::2])  # 1 s: the sector edges vary
    path = _native_copy(tmp_path / "reduced.dcm", reduced, real_path)
    cine = read_dicom_cine(path)
    assert cine.region is None
    assert any("region exceeds the 320x240 image" in note for note in cine.notes)
    chosen = framing(cine)
    assert chosen.box_source == "estimate" and chosen.box == estimate_sector_box(cine.frames)
    x0, y0, x1, y1 = chosen.box
    assert x0 < 84 - 20 and x1 <= 320 and y1 <= 240  # the sector's left part (x ~ 42..84) is kept
    assert x1 - x0 > (595 - 84) / 2 * 0.8  # about the original sector's width, halved


def test_marker_inside_the_region_but_outside_the_fan_is_masked(real_cine):
    frames = np.ascontiguousarray(real_cine.frames[:16])
    x0, y0, x1, y1 = real_cine.region  # (84, 31, 596, 415); the fan's apex is near (340, 45)
    marked = frames.copy()
    marker = (slice(50, 70), slice(100, 180))  # rows, columns: the region's top-left corner, off the fan
    bars = np.zeros((20, 80), np.uint8)
    bars[:, ::4] = bars[:, 1::4] = 255  # text-like strokes
    marked[:, marker[0], marker[1]] = bars[None, :, :, None]
    cine = dataclasses.replace(real_cine, frames=marked)
    chosen = framing(cine)
    assert chosen.mask_source == "fan" and not chosen.mask[marker].any()
    assert 0.2 < chosen.kept_fraction < 0.9
    assert chosen.mask[200:300, 250:450].all()  # the middle of the sector is kept
    clip = cine_to_clip(cine, size=128, fps=None)
    kept = cine_to_clip(cine, size=128, fps=None, burned_in="keep")
    clean = cine_to_clip(dataclasses.replace(real_cine, frames=frames), size=128, fps=None)
    # box 512x384 padded to 512x512 (64 rows on top), scaled by 1/4: the marker lands at rows
    # (50 - 31 + 64) / 4 .. (70 - 31 + 64) / 4 and columns (100 - 84) / 4 .. (180 - 84) / 4
    where = (slice(None), slice(21, 25), slice(5, 23))
    assert (clip[where] == 0).all() and kept[where].max() > 100  # the marker reaches the clip unmasked only
    assert np.array_equal(clip, clean)  # and nothing of it leaks anywhere
    with pytest.raises(ValueError, match="burned_in"):
        framing(cine, burned_in="blur")


def test_single_frame_has_no_fan_and_is_kept_unmasked():
    cine = DicomCine(np.full((1, 20, 20, 3), 50, np.uint8), fps=None, region=None, modality="US",
                     photometric="RGB")
    chosen = framing(cine)
    assert chosen.mask is None and chosen.mask_source == "fan not found" and chosen.kept_fraction == 1.0
    assert "no scan sector found: not masked" in chosen.notes


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "color3d_jpeg_baseline.dcm"])
def test_preferred_jpeg_plugin_agrees_with_pylibjpeg(name):
    """The faster JPEG plugin echobench prefers (Pillow) gives pylibjpeg's RGB pixels within the
    stated bound, on real YBR_FULL_422 JPEG Baseline echo loops."""
    from pydicom.pixels import get_decoder

    from echobench.data.dicom import JPEG_PLUGIN_MAX_DIFF, PREFERRED_PLUGINS

    path = _testdata(name)
    ds = pydicom.dcmread(path)
    assert PREFERRED_PLUGINS[ds.file_meta.TransferSyntaxUID] == "pillow"
    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    assert {"pillow", "pylibjpeg"} <= set(decoder.available_plugins), decoder.available_plugins
    reference, _ = decoder.as_array(ds, decoding_plugin="pylibjpeg")
    ours = read_dicom_cine(path).frames
    diff = np.abs(ours.astype(np.int16) - reference.reshape(ours.shape))
    assert diff.max() <= JPEG_PLUGIN_MAX_DIFF and diff.mean() < 0.1
    assert diff.max() > 0  # really another decoder than pylibjpeg (which would agree exactly)
