"""Test helpers importable as ``tests.helpers``."""

from __future__ import annotations

from pathlib import Path


def write_dist(site: Path, name: str, version: str, entry_points: dict[str, str],
               modules: dict[str, str]) -> Path:
    """Make a distribution visible through a ``*.dist-info`` folder on ``site`` (a sys.path entry)."""
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[echobench]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)
    return site


def write_mp4(path, frames, fps: int = 25) -> None:
    """``(T, H, W)`` grey uint8 frames as H.264 in MP4 (inter-frame coded, unlike EchoNet's MJPEG)."""
    import av
    import numpy as np

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.repeat(image[..., None], 3, -1), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def one_line_data_error(read, root) -> str:
    """The message of the DataError ``read(root)`` raises, checked to be one line naming nothing else."""
    import pytest

    from echobench.errors import DataError

    with pytest.raises(DataError) as err:
        read(root)
    assert "\n" not in str(err.value)
    return str(err.value)


def dicom_to_avi(src: Path, dst: Path, *, size: int = 112, fps_default: float = 30.0) -> tuple[int, float]:
    """One DICOM cine loop to a ``size`` x ``size`` MJPEG AVI with the library's own steps
    (``read_dicom_cine`` -> ``cine_to_clip`` -> ``write_avi``, as ``echobench prepare dicom`` does),
    frame for frame at the header's frame rate (else ``fps_default``). Returns (frames, fps)."""
    from echobench.data.dicom import cine_to_clip, read_dicom_cine
    from echobench.data.video import write_avi

    cine = read_dicom_cine(src)
    frames = cine_to_clip(cine, size=size, fps=None)
    fps = float(cine.fps or fps_default)
    write_avi(dst, frames, fps)
    return len(frames), fps
