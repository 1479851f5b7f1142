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

Configurations, each adding one change to the one before (so each change's share can be read off):

- ``baseline``: the original path: pydicom's JPEG decoding through pylibjpeg, numpy YBR -> RGB,
  full-size frames, float32 resize (``--decode exact``, libjpeg-turbo's own decode switched off);
- ``pillow``: pydicom's Pillow plugin first (:data:`echobench.data.dicom.PREFERRED_PLUGINS`; the
  default before ``--decode``), still numpy YBR -> RGB;
- ``exact``: ``--decode exact``: libjpeg-turbo decodes and converts to RGB itself
  (:mod:`echobench.data.dicom_jpeg`; the same pixels);
- ``uint8``: ``--decode fast`` with full-size frames: the resize in uint8 (within 1 of 255);
- ``fast``: ``--decode fast``, the default: JPEG frames decoded at 1/2 or 1/4 size (DCT scaling).

The crop / mask / pad step shares one allocation in every configuration, so ``baseline`` and
``pillow`` are faster than the code they stand for (the ratios err low; ``ECHOBENCH_BASELINE_SRC``, a
folder holding an export of the older ``echobench`` package, e.g. ``git archive <rev> echobench | tar
-x -C DIR``, adds the configurations ``orig-pylibjpeg`` and ``orig-main``: that code as it was, with
pylibjpeg or its own plugin preference, run in one subprocess per round and configuration, with a
warm-up conversion of each file first).
``ECHOBENCH_BENCH_ROUNDS`` (default 3) sets the rounds, ``ECHOBENCH_BENCH_SIZE`` (default 224,
``prepare dicom``'s default) the clip side.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROUNDS = int(os.environ.get("ECHOBENCH_BENCH_ROUNDS", 3))
BASELINE_SRC = os.environ.get("ECHOBENCH_BASELINE_SRC")
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
def _patched(*, plugin: str | None = None, direct: bool = True, draft: bool = True):
    """Switch parts of the fast path off for a block: ``plugin`` preferred for JPEG by pydicom,
    ``direct`` libjpeg-turbo decoding (:mod:`echobench.data.dicom_jpeg`), ``draft`` DCT scaling."""
    from echobench.data import dicom, dicom_jpeg

    saved = dict(dicom.PREFERRED_PLUGINS), dicom_jpeg.decode_jpeg_frames, dicom_jpeg.draft_scale
    if plugin:
        dicom.PREFERRED_PLUGINS.update(dict.fromkeys(saved[0], plugin))
    if not direct:
        dicom_jpeg.decode_jpeg_frames = lambda ds, scale=1: None
    if not draft:
        dicom_jpeg.draft_scale = lambda side, size: 1
    try:
        yield
    finally:
        dicom.PREFERRED_PLUGINS.update(saved[0])
        dicom_jpeg.decode_jpeg_frames, dicom_jpeg.draft_scale = saved[1], saved[2]


#: name -> (context manager factory, PrepareSettings overrides)
CONFIGS = {
    "baseline": (lambda: _patched(plugin="pylibjpeg", direct=False), {"decode": "exact"}),
    "pillow": (lambda: _patched(direct=False), {"decode": "exact"}),
    "exact": (contextlib.nullcontext, {"decode": "exact"}),
    "uint8": (lambda: _patched(draft=False), {}),
    "fast": (contextlib.nullcontext, {}),
}


#: Run in a subprocess with the older package first on the path: argv = plugin ("" = its own), size,
#: out folder, loop paths; prints {path: CPU-s} of one timed conversion per file after a warm-up.
_ORIGINAL = """
import json, sys, time
from pathlib import Path
import torch
from echobench.data import dicom
from echobench.data.prepare import PrepareSettings, convert_file
torch.set_num_threads(1)
plugin, size, out, paths = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]
if plugin:
    dicom.PREFERRED_PLUGINS.update(dict.fromkeys(dicom.PREFERRED_PLUGINS, plugin))
settings, spent = PrepareSettings(size=size), {}
for path in paths:
    convert_file(path, out / "warm.avi", settings, tmp_dir=out / "tmp")
    start = time.process_time()
    convert_file(path, out / "timed.avi", settings, tmp_dir=out / "tmp")
    spent[path] = time.process_time() - start
print(json.dumps(spent))
"""


def _original(plugin: str, loops: dict[str, Path], out: Path) -> dict[str, float]:
    """CPU-s per loop of the older package in :data:`BASELINE_SRC` (see :data:`_ORIGINAL`)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": BASELINE_SRC}
    done = subprocess.run([sys.executable, "-c", _ORIGINAL, plugin, str(SIZE), str(out), *map(str, loops.values())],
                          env=env, cwd=out, check=True, capture_output=True, text=True)  # not cwd: -c puts it first
    spent = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: spent[str(path)] for name, path in loops.items()}


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
    configs = [*CONFIGS, *(["orig-pylibjpeg", "orig-main"] if BASELINE_SRC else [])]
    seconds = {(name, config): [] for name in loops for config in configs}
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
        for config, plugin in (("orig-pylibjpeg", "pylibjpeg"), ("orig-main", "")):
            if BASELINE_SRC:
                for name, spent in _original(plugin, loops, tmp_path / config).items():
                    seconds[name, config].append(spent)
    medians = {key: statistics.median(values) for key, values in seconds.items()}
    print(f"\nDICOM -> {SIZE}x{SIZE} clip, CPU-s per file (median of {ROUNDS}), source frames/s per core:")
    for name in loops:
        row = " ".join(f"{config} {medians[name, config]:.2f} s ({frames[name] / medians[name, config]:.0f}/s)"
                       for config in configs)
        print(f"  {name:26s} {frames[name]:3d} frames: {row}")
    total_frames = sum(frames.values())
    totals = {config: sum(medians[name, config] for name in loops) for config in configs}
    references = [ref for ref in ("baseline", "orig-pylibjpeg") if ref in configs]
    jpeg = "color3d_jpeg_baseline.dcm"
    for label, spent, count in (("all loops", totals, total_frames),
                                (jpeg, {c: medians[jpeg, c] for c in configs}, frames[jpeg])):
        for config in configs:
            ratios = ", ".join(f"{spent[ref] / spent[config]:.2f}x {ref}" for ref in references)
            print(f"  {label} {config:14s} {spent[config]:.2f} CPU-s, {count / spent[config]:.1f} frames/s per core, "
                  f"{ratios}")
