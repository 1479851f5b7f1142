"""Video readers on the same files (issue 15 item 2): echobench's PyAV readers against torchcodec.

Not part of the test run. Run:  python -m pytest benchmarks/test_video_readers.py -s

Files (made here, none committed):

- ``echonet``: EchoNet-Dynamic-style grey 112x112 MJPEG AVIs (``GREY_VIDEOS`` synthetic videos,
  :func:`echobench.data.synth.synthesize`, written by :func:`echobench.data.video.write_avi`);
- ``prepared``: ``prepare dicom`` clips at 224 px (colour MJPEG AVIs,
  :func:`echobench.data.prepare.convert_file`) of the real echo loops of pydicom-data, pydicom and
  deid-data (:data:`test_prepare_dicom_speed.LOOPS`), those of at least 16 frames;
- ``h264``: the same clips' frames as colour H.264 MP4s (libx264, yuv420p, CRF 18, PyAV's encoder).

Readers, per video (a whole video is what ``prepare shards``, the TEST split and the statistics
passes read; a clip is 16 frames spread over the video, ``linspace(0, n - 1, 16)``: the
``echovisionfm`` protocol's TRAIN/VAL clips, each read by its own decoder, as a loader does):

- ``pyav read_video`` / ``pyav read_frames``: :func:`echobench.data.video.read_video` and
  :func:`~echobench.data.video.read_frames` (PyAV; frames to RGB by one cached one-thread swscale
  context, or the calibrated luma table for grey frames where that is quicker);
- ``pyav 1 thread``: the same with one FFmpeg decoder thread (:data:`echobench.data.video.DECODER_THREADS`
  = 1, as torchcodec's ``num_ffmpeg_threads=1``; only whole-video decoding uses threads, so of the
  clips only H.264's, read whole, change);
- ``pyav rgb24``: the whole-video read as ``read_video`` did before (every frame through PyAV's
  ``frame.to_ndarray(format="rgb24")``: a swscale context per frame, automatic slice threads; frame
  threads on): the reference for that change;
- ``torchcodec exact`` / ``torchcodec approximate``: ``torchcodec.decoders.VideoDecoder`` with that
  ``seek_mode``, ``num_ffmpeg_threads=1``, NHWC: ``decoder[:]`` for the whole video,
  ``get_frames_at(indices)`` for a clip (``approximate`` takes the frame count from the header).

Times are process CPU seconds (every thread: per core; on a shared machine wall time measures the
neighbours) with one torch thread, ``ROUNDS`` rounds interleaved after a warm-up pass (file type by
file type, reader by reader: robust to a change of machine load); medians per round are printed as
videos/s (clips/s) and frames/s per core with the ratio to echobench's reader, and each reader's
pixels against echobench's: max and mean |diff| (of 255) over every frame read. torchcodec's ops
are timed as its tensors, converted to numpy without a copy.

torchcodec needs FFmpeg's shared libraries (major 4 to 9) under their usual sonames. Where none is
installed, PyAV's wheel has FFmpeg's under hashed names (``av.libs/libavcodec-<hash>.so.62...``):
this benchmark links them under the sonames in a temporary folder and runs itself again with that
folder on ``LD_LIBRARY_PATH`` (the loader reads it only at start-up). Without torchcodec (install it
beside the venv, e.g. ``pip install --no-deps --target DIR torchcodec`` and ``PYTHONPATH=DIR``), or
when it still cannot load, its readers are skipped with the reason and PyAV's are still timed.
``ECHOBENCH_BENCH_ROUNDS`` (default 5) sets the rounds.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROUNDS = int(os.environ.get("ECHOBENCH_BENCH_ROUNDS", 5))
GREY_VIDEOS, CLIP, SIZE = 8, 16, 224
_RELAUNCHED = "ECHOBENCH_BENCH_FFMPEG_LINKS"  # set in the run with the linked FFmpeg libraries


def _torchcodec() -> tuple[object | None, str]:
    """``(torchcodec.decoders.VideoDecoder, "")``, or ``(None, why it cannot run here)``."""
    try:
        from torchcodec.decoders import VideoDecoder
    except ImportError as exc:
        return None, f"torchcodec is not installed ({exc})"
    try:
        from torchcodec._core import ops

        if ops.ffmpeg_major_version is None:  # import went on without FFmpeg: load again for the errors
            ops.load_core_libraries()
    except Exception as exc:  # torchcodec's RuntimeError lists one loader error per FFmpeg major
        found = re.findall(r"OSError: (lib\S+: cannot open shared object file)", str(exc))
        return None, f"torchcodec cannot load FFmpeg's libraries ({'; '.join(found[:2]) or type(exc).__name__})"
    return VideoDecoder, ""


def _link_pyav_ffmpeg(folder: Path) -> Path | None:
    """Symlinks ``folder/libavcodec.so.62`` -> PyAV's ``av.libs/libavcodec-<hash>.so.62.x.y`` etc.
    (the seven FFmpeg libraries); None when PyAV's wheel bundles none."""
    import av

    libs = Path(av.__file__).parent.parent / "av.libs"
    found = sorted(libs.glob("lib[as][vw]*-*.so.*")) if libs.is_dir() else []
    folder.mkdir(parents=True, exist_ok=True)
    for path in found:
        match = re.fullmatch(r"(lib(?:av\w+|sw\w+))-[0-9a-f]+\.so\.(\d+)(\.\d+)*", path.name)
        if match:
            link = folder / f"{match[1]}.so.{match[2]}"
            link.unlink(missing_ok=True)
            link.symlink_to(path)
    return folder if found else None


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, list[Path]]:
    """``{file type: paths}``: see the module docstring."""
    import av

    from echobench.data.prepare import PrepareSettings, convert_file
    from echobench.data.synth import synthesize
    from echobench.data.video import read_video
    from echobench.errors import DataError
    from test_prepare_dicom_speed import LOOPS, _loop_path

    tmp = tmp_path_factory.mktemp("videos")
    synthesize(tmp / "echonet", videos=GREY_VIDEOS, seed=0)
    out = {"echonet": sorted((tmp / "echonet" / "Videos").glob("*.avi")), "prepared": [], "h264": []}
    for package, name in LOOPS:
        source = _loop_path(package, name, tmp)
        if source is None:
            continue
        clip = tmp / "prepared" / f"{Path(name).stem}.avi"
        try:
            convert_file(source, clip, PrepareSettings(size=SIZE), tmp_dir=tmp / "tmp")
        except DataError:
            continue
        frames = read_video(clip)
        if len(frames) < CLIP:
            continue
        out["prepared"].append(clip)
        mp4 = tmp / "h264" / f"{Path(name).stem}.mp4"
        mp4.parent.mkdir(exist_ok=True)
        with av.open(str(mp4), mode="w") as container:
            stream = container.add_stream("libx264", rate=30, options={"crf": "18"})
            stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
            for image in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode())
        out["h264"].append(mp4)
    return {kind: paths for kind, paths in out.items() if paths}


