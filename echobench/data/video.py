"""Reading and writing EchoNet-format AVI videos with PyAV.

EchoNet-Dynamic videos are 112x112 MJPEG AVIs that hold one grey image copied into three channels
(DESIGN §6). This module is the only place that touches containers:

- :func:`probe_video` demuxes without decoding (cheap: counts frames, checks every packet is present);
- :func:`frame_size` reads only the stream header (cheaper still: the frame size);
- :func:`read_video` decodes every frame to ``(T, H, W, 3)`` uint8 RGB;
- :func:`read_frames` decodes only the frames one clip samples (MJPEG: only their packets);
- :func:`write_avi` writes ``(T, H, W)`` grey or ``(T, H, W, 3)`` RGB uint8 frames as MJPEG, byte for
  byte reproducibly (bit-exact muxing, no encoder version string) and atomically.

Frame rate is never taken from the container for labels or sampling: FileList's FPS wins (the
container value is reported by ``probe_video`` only so mismatches can be counted).

NIfTI sequences (``*.nii``, ``*.nii.gz``, e.g. CAMUS half sequences) are a frame source too: the four
readers below dispatch them to :mod:`echobench.data.nifti` (the one place that knows the format), so
they give the same ``(T, H, W, 3)`` uint8 frames as a video and every loader works unchanged.
Any unreadable input raises :class:`echobench.errors.DataError` naming the file.

Why PyAV (issue 15 item 2; ``benchmarks/test_video_readers.py``, CPU-s of one core, medians of 5
interleaved rounds, three runs on a loaded 2-core machine): torchcodec 0.17's ``VideoDecoder``
(``num_ffmpeg_threads=1``) gives the same pixels on every file tried and is 0.9-1.5x as fast on the
MJPEG files echobench reads (whole grey 112x112 EchoNet-style AVIs: read_video 3,200-5,100 frames/s
per core, torchcodec 1.0-1.5x; 224 px colour ``prepare dicom`` clips: 1,400-1,900 frames/s, 1.2-1.4x;
a 16-frame clip by read_frames: 160-250 clips/s on the grey AVIs, 90-110 on the 224 px clips,
torchcodec 0.9-1.3x) and 1.3-1.8x on H.264 MP4s, but it needs FFmpeg's shared libraries installed
beside it; PyAV's wheel brings its own. Frames are converted to RGB by :class:`_RGBConverter` (one
cached one-thread swscale context, or a calibrated luma table for grey frames where that is
quicker): read_video takes 1.3-2.8x less CPU than through PyAV's ``to_ndarray(format="rgb24")``
(a swscale context per frame), byte for byte the same.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from echobench.data.nifti import is_nifti, nifti_fps, nifti_shape, read_nifti
from echobench.errors import DataError, describe

VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".m2ts",
                            ".wmv", ".asf", ".flv", ".ogv", ".3gp", ".mj2", ".mxf", ".dv", ".nut", ".y4m"})
"""File extensions (lower case) of the video containers PyAV (FFmpeg) reads that echo videos come in."""


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


DECODER_THREADS = 0
"""FFmpeg decoder threads of a whole-video read (frame and slice threads; 0 = one per CPU, FFmpeg's
choice): a wall-time aid where one process decodes, at a CPU cost for H.264 (1.1-1.4x the CPU-s of
one thread; MJPEG: the same within noise), measured by benchmarks/test_video_readers.py. echobench's
DataLoader and decoding workers set it to 1 (:func:`echobench.engine.devices.init_worker`): their
siblings fill the other cores."""


def _open(path: Path):
    import av

    if not path.is_file():
        raise DataError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: video file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV raises a family of FFmpeg errors
        raise DataError(f"{path}: cannot open video ({describe(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise DataError(f"{path}: no video stream in file")
    return container


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Demux (without decoding) and return :class:`VideoInfo`.

    Raises:
        DataError: missing, empty, unopenable or truncated file (fewer packets than the header
            announces, or a packet with no data), no frames at all, or a stream header with no
            known codec or no frame size.
    """
    path = Path(path)
    if is_nifti(path):
        frames, height, width = nifti_shape(path)
        read_nifti(path)  # a probe catches truncated data, as demuxing every packet does for a video
        return VideoInfo(frames=frames, height=height, width=width, fps=nifti_fps(path))
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
        codec = stream.codec_context
        if codec is None:
            raise DataError(f"{path}: no decoder for the video codec (damaged or unsupported stream header)")
        if codec.height <= 0 or codec.width <= 0:
            raise DataError(f"{path}: container gives no frame size ({codec.height}x{codec.width}; header damaged?)")
        rate = stream.average_rate or stream.base_rate
        return VideoInfo(
            frames=count,
            height=int(codec.height),
            width=int(codec.width),
            fps=float(rate) if rate else 0.0,
        )
    finally:
        container.close()


