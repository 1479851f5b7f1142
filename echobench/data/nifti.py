"""NIfTI 2D+time sequences as a frame source (CAMUS half sequences; issue 17 item 2).

:mod:`echobench.data.video` dispatches here for files named ``*.nii`` or ``*.nii.gz``, so every loader
(clips, beats, robustness) reads a NIfTI sequence exactly like a video: ``(T, H, W, 3)`` uint8, one
grey plane copied into three channels (as EchoNet-Dynamic's AVIs).

Axis order and orientation. nibabel returns voxel arrays in NIfTI index order ``(i, j, k)`` = ``(x, y,
t)``, the transpose of SimpleITK's ``(t, y, x)``. The CAMUS loaders (Leclerc et al., IEEE TMI 2019;
the 2023 NIfTI release read with SimpleITK by ``vitalab/vital``, ``vital/data/camus/dataset_generator.py``)
use SimpleITK's array directly as ``(frames, rows, columns)`` with no reorientation, so here the array
is transposed ``(x, y, t) -> (t, y, x)`` and the affine is not applied (reorienting to RAS would flip
the apex-at-the-top display). A 2-D file is one frame; a 4-D file with a singleton third or fourth
axis is the same sequence.

Intensities: uint8 files are used as stored; other numeric types are accepted when every value is
finite and within 0-255 (rounded); anything else is refused (one line naming the file). Frame rate:
from the header's time step when its time unit is s, ms or us (the third axis of a 3-D file, the
fourth of a 4-D one), else 0.0 ("not given", like a container without a rate).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from echobench.errors import DataError

__all__ = ["NIFTI_SUFFIXES", "is_nifti", "nifti_fps", "nifti_shape", "read_nifti"]

NIFTI_SUFFIXES = (".nii", ".nii.gz")
_TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


def is_nifti(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named as a NIfTI file (``.nii`` or ``.nii.gz``, any case)."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def _load(path: Path):
    import nibabel

    if not path.is_file():
        raise DataError(f"{path}: NIfTI file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: NIfTI file is empty (0 bytes)")
    try:
        return nibabel.load(str(path))
    except Exception as exc:  # nibabel raises ImageFileError, OSError, gzip/zlib errors...
        raise DataError(f"{path}: cannot open NIfTI ({type(exc).__name__}: {exc})") from exc


def _sequence_axes(path: Path, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(width, height, frames)`` of a NIfTI array shape (see the module docstring).

    Raises:
        DataError: not a 2-D image or a 2-D+time sequence.
    """
    if len(shape) == 2:
        return shape[0], shape[1], 1
    if len(shape) == 3:
        return shape
    if len(shape) == 4 and 1 in shape[2:]:
        return shape[0], shape[1], shape[3] if shape[2] == 1 else shape[2]
    raise DataError(f"{path}: NIfTI array of shape {shape} is not a 2-D image sequence (x, y, t)")


def nifti_shape(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(frames, height, width)`` from the header alone (cheap).

    Raises:
        DataError: missing, empty or unreadable file, a zero-sized axis, or not a 2-D+time array.
    """
    path = Path(path)
    width, height, frames = _sequence_axes(path, tuple(int(n) for n in _load(path).shape))
    if min(width, height, frames) < 1:
        raise DataError(f"{path}: NIfTI sequence has no frames or no pixels ({width}x{height}x{frames})")
    return frames, height, width


def nifti_fps(path: str | os.PathLike) -> float:
    """Frames/s from the header's time step, or 0.0 when the header gives none (module docstring).

    Raises:
        DataError: missing, empty or unreadable file.
    """
    path = Path(path)
    header = _load(path).header
    zooms, (_, unit) = header.get_zooms(), header.get_xyzt_units()
    axis = 3 if len(zooms) >= 4 else 2
    step = float(zooms[axis]) * _TIME_UNITS.get(unit, 0.0) if len(zooms) > axis else 0.0
    return round(1.0 / step, 3) if step > 0 else 0.0  # the header stores float32: 1 / 0.02 s is 50.0, not 49.99999


def read_nifti(path: str | os.PathLike) -> np.ndarray:
    """Decode every frame of a NIfTI sequence.

    Returns:
        ``(T, H, W, 3)`` uint8 (the grey plane in three equal channels).

    Raises:
        DataError: missing, empty, unreadable or truncated file, not a 2-D+time array, or
            intensities that are not finite values within 0-255.
    """
    path = Path(path)
    image = _load(path)
    width, height, frames = _sequence_axes(path, tuple(int(n) for n in image.shape))
    try:
        data = np.asanyarray(image.dataobj)
    except Exception as exc:  # a truncated .nii or .nii.gz fails here, not at load
        raise DataError(f"{path}: NIfTI data unreadable (truncated or damaged? {type(exc).__name__}: {exc})") from exc
    if data.size == 0:
        raise DataError(f"{path}: NIfTI sequence has no frames or no pixels")
    data = data.reshape(width, height, frames)
    if data.dtype != np.uint8:
        if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
            raise DataError(f"{path}: NIfTI intensities of type {data.dtype} are not grey levels")
        finite = np.isfinite(data).all()
        if not finite or data.min() < 0 or data.max() > 255:
            what = "non-finite values" if not finite else f"values {data.min():g}..{data.max():g}"
            raise DataError(f"{path}: NIfTI intensities must be grey levels within 0-255 ({what}, {data.dtype})")
        data = np.rint(data).astype(np.uint8)
    grey = np.ascontiguousarray(data.transpose(2, 1, 0))  # (x, y, t) -> (t, y, x) = (T, H, W)
    return np.repeat(grey[..., None], 3, axis=-1)