def _spread(n: int) -> np.ndarray:
    """The clip's source-frame indices ``(CLIP,)``: spread over all ``n`` frames."""
    return np.linspace(0, n - 1, CLIP).astype(np.int64)


def _readers(decoder) -> dict[str, dict]:
    """``{"whole"|"clip": {reader: path -> (T, H, W, 3) uint8}}``."""
    import av

    from echobench.data import video
    from echobench.data.video import read_frames, read_video

    def rgb24(path: Path) -> np.ndarray:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])

    def one_thread(read):
        def call(path: Path) -> np.ndarray:
            saved, video.DECODER_THREADS = video.DECODER_THREADS, 1
            try:
                return read(path)
            finally:
                video.DECODER_THREADS = saved

        return call

    whole = {"pyav read_video": read_video, "pyav 1 thread": one_thread(read_video), "pyav rgb24": rgb24}
    clip = {"pyav read_frames": lambda path: read_frames(path, _spread)[0],
            "pyav 1 thread": one_thread(lambda path: read_frames(path, _spread)[0])}
    if decoder is not None:
        for mode in ("exact", "approximate"):
            def make(path: Path, mode=mode):
                return decoder(str(path), seek_mode=mode, num_ffmpeg_threads=1, dimension_order="NHWC")

            whole[f"torchcodec {mode}"] = lambda path, make=make: make(path)[:].numpy()
            clip[f"torchcodec {mode}"] = lambda path, make=make: (
                lambda d: d.get_frames_at(_spread(d.metadata.num_frames).tolist()).data.numpy())(make(path))
    return {"whole": whole, "clip": clip}


