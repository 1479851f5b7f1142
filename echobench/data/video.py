"""Reading and writing EchoNet-format AVI videos with PyAV.

EchoNet-Dynamic videos are 112x112 MJPEG AVIs that hold one grey image copied into three channels
(DESIGN §6). This module is the only place that touches containers:

- :func:`probe_video` demuxes without decoding (cheap: counts frames, checks every packet is present);
- :func:`read_video` decodes every frame to ``(T, H, W, 3)`` uint8 RGB;
- :func:`write_avi` writes ``(T, H, W)`` grey or ``(T, H, W, 3)`` RGB uint8 frames as MJPEG, byte for
  byte reproducibly (bit-exact muxing, no encoder version string) and atomically.

Frame rate is never taken from the container for labels or sampling: FileList's FPS wins (the
container value is reported by ``probe_video`` only so mismatches can be counted).
Any unreadable input raises :class:`echobench.errors.DataError` naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from echobench.errors import DataError


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (not trusted for labels).

    Attributes:
        frames: number of video packets (= frames for MJPEG/intra-only codecs).
        height, width: frame size in pixels.
        fps: container frame rate in frames/s (0.0 when the container gives none).
    """

    frames: int
    height: int
    width: int
    fps: float


def _open(path: Path):
    import av

    if not path.is_file():
        raise DataError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: video file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV raises a family of FFmpeg errors
        raise DataError(f"{path}: cannot open video ({type(exc).__name__}: {exc})") from exc
    if not container.streams.video:
        container.close()
        raise DataError(f"{path}: no video stream in file")
    return container


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Demux (without decoding) and return :class:`VideoInfo`.

    Raises:
        DataError: missing, empty, unopenable or truncated file (fewer packets than the header
            announces, or a packet with no data), or no frames at all.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        announced = int(stream.frames or 0)
        count = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the flush packet at end of stream
                count += 1
        except Exception as exc:
            raise DataError(f"{path}: video is damaged after {count} frames ({type(exc).__name__})") from exc
        if count == 0:
            raise DataError(f"{path}: video has no frames")
        if announced and count < announced:
            raise DataError(f"{path}: video is truncated ({count} of {announced} frames present)")
        rate = stream.average_rate or stream.base_rate
        return VideoInfo(
            frames=count,
            height=int(stream.codec_context.height),
            width=int(stream.codec_context.width),
            fps=float(rate) if rate else 0.0,
        )
    finally:
        container.close()


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Decode every frame of a video.

    Returns:
        ``(T, H, W, 3)`` uint8 RGB.

    Raises:
        DataError: missing, empty, undecodable or truncated file, or no frames.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        announced = int(stream.frames or 0)
        frames: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
        except Exception as exc:
            raise DataError(f"{path}: cannot decode frame {len(frames)} ({type(exc).__name__})") from exc
    finally:
        container.close()
    if not frames:
        raise DataError(f"{path}: video has no decodable frames")
    if announced and len(frames) < announced:
        raise DataError(f"{path}: video is truncated ({len(frames)} of {announced} frames decodable)")
    return np.stack(frames)


def write_avi(path: str | os.PathLike, frames: np.ndarray, fps: float, *, quality: int = 3) -> None:
    """Write frames as an MJPEG AVI, reproducibly and atomically.

    Args:
        path: output ``.avi`` path; its parent is created.
        frames: ``(T, H, W)`` grey or ``(T, H, W, 3)`` RGB, uint8. Grey frames are written as three
            equal channels, as in EchoNet-Dynamic.
        fps: frame rate stored in the container (frames/s).
        quality: MJPEG quantiser scale (``qscale``; 2 = best, 31 = worst).

    Raises:
        ValueError: frames of the wrong shape or dtype, or ``fps <= 0``.
    """
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] != 3):
        raise ValueError(f"frames must be uint8 (T,H,W) or (T,H,W,3), got {frames.dtype} {frames.shape}")
    if len(frames) == 0 or fps <= 0:
        raise ValueError("need at least one frame and fps > 0")
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    height, width = frames.shape[1:3]
    container = av.open(str(tmp), mode="w", format="avi", options={"fflags": "+bitexact"})
    try:
        stream = container.add_stream("mjpeg", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = int(width), int(height)
        stream.pix_fmt = "yuvj444p"
        stream.codec_context.flags |= av.codec.context.Flags.qscale
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        stream.codec_context.qmin = stream.codec_context.qmax = int(quality)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    os.replace(tmp, path)
