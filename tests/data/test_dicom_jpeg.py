"""Tests for echobench.data.dicom_jpeg (libjpeg-turbo decoding of JPEG YBR frames, DCT scaling) and the
fast prepare path (``--decode fast``) against the exact one, on the real JPEG Baseline echo loops of
pydicom-data and pydicom, plus tiny JPEG files built here."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, UltrasoundMultiFrameImageStorage, generate_uid

from echobench.data.dicom import (
    FAST_RESIZE_MAX_DIFF,
    DicomError,
    cine_to_clip,
    framing,
    read_dicom_cine,
    square_resize,
)
from echobench.data.dicom_jpeg import (
    REDUCED_MAX_DIFF,
    REDUCED_MEAN_DIFF,
    REDUCED_MIN_PSNR,
    REDUCED_P99_DIFF,
    decode_jpeg_frames,
    draft_scale,
)
from echobench.data.prepare import PrepareSettings
from echobench.errors import ConfigError


def _loop(name: str) -> Path:
    if name == "examples_ybr_color.dcm":
        return Path(pydicom.data.__file__).parent / "test_files" / name
    path = get_testdata_file(name, download=False)  # never touch the network
    if path is None:
        pytest.fail(f"{name} not found: install the test dependency pydicom-data")
    return Path(path)


@pytest.fixture(scope="module")
def color3d():
    """The real 120-frame 480x640 YBR_FULL_422 JPEG Baseline loop: (path, exact full-size cine)."""
    path = _loop("color3d_jpeg_baseline.dcm")
    return path, read_dicom_cine(path)


def test_libjpeg_turbo_decode_equals_pydicoms_pillow_plugin():
    """Full size, libjpeg-turbo's own YCbCr -> RGB gives exactly the pixels of pydicom's Pillow plugin
    plus pydicom's numpy conversion (the path used before), on a real YBR_FULL_422 loop."""
    from pydicom.pixels import get_decoder

    ds = pydicom.dcmread(_loop("examples_ybr_color.dcm"))
    reference, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, decoding_plugin="pillow")
    ours = decode_jpeg_frames(ds)
    assert ours is not None and ours.shape == (30, 240, 320, 3)
    assert np.array_equal(ours, reference.reshape(ours.shape))
    assert np.array_equal(read_dicom_cine(_loop("examples_ybr_color.dcm")).frames, ours)


def test_draft_scale():
    assert draft_scale(512, 224) == 2 and draft_scale(512, 112) == 4 and draft_scale(512, 32) == 4  # 1/8 unused
    assert draft_scale(447, 224) == 2 and draft_scale(446, 224) == 1  # ceil(447 / 2) = 224
    assert draft_scale(100, 224) == 1 and draft_scale(213, 108) == 1 and draft_scale(213, 107) == 2
    with pytest.raises(ValueError, match="scale"):
        decode_jpeg_frames(pydicom.dcmread(_loop("examples_ybr_color.dcm")), scale=3)


def _diff(exact: np.ndarray, fast: np.ndarray) -> tuple[int, float, float, float]:
    """max, mean, 99th percentile of |exact - fast| (of 255) and the PSNR (dB)."""
    d = np.abs(exact.astype(np.int16) - fast)
    psnr = 10 * np.log10(255.0**2 / np.mean(d.astype(np.float64) ** 2))
    return int(d.max()), float(d.mean()), float(np.percentile(d, 99)), float(psnr)


