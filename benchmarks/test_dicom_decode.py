"""Speed of DICOM JPEG decoding backends (issue 15 item 2): pylibjpeg vs pydicom's Pillow plugin.

Not part of the test run. Run:  python -m pytest benchmarks/test_dicom_decode.py --benchmark-only -s

Decodes the real 120-frame 480x640 YBR_FULL_422 JPEG Baseline echo loop of pydicom-data
(``color3d_jpeg_baseline.dcm``) with each of pydicom's decoder plugins, ``ROUNDS`` rounds interleaved
(robust to a change of machine load), and prints CPU seconds per file and frames/s per core (process
time: on a shared machine wall time measures the neighbours), the ratio of the medians and the
pixel difference (max and mean |diff| of 255 over all frames and channels). echobench decodes YBR JPEG
loops with libjpeg-turbo directly (:mod:`echobench.data.dicom_jpeg`, the Pillow plugin's pixels without
its numpy YBR -> RGB step; the whole prepare path is timed by benchmarks/test_prepare_dicom_speed.py),
other JPEG files with the plugin in :data:`echobench.data.dicom.PREFERRED_PLUGINS`; the difference
bound is a test (tests/data/test_dicom.py::test_preferred_jpeg_plugin_agrees_with_pylibjpeg).
``ECHOBENCH_BENCH_ROUNDS`` (default 3) sets the rounds.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import get_decoder

ROUNDS = int(os.environ.get("ECHOBENCH_BENCH_ROUNDS", 3))
PLUGINS = ("pylibjpeg", "pillow")


def test_jpeg_backends(benchmark):
    path = get_testdata_file("color3d_jpeg_baseline.dcm", download=False)
    if path is None:
        pytest.skip("pydicom-data is not installed")
    ds = pydicom.dcmread(path)
    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    plugins = [p for p in PLUGINS if p in decoder.available_plugins]
    if len(plugins) < 2:
        pytest.skip(f"needs both decoder plugins, have {plugins}")
    seconds: dict[str, list[float]] = {p: [] for p in plugins}
    pixels = {}
    for _ in range(ROUNDS):
        for plugin in plugins:
            start = time.process_time()
            pixels[plugin], _ = decoder.as_array(ds, decoding_plugin=plugin)
            seconds[plugin].append(time.process_time() - start)
    frames = len(pixels[plugins[0]])
    medians = {p: statistics.median(v) for p, v in seconds.items()}
    diff = np.abs(pixels["pillow"].astype(np.int16) - pixels["pylibjpeg"])
    for plugin in plugins:
        print(f"{plugin:10s} {medians[plugin]:.2f} CPU-s per file ({frames} frames), "
              f"{frames / medians[plugin]:.0f} frames/s per core; rounds {[round(s, 2) for s in seconds[plugin]]}")
    print(f"pylibjpeg / pillow = {medians['pylibjpeg'] / medians['pillow']:.2f}; "
          f"|diff| max {int(diff.max())}, mean {float(diff.mean()):.3f} (of 255)")
    benchmark.extra_info.update(medians=medians, max_diff=int(diff.max()), mean_diff=float(diff.mean()))
    benchmark.pedantic(lambda: decoder.as_array(ds, decoding_plugin="pillow"), rounds=1, iterations=1)
