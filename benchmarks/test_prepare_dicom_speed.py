"""Speed of the whole DICOM -> prepared clip path per file (issue 15 target: >= 3x the baseline per core).

Not part of the test run. Run:  python -m pytest benchmarks/test_prepare_dicom_speed.py -s

Converts each real echo loop shipped by pydicom-data / pydicom / deid-data (:data:`LOOPS`) to a clip
exactly as ``echobench prepare dicom`` does for one file, in this process
(:func:`echobench.data.prepare.convert_file`: read, decode, fan mask, crop, resize, encode, write), under
each configuration of :data:`CONFIGS`, ``ROUNDS`` rounds interleaved (file by file, configuration by
configuration: robust to a change of machine load), with one torch thread (as in a ``prepare``
worker on a busy machine: per core). Times are process CPU seconds (on a shared machine wall time
measures the neighbours); medians per file and configuration are printed with source frames/s per
core, and the totals over all loops with the ratio of each configuration to ``baseline``.

Configurations: ``baseline`` is the original path (pydicom's default JPEG decoder, pylibjpeg, then
numpy YBR -> RGB); ``main`` is today's default (pydicom's Pillow plugin first, see
:data:`echobench.data.dicom.PREFERRED_PLUGINS`). ``ECHOBENCH_BENCH_ROUNDS`` (default 3) sets the
rounds, ``ECHOBENCH_BENCH_SIZE`` (default 224, ``prepare dicom``'s default) the clip side.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
import zipfile
from pathlib import Path

import pytest

ROUNDS = int(os.environ.get("ECHOBENCH_BENCH_ROUNDS", 3))
SIZE = int(os.environ.get("ECHOBENCH_BENCH_SIZE", 224))
#: (package, file): the real multi-frame ultrasound loops of the test-data packages.
LOOPS = (
    ("pydicom-data", "color3d_jpeg_baseline.dcm"),  # 120 x 480x640 YBR_FULL_422 JPEG Baseline
    ("pydicom", "examples_ybr_color.dcm"),  # 30 x 240x320 YBR_FULL_422 JPEG Baseline
    ("pydicom-data", "OBXXXX1A_rle_2frame.dcm"),  # 2 x 600x800 PALETTE COLOR RLE
    ("deid-data", "ultrasound-multiframe.dcm"),  # 30 x 600x800 RGB, native
    ("deid-data", "RGB_CINE.zip"),  # 51 x 672x1016 RGB, native (zipped)
)
# (deid-data's GREYSCALE_CINE.zip is flagged BurnedInAnnotation YES and has no fan to mask: prepare
# skips it after decoding, so it makes no clip to time.)


@contextlib.contextmanager
def _baseline():
    """The original decoder choice: no preferred plugin (pydicom tries pylibjpeg first)."""
    from echobench.data import dicom

    saved = dict(dicom.PREFERRED_PLUGINS)
    dicom.PREFERRED_PLUGINS.update(dict.fromkeys(saved, "pylibjpeg"))
    try:
        yield
    finally:
        dicom.PREFERRED_PLUGINS.update(saved)


#: name -> (context manager factory, PrepareSettings overrides)
CONFIGS = {
    "baseline": (_baseline, {}),
    "main": (contextlib.nullcontext, {}),
}


def _loop_path(package: str, name: str, tmp: Path) -> Path | None:
    from pydicom.data import get_testdata_file

    if package == "pydicom-data":
        found = get_testdata_file(name, download=False)  # never touch the network
        return Path(found) if found else None
    if package == "pydicom":
        import pydicom.data

        return Path(pydicom.data.__file__).parent / "test_files" / name
    try:
        import deid_data
    except ImportError:
        return None
    path = Path(deid_data.__file__).parent / "data" / "ultrasounds" / name
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            path = Path(archive.extract(archive.namelist()[0], tmp))
    return path


def test_prepare_dicom_per_core(tmp_path):
    import torch

    from echobench.data.prepare import PrepareSettings, convert_file

    torch.set_num_threads(1)
    loops = {name: path for package, name in LOOPS if (path := _loop_path(package, name, tmp_path))}
    if "color3d_jpeg_baseline.dcm" not in loops:
        pytest.skip("pydicom-data is not installed")
    seconds = {(name, config): [] for name in loops for config in CONFIGS}
    frames: dict[str, int] = {}

    def convert(name: str, config: str) -> tuple[float, dict]:
        factory, overrides = CONFIGS[config]
        settings = PrepareSettings(size=SIZE, **overrides)
        with factory():
            start = time.process_time()
            fields = convert_file(loops[name], tmp_path / config / f"{name}.avi", settings, tmp_dir=tmp_path / "tmp")
            return time.process_time() - start, fields

    for name in loops:  # warm-up: imports and first-call costs
        for config in CONFIGS:
            convert(name, config)
    for _ in range(ROUNDS):
        for name in loops:
            for config in CONFIGS:
                spent, fields = convert(name, config)
                seconds[name, config].append(spent)
                frames[name] = fields["source_frames"]
    medians = {key: statistics.median(values) for key, values in seconds.items()}
    print(f"\nDICOM -> {SIZE}x{SIZE} clip, CPU-s per file (median of {ROUNDS}), source frames/s per core:")
    for name in loops:
        row = "  ".join(f"{config} {medians[name, config]:.2f} s ({frames[name] / medians[name, config]:.0f}/s)"
                        for config in CONFIGS)
        print(f"  {name:28s} {frames[name]:4d} frames  {row}")
    total_frames = sum(frames.values())
    totals = {config: sum(medians[name, config] for name in loops) for config in CONFIGS}
    for config, spent in totals.items():
        print(f"  all loops {config:10s} {spent:.2f} CPU-s, {total_frames / spent:.1f} frames/s per core, "
              f"{totals['baseline'] / spent:.2f}x baseline")
    jpeg = "color3d_jpeg_baseline.dcm"
    for config in CONFIGS:
        print(f"  {jpeg} {config:10s} {frames[jpeg] / medians[jpeg, config]:.1f} frames/s per core, "
              f"{medians[jpeg, 'baseline'] / medians[jpeg, config]:.2f}x baseline")
