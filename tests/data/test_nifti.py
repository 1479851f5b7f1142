"""NIfTI sequences (CAMUS half sequences) read through core's video layer like any video."""

from __future__ import annotations

import gzip

import nibabel
import numpy as np
import pytest

from echobench.data.video import frame_size, probe_video, read_frames, read_video
from echobench.errors import DataError

T, H, W = 5, 20, 30  # a non-square frame: a swapped axis order shows


def sequence() -> np.ndarray:
    """``(T, H, W)`` uint8 with an asymmetric mark: frame t has one bright pixel at (row 2 + t, column 25)."""
    frames = np.full((T, H, W), 10, np.uint8)
    for t in range(T):
        frames[t, 2 + t, 25] = 200
    return frames


def write(path, frames_thw: np.ndarray, *, dtype=np.uint8, fps: float | None = 40.0, shape=None) -> None:
    """Write as the CAMUS release does: voxel axes (x, y, t) = (column, row, frame)."""
    data = np.asarray(frames_thw).transpose(2, 1, 0).astype(dtype)
    image = nibabel.Nifti1Image(data.reshape(shape) if shape else data, np.eye(4))
    if fps:
        image.header.set_zooms((0.3, 0.3, 1.0 / fps)[: image.header["dim"][0]] + (1.0,) * max(0, image.header["dim"][0] - 3))
        image.header.set_xyzt_units("mm", "sec")
    nibabel.save(image, str(path))


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_sequence_reads_like_a_video(tmp_path, suffix):
    path = tmp_path / f"patient0001_2CH_half_sequence{suffix}"
    write(path, sequence())
    video = read_video(path)
    assert video.shape == (T, H, W, 3) and video.dtype == np.uint8
    assert (video[..., 0] == video[..., 2]).all()
    for t in range(T):
        assert np.argwhere(video[t, :, :, 0] == 200).tolist() == [[2 + t, 25]]  # rows, columns, frames as stored
    assert probe_video(path) == type(probe_video(path))(frames=T, height=H, width=W, fps=40.0)
    assert frame_size(path) == (H, W)
    clip, indices = read_frames(path, lambda n: np.array([4, 0, n + 1]))
    assert indices.tolist() == [4, 0, T + 1]
    assert (clip[0] == video[4]).all() and (clip[1] == video[0]).all() and not clip[2].any()  # past the end: zeros


def test_nifti_without_time_step_singleton_axis_and_float_grey_levels(tmp_path):
    path = tmp_path / "seq.nii.gz"
    write(path, sequence(), dtype=np.float32, fps=None, shape=(W, H, 1, T))
    assert probe_video(path).fps == 0.0  # no time unit in the header: "not given", like a container without one
    assert (read_video(path)[..., 0] == sequence()).all()
    single = tmp_path / "ed.nii.gz"
    nibabel.save(nibabel.Nifti1Image(sequence()[0].T.copy(), np.eye(4)), str(single))
    assert read_video(single).shape == (1, H, W, 3)


def one_line_error(path, reader=read_video) -> str:
    with pytest.raises(DataError) as err:
        reader(path)
    text = str(err.value)
    assert "\n" not in text and str(path) in text
    return text


def test_bad_nifti_files_are_one_line_errors_naming_the_file(tmp_path):
    empty = tmp_path / "empty.nii.gz"
    empty.write_bytes(b"")
    assert "empty" in one_line_error(empty, probe_video)
    garbage = tmp_path / "garbage.nii"
    garbage.write_bytes(b"not a nifti header" * 40)
    assert "cannot open NIfTI" in one_line_error(garbage, probe_video)
    good = tmp_path / "good.nii.gz"
    write(good, sequence())
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    assert "cannot open NIfTI" in one_line_error(truncated, probe_video)  # the gzip stream ends in the header
    volume = tmp_path / "volume.nii"
    nibabel.save(nibabel.Nifti1Image(np.zeros((4, 4, 3, 2), np.uint8), np.eye(4)), str(volume))
    assert "not a 2-D image sequence" in one_line_error(volume, probe_video)
    loud = tmp_path / "int16.nii"
    write(loud, sequence().astype(np.int16) * 4, dtype=np.int16)
    assert "within 0-255" in one_line_error(loud)
    assert "not found" in one_line_error(tmp_path / "missing.nii.gz", probe_video)


def test_gzip_of_a_truncated_nii_is_unreadable(tmp_path):
    good = tmp_path / "good.nii"
    write(good, sequence())
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(gzip.compress(good.read_bytes()[:-200]))  # a complete gzip stream of too few voxels
    assert "unreadable (truncated" in one_line_error(cut, probe_video)
    short = tmp_path / "short.nii"
    short.write_bytes(good.read_bytes()[:-200])
    assert "unreadable (truncated" in one_line_error(short, read_video)