@pytest.mark.parametrize("size, scale", [(224, 2), (112, 4)])
def test_reduced_decode_clip_is_within_the_bound(color3d, size, scale):
    """The fast path (frames decoded at 1/2 or 1/4 size, fan mask and resize on them, uint8 resize)
    against the exact one (full size, float32 resize) on the real 480x640 loop: the prepare clip of its
    first 40 frames (1.3 s; the whole loop's measured figures are in REDUCED_* 's comment)."""
    path, exact_cine = color3d
    cine = read_dicom_cine(path, reduce_to=size)
    assert cine.scale == scale and cine.frames.shape == (120, 480 // scale, 640 // scale, 3)
    assert cine.region == (84 // scale, 31 // scale, -(-596 // scale), -(-415 // scale))
    exact_cine = dataclasses.replace(exact_cine, frames=exact_cine.frames[:40])
    cine = dataclasses.replace(cine, frames=cine.frames[:40])
    exact_framing, fast_framing = framing(exact_cine), framing(cine)
    exact = cine_to_clip(exact_cine, size=size, fps=30.0, chosen=exact_framing)
    fast = cine_to_clip(cine, size=size, fps=30.0, chosen=fast_framing, fast=True)
    assert fast.shape == exact.shape == (40, size, size, 3)
    worst, mean, p99, psnr = _diff(exact, fast)
    assert worst <= REDUCED_MAX_DIFF and mean <= REDUCED_MEAN_DIFF and p99 <= REDUCED_P99_DIFF, (worst, mean, p99)
    assert psnr >= REDUCED_MIN_PSNR, psnr
    assert worst > 0  # really another path
    assert abs(fast_framing.kept_fraction - exact_framing.kept_fraction) < 0.02


def test_reduced_decode_of_odd_sizes_rounds_up(tmp_path):
    """Frames of 75x101 decoded at 1/2: 38x51 (libjpeg rounds up), close to a 2x2 mean of the full frames."""
    from PIL import Image

    yy, xx = np.mgrid[0:75, 0:101]
    ramp = np.stack([xx * 2.5, yy * 3.3, 128 + 60 * np.sin(xx / 9.0 + yy / 7.0)], axis=-1)  # smooth: few artefacts
    base = np.stack([np.clip(ramp + 20 * t, 0, 255) for t in range(3)]).astype(np.uint8)
    fragments = []
    for image in base:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=95, subsampling=1)  # 4:2:2, JFIF YCbCr
        fragments.append(buffer.getvalue())
    path = _jpeg_dicom(tmp_path / "odd.dcm", fragments, 75, 101)
    ds = pydicom.dcmread(path)
    full, half = decode_jpeg_frames(ds), decode_jpeg_frames(ds, scale=2)
    assert full.shape == (3, 75, 101, 3) and half.shape == (3, 38, 51, 3)
    pooled = full[:, :74, :100].reshape(3, 37, 2, 50, 2, 3).mean(axis=(2, 4))
    assert np.abs(half[:, :37, :50] - pooled).mean() < 2  # aligned: a 1-pixel shift costs far more
    assert np.abs(half[:, 1:37, 1:50] - pooled[:, :36, :49]).mean() > 2
    cine = read_dicom_cine(path, reduce_to=40, crop="none")
    assert cine.scale == 2 and cine.frames.shape == (3, 38, 51, 3) and cine.region is None


def _jpeg_dicom(path: Path, fragments: list[bytes], rows: int, cols: int, photometric: str = "YBR_FULL_422") -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.Modality, ds.Rows, ds.Columns, ds.NumberOfFrames = "US", rows, cols, len(fragments)
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 3, 8, 8, 7, 0
    ds.PhotometricInterpretation, ds.PlanarConfiguration = photometric, 0
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_what_libjpeg_turbo_cannot_decode_like_pydicom_falls_back(tmp_path):
    """Another photometric, a frame count that differs from the header, a truncated frame: None here,
    and read_dicom_cine decodes (or rejects) the file through pydicom's decoders as before."""
    real = _loop("examples_ybr_color.dcm")
    ds = pydicom.dcmread(real)
    ds.PhotometricInterpretation = "RGB"
    assert decode_jpeg_frames(ds) is None
    ds = pydicom.dcmread(real)
    ds.NumberOfFrames = 31
    assert decode_jpeg_frames(ds) is None
    from pydicom.encaps import generate_frames

    frames = list(generate_frames(pydicom.dcmread(real).PixelData, number_of_frames=30))
    cut = [frames[0], frames[1][: len(frames[1]) // 2]]
    path = _jpeg_dicom(tmp_path / "cut.dcm", cut, 240, 320)
    assert decode_jpeg_frames(pydicom.dcmread(path)) is None
    try:  # pydicom's decoders reject it, or decode what they can: either way the exact path's answer
        cine = read_dicom_cine(path, reduce_to=64)
    except DicomError as exc:
        assert "decode" in str(exc)
    else:
        assert cine.scale == 1


def test_fast_resize_is_within_one_of_the_float_resize(color3d):
    _, cine = color3d
    frames = cine.frames[:24]
    for size in (224, 112, 97):
        exact = square_resize(frames, cine.region, size=size)
        fast = square_resize(frames, cine.region, size=size, fast=True)
        assert np.abs(exact.astype(np.int16) - fast).max() <= FAST_RESIZE_MAX_DIFF


def test_decode_setting_is_checked():
    assert PrepareSettings().decode == "fast"
    with pytest.raises(ConfigError, match="--decode"):
        PrepareSettings(decode="draft")


def test_convert_file_decode_modes(tmp_path):
    """``decode="exact"`` writes the clip of the full-size library path byte for byte; ``"fast"`` asks
    for reduced frames and the uint8 resize (here no reduction: this loop's header region is unusable)."""
    from echobench.data.prepare import convert_file
    from echobench.data.video import read_video, write_avi

    path = _loop("examples_ybr_color.dcm")
    settings = PrepareSettings(size=64, decode="exact")
    fields = convert_file(path, tmp_path / "exact.avi", settings)
    reference = cine_to_clip(read_dicom_cine(path), size=64, fps=settings.fps)
    write_avi(tmp_path / "reference.avi", reference, settings.fps)
    assert (tmp_path / "exact.avi").read_bytes() == (tmp_path / "reference.avi").read_bytes()
    convert_file(path, tmp_path / "fast.avi", PrepareSettings(size=64))
    exact, fast = read_video(tmp_path / "exact.avi"), read_video(tmp_path / "fast.avi")
    assert fast.shape == exact.shape == (fields["frames"], 64, 64, 3)
    assert np.abs(exact.astype(np.int16) - fast).mean() < 1