def test_video_readers(files, tmp_path):
    import torch

    torch.set_num_threads(1)
    decoder, reason = _torchcodec()
    if decoder is None and not os.environ.get(_RELAUNCHED) and "not installed" not in reason:
        links = _link_pyav_ffmpeg(tmp_path / "ffmpeg")
        if links is not None:
            env = {**os.environ, _RELAUNCHED: str(links),
                   "LD_LIBRARY_PATH": os.pathsep.join(filter(None, [str(links), os.environ.get("LD_LIBRARY_PATH")]))}
            done = subprocess.run([sys.executable, "-m", "pytest", __file__, "-s", "-q", "-p", "no:cacheprovider"],
                                  env=env, cwd=Path(__file__).parent.parent, capture_output=True, text=True)
            print(done.stdout[-6000:])
            if done.returncode == 0:
                return
            reason += f"; with PyAV's FFmpeg linked on LD_LIBRARY_PATH: exit {done.returncode}"
    readers = _readers(decoder)
    if decoder is None:
        print(f"\ntorchcodec skipped: {reason}")
    seconds = {(kind, part, name): [] for kind in files for part, group in readers.items() for name in group}
    results: dict[tuple, list[np.ndarray]] = {}
    for warm in [True] + [False] * ROUNDS:
        for kind, paths in files.items():
            for part, group in readers.items():
                for name, read in group.items():
                    start = time.process_time()
                    got = [read(path) for path in paths]
                    if warm:
                        results[kind, part, name] = got
                    else:
                        seconds[kind, part, name].append(time.process_time() - start)
    print(f"\nvideo readers, per core (one torch thread, FFmpeg threads counted), medians of {ROUNDS} rounds:")
    for kind, paths in files.items():
        videos = results[kind, "whole", "pyav read_video"]
        frames = sum(len(v) for v in videos)
        print(f"  {kind}: {len(paths)} files, {frames} frames, {videos[0].shape[1]}x{videos[0].shape[2]}, "
              f"{sum(p.stat().st_size for p in paths) / 1e6:.1f} MB")
        for part, reference in (("whole", "pyav read_video"), ("clip", "pyav read_frames")):
            base = statistics.median(seconds[kind, part, reference])
            count = frames if part == "whole" else CLIP * len(paths)
            for name in readers[part]:
                spent = statistics.median(seconds[kind, part, name])
                pairs = list(zip(results[kind, part, name], results[kind, part, reference]))
                if any(a.shape != b.shape for a, b in pairs):
                    print(f"    {part:5s} {name:22s} other shapes: {[a.shape for a, _ in pairs]}")
                    continue
                diff = np.concatenate([np.abs(a.astype(np.int16) - b).ravel() for a, b in pairs])
                unit = "videos" if part == "whole" else "clips"
                print(f"    {part:5s} {name:22s} {len(paths) / spent:7.1f} {unit}/s {count / spent:7.0f} frames/s "
                      f"per core, {base / spent:4.2f}x {reference}; |diff| max {int(diff.max())} mean "
                      f"{float(diff.mean()):.4f}; rounds {[round(s, 3) for s in seconds[kind, part, name]]}")