def frame_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(height, width)`` in pixels from the container's stream header, without demuxing (cheap:
    one header read); None when the header gives no size.

    Raises:
        DataError: missing, empty or unopenable file, or no video stream.
    """
    if is_nifti(path):
        return nifti_shape(path)[1:]
    container = _open(Path(path))
    try:
        codec = container.streams.video[0].codec_context
        return (int(codec.height), int(codec.width)) if codec is not None and codec.height > 0 < codec.width else None
    finally:
        container.close()


def common_frame_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """The most common ``(height, width)`` of ``sizes`` (ties: the larger frame, then the first
    seen); None for no sizes. The frame size a dataset of mixed sizes is batched at."""
    counts = Counter(tuple(s) for s in sizes)
    if not counts:
        return None
    first = {s: i for i, s in reversed(list(enumerate(tuple(s) for s in sizes)))}
    height, width = max(counts, key=lambda s: (counts[s], s[0] * s[1], -first[s]))
    return int(height), int(width)


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Decode every frame of a video.

    Returns:
        ``(T, H, W, 3)`` uint8 RGB.

    Raises:
        DataError: missing, empty, undecodable or truncated file, no frames, or frames of
            different sizes (a damaged frame header).
    """
    path = Path(path)
    if is_nifti(path):
        return read_nifti(path)
    converter = _RGBConverter()
    return np.stack([converter(frame) for frame in _decoded(path)])


def _decoded(path: Path) -> Iterator:
    """Every frame of the video at ``path``, decoded in order (PyAV ``VideoFrame`` objects, not yet
    converted to RGB; frame threads on).

    Raises:
        DataError: as :func:`read_video` (the truncation check after the last frame).
    """
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if stream.codec_context is not None:  # None: no decoder; decoding below fails with a DataError
            stream.codec_context.thread_count = DECODER_THREADS
        announced = int(stream.frames or 0)
        count, size = 0, None
        try:
            for frame in container.decode(stream):
                size = size or (frame.height, frame.width)
                if (frame.height, frame.width) != size:
                    raise DataError(f"{path}: frame {count} is {frame.height}x{frame.width} but frame 0 is "
                                    f"{size[0]}x{size[1]} (damaged?)")
                count += 1
                yield frame
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{path}: cannot decode frame {count} ({type(exc).__name__})") from exc
    finally:
        container.close()
    if not count:
        raise DataError(f"{path}: video has no decodable frames")
    if announced and count < announced:
        raise DataError(f"{path}: video is truncated ({count} of {announced} frames decodable)")


def read_frames(path: str | os.PathLike, select: Callable[[int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Decode only the frames one clip needs.

    The file is demuxed (no decoding) to count its frames ``n``; ``select(n)`` returns the clip's
    source-frame indices ``(T,)``; only those frames' packets are decoded and converted to RGB, with
    one cached colour converter for the whole clip. Indices ``>= n`` give zero frames (padding), as
    :func:`echobench.data.clips.take_frames`. For intra-only codecs (MJPEG, as in EchoNet-Dynamic)
    the result is bit-identical to ``take_frames(read_video(path), select(len(video)))`` at a fraction
    of the cost; other codecs (or a packet that does not decode to exactly one frame) take that
    whole-video route, so ``select`` must be deterministic (it may be called a second time).

    Returns:
        ``(clip (T, H, W, 3) uint8 RGB, indices (T,) int64)``.

    Raises:
        DataError: missing, empty, unopenable or truncated file, no frames, a sampled frame that
            does not decode (damage in frames the clip does not use goes unnoticed on the intra-only
            route; :func:`read_video` checks every frame), or a frame whose size differs.
        ValueError: ``select`` returned a negative index.
    """
    path = Path(path)
    if is_nifti(path):
        return _read_frames_whole(path, select)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        intra_only = stream.codec_context is not None and stream.codec_context.codec.intra_only
        sampled = _decode_sampled(path, container, stream, select) if intra_only else None
    finally:
        container.close()
    return sampled if sampled is not None else _read_frames_whole(path, select)


def _decode_sampled(path: Path, container, stream, select: Callable[[int], np.ndarray]):
    """:func:`read_frames` for intra-only codecs: demux all packets, decode only the sampled ones.
    Returns None when a packet does not decode to exactly one frame (a buffering decoder)."""
    announced = int(stream.frames or 0)
    packets = []
    try:
        for packet in container.demux(stream):
            if packet.size:
                packets.append(packet)
    except Exception as exc:
        raise DataError(f"{path}: video is damaged after {len(packets)} frames ({type(exc).__name__})") from exc
    if not packets:
        raise DataError(f"{path}: video has no frames")
    if announced and len(packets) < announced:
        raise DataError(f"{path}: video is truncated ({len(packets)} of {announced} frames present)")
    indices = np.asarray(select(len(packets)), dtype=np.int64)
    if (indices < 0).any():
        raise ValueError(f"negative frame index in {indices.tolist()}")
    converter = _RGBConverter()
    images: dict[int, np.ndarray] = {}
    shape: tuple[int, ...] = ()
    for i in sorted({int(i) for i in indices if i < len(packets)}) or [0]:  # frame 0 sizes an all-padding clip
        try:
            decoded = stream.codec_context.decode(packets[i])
        except Exception as exc:
            raise DataError(f"{path}: cannot decode frame {i} ({type(exc).__name__})") from exc
        if len(decoded) != 1:
            return None
        image = converter(decoded[0])
        shape = shape or image.shape
        if image.shape != shape:
            raise DataError(f"{path}: frame {i} is {image.shape[0]}x{image.shape[1]} but other frames are "
                            f"{shape[0]}x{shape[1]} (damaged?)")
        images[i] = image
    clip: np.ndarray = np.zeros((len(indices),) + shape, dtype=np.uint8)
    for k, i in enumerate(indices.tolist()):
        if i in images:
            clip[k] = images[i]
    return clip, indices


_YUV_8BIT = frozenset(f"yuv{j}{s}p" for j in ("", "j") for s in ("420", "422", "444", "440", "411"))
_LUMA_TABLES: dict[tuple, np.ndarray | None] = {}  # per-process cache of calibrated luma -> RGB tables


def _plane(plane) -> np.ndarray:
    """A frame plane as a ``(height, width)`` uint8 view (line padding dropped)."""
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]


class _RGBConverter:
    """Decoded frame -> ``(H, W, 3)`` uint8 RGB, the same bytes as ``frame.to_ndarray(format="rgb24")``.

    A frame whose two chroma planes are each one constant value (a grey image, e.g. EchoNet-Dynamic's
    grey-in-RGB MJPEG) is converted through a 256-entry luma -> RGB table. The table is made by
    FFmpeg's swscale itself: a calibration frame of the same pixel format, size, colour range and
    space and chroma values, holding every luma value at many positions, is converted once per
    process, and the table is used only if that conversion depended on luma alone (every pixel of a
    luma value got the same RGB) and the table lookup converts the calibration frame faster than
    swscale does (measured: 4:4:4 full-range MJPEG, 1.3x at 224 px, a tie at 112 px; 4:2:0 H.264,
    where swscale has a SIMD path, 4-10x slower, so not used; the bytes are the same either way).
    Any other frame goes through swscale (one cached context, one thread: PyAV's default, automatic
    slice threads, spends up to 2x the CPU on 112-224 px frames for the same bytes; a loader runs
    one decoder per core).
    """

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        self._swscale = VideoReformatter()

    def __call__(self, frame) -> np.ndarray:
        planes = frame.planes
        if frame.format.name in _YUV_8BIT and len(planes) == 3:
            u, v = _plane(planes[1]), _plane(planes[2])
            cu, cv = int(u[0, 0]), int(v[0, 0])
            if (u == cu).all() and (v == cv).all():
                table = self._table(frame, cu, cv)
                if table is not None:
                    return np.take(table, _plane(planes[0]), axis=0)
        return self._swscale.reformat(frame, format="rgb24", threads=1).to_ndarray()

    def _table(self, frame, cu: int, cv: int) -> np.ndarray | None:
        import av

        key = (frame.format.name, frame.width, frame.height, int(frame.color_range), int(frame.colorspace), cu, cv)
        if key not in _LUMA_TABLES:
            probe = av.VideoFrame(frame.width, frame.height, frame.format.name)
            probe.color_range, probe.colorspace = frame.color_range, frame.colorspace
            # every luma value once in each run of 256 pixels (97 is odd), beside changing neighbours
            luma: np.ndarray = (97 * np.arange(frame.height * frame.width) % 256).astype(np.uint8)
            luma = luma.reshape(frame.height, -1)
            for plane, value in zip(probe.planes, (luma, cu, cv)):
                np.ndarray((plane.height, plane.line_size), np.uint8, buffer=plane)[:, :plane.width] = value
            rgb = self._swscale.reformat(probe, format="rgb24", threads=1).to_ndarray()
            table: np.ndarray = np.zeros((256, 3), np.uint8)
            table[luma.ravel()] = rgb.reshape(-1, 3)
            exact = np.unique(luma).size == 256 and np.array_equal(table[luma], rgb)
            faster = exact and _quicker(lambda: np.take(table, luma, axis=0),
                                        lambda: self._swscale.reformat(probe, format="rgb24", threads=1).to_ndarray())
            _LUMA_TABLES[key] = table if faster else None
        return _LUMA_TABLES[key]


def _quicker(first: Callable[[], object], second: Callable[[], object], repeats: int = 5) -> bool:
    """Whether ``first()`` takes less time than ``second()`` (the best of ``repeats`` calls each)."""
    def best(call: Callable[[], object]) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return min(times)

    return best(first) < best(second)


def _read_frames_whole(path: Path, select: Callable[[int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`read_frames` for codecs with inter-frame prediction (and NIfTI): decode every frame, then
    convert to RGB only the sampled ones (the same bytes as gathering them from :func:`read_video`)."""
    convert: Callable[[object], np.ndarray]
    if is_nifti(path):
        frames, convert = list(read_nifti(path)), np.asarray
    else:
        frames, convert = list(_decoded(path)), _RGBConverter()
    indices = np.asarray(select(len(frames)), dtype=np.int64)
    if (indices < 0).any():
        raise ValueError(f"negative frame index in {indices.tolist()}")
    sampled = sorted({int(i) for i in indices if i < len(frames)})
    images = {i: convert(frames[i]) for i in sampled or [0]}  # frame 0 gives the size of an all-padding clip
    shape = next(iter(images.values())).shape
    clip = np.zeros((len(indices),) + shape, dtype=np.uint8)
    for k, i in enumerate(indices.tolist()):
        if i in images:
            clip[k] = images[i]
    return clip, indices


def write_avi(path: str | os.PathLike, frames: np.ndarray, fps: float, *, quality: int = 3,
              tmp_dir: str | os.PathLike | None = None, durable: bool = True) -> None:
    """Write frames as an MJPEG AVI, reproducibly and atomically.

    Args:
        path: output ``.avi`` path; its parent is created.
        frames: ``(T, H, W)`` grey or ``(T, H, W, 3)`` RGB, uint8. Grey frames are written as three
            equal channels, as in EchoNet-Dynamic.
        fps: frame rate stored in the container (frames/s).
        quality: MJPEG quantiser scale (``qscale``; 2 = best, 31 = worst).
        tmp_dir: where the temporary file is written (default: beside ``path``; same file system).
        durable: fsync before the rename (default); ``False`` for files that are cheap to make again
            (synthetic data), which skips the disk flush but is still atomic.

    Raises:
        ValueError: frames of the wrong shape or dtype, or ``fps <= 0``.
        WriteError: the file cannot be written (disk full); no temporary file is left behind.
    """
    import av

    from echobench.atomic import atomic_target, fsync_replace

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] != 3):
        raise ValueError(f"frames must be uint8 (T,H,W) or (T,H,W,3), got {frames.dtype} {frames.shape}")
    if len(frames) == 0 or fps <= 0:
        raise ValueError("need at least one frame and fps > 0")
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    publish = fsync_replace if durable else os.replace
    with atomic_target(path, publish, tmp_dir=tmp_dir) as tmp:  # on failure removed, one WriteError
        _encode_avi(av.open(str(tmp), mode="w", format="avi", options={"fflags": "+bitexact"}), frames, fps,
                    width, height, quality)


def _encode_avi(container, frames: np.ndarray, fps: float, width: int, height: int, quality: int) -> None:
    """Encode ``frames`` ``(T, H, W, 3)`` uint8 into the open ``container`` as MJPEG, then close it."""
    import av

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
