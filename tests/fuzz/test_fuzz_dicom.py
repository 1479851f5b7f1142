"""Fuzzing the DICOM reader and the per-file prepare step (issue 7 item 5): damaged files give a
result or the project's own DataError (a ``DicomError``), never another exception, a crash or a hang.

The base file is a real echo loop cut short: the first 3 JPEG Baseline YBR_FULL_422 frames of
pydicom's ``examples_ybr_color.dcm`` (with its ultrasound regions and frame timing), with patient
identifiers planted in the header. Random bytes, random bytes after a valid preamble and ``DICM``,
and mutations (bit flips, truncation, insertions, deletions, overwrites; half of them anchored at
the tags of the elements the reader uses and at JPEG markers) go through
:func:`~echobench.data.dicom.read_dicom_cine` and :func:`~echobench.data.prepare.convert_file`,
each example in a worker process with a time limit and a memory cap (tests/fuzz/isolation.py).
Every error message must be one line naming the file, and must not quote a planted identifier.
Hypothesis is derandomized: CI runs the same examples every time.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from pydicom.encaps import encapsulate, generate_frames

from tests.fuzz import fuzz_settings
from tests.fuzz.isolation import Worker
from tests.fuzz.mutations import mutate, mutation_strategy

FRAMES = 3
MARKER = "ZZFUZZPHIZZ"
DATA_ERROR = "echobench.errors.DataError"
FUZZ = fuzz_settings(60)


def _tag(group: int, element: int) -> bytes:
    return struct.pack("<HH", group, element)


ANCHORS = (
    _tag(0x0002, 0x0010),  # Transfer Syntax UID
    _tag(0x0008, 0x0060),  # Modality
    _tag(0x0018, 0x1063),  # Frame Time
    _tag(0x0018, 0x6011),  # Sequence of Ultrasound Regions
    _tag(0x0018, 0x6018),  # Region Location Min X0
    _tag(0x0028, 0x0002),  # Samples per Pixel
    _tag(0x0028, 0x0004),  # Photometric Interpretation
    _tag(0x0028, 0x0008),  # Number of Frames
    _tag(0x0028, 0x0010),  # Rows
    _tag(0x0028, 0x0011),  # Columns
    _tag(0x0028, 0x0100),  # Bits Allocated
    _tag(0x7FE0, 0x0010),  # Pixel Data
    _tag(0xFFFE, 0xE000),  # Item (fragments, sequence items)
    _tag(0xFFFE, 0xE0DD),  # Sequence Delimitation
    b"\xff\xd8", b"\xff\xc0", b"\xff\xc4", b"\xff\xdb", b"\xff\xda",  # JPEG SOI, SOF0, DHT, DQT, SOS
)
SPECIAL = tuple(struct.pack("<I", v) for v in (0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)) + (
    b"OB", b"SQ", b"UN", b"9999", b"1.2.840.10008.1.2.5\x00")
mutation = mutation_strategy(ANCHORS, SPECIAL, max_nth=3, max_offset=24)


# --- run in the worker process ------------------------------------------------------------------

def _guarded(fn, *args):
    from echobench.errors import EchobenchError

    try:
        return ("ok", fn(*args))
    except EchobenchError as exc:
        return ("error", f"{type(exc).__module__}.{type(exc).__qualname__}",
                [f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__], str(exc),
                getattr(exc, "reason", None))


def read_and_convert(path: str, clip: str) -> dict[str, tuple]:
    """read_dicom_cine and convert_file (a 16x16 clip) on one file; summaries only."""
    from echobench.data.dicom import read_dicom_cine
    from echobench.data.prepare import PrepareSettings, convert_file

    out = {"read": _guarded(read_dicom_cine, path)}
    if out["read"][0] == "ok":
        cine = out["read"][1]
        out["read"] = ("ok", cine.frames.shape, str(cine.frames.dtype), cine.fps, cine.region)
    Path(clip).unlink(missing_ok=True)
    out["convert"] = _guarded(convert_file, path, clip, PrepareSettings(size=16))
    if out["convert"][0] == "ok":
        out["convert"] += (Path(clip).stat().st_size,)
    return out


# --- checks in the test process -----------------------------------------------------------------

def check_outcome(outcome, path: Path) -> dict[str, tuple]:
    assert not outcome.raised, f"unhandled {outcome.error_type}: {outcome.message}\n{outcome.trace}"
    result = outcome.value
    for name in ("read", "convert"):
        if result[name][0] == "error":
            _, kind, chain, message, reason = result[name]
            assert DATA_ERROR in chain, f"{name}: {kind}: {message}"
            assert str(path) in message and "\n" not in message, message
            assert reason and str(path) not in reason and path.name not in reason, (reason, message)
            assert MARKER not in message, message
    if result["read"][0] == "ok":
        _, shape, dtype, fps, region = result["read"]
        assert len(shape) == 4 and min(shape) >= 1 and shape[3] == 3 and dtype == "uint8", result["read"]
        assert fps is None or fps > 0
        assert region is None or (0 <= region[0] < region[2] <= shape[2] and 0 <= region[1] < region[3] <= shape[1])
        # what reads, converts (min_frames 2 both times), unless the Modality is no longer US
        assert result["convert"][0] == "ok" or result["convert"][4].startswith("not ultrasound"), result
    if result["convert"][0] == "ok":
        fields, size = result["convert"][1], result["convert"][2]
        assert fields["frames"] >= 1 and (fields["height"], fields["width"]) == (16, 16) and size > 0, fields
    return result


@dataclass(frozen=True)
class Base:
    """A folder for the fuzzed files and the bytes of a good DICOM (short repr for Hypothesis reports)."""

    folder: Path
    data: bytes = field(repr=False)


@pytest.fixture(scope="module")
def base_dicom(tmp_path_factory) -> Base:
    folder = tmp_path_factory.mktemp("fuzz_dicom")
    ds = pydicom.dcmread(Path(pydicom.data.__file__).parent / "test_files" / "examples_ybr_color.dcm")
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))[:FRAMES]
    ds.PixelData, ds.NumberOfFrames = encapsulate(frames), FRAMES
    for keyword in ("PatientName", "PatientID", "InstitutionName", "OperatorsName"):
        setattr(ds, keyword, MARKER)
    ds.save_as(folder / "base.dcm")
    return Base(folder, (folder / "base.dcm").read_bytes())


@pytest.fixture(scope="module")
def worker():
    w = Worker(timeout_s=60, preload=("av", "torch", "pydicom", "echobench.data.prepare"))
    yield w
    w.close()


def run_on(worker, base: Base, data: bytes) -> dict[str, tuple]:
    path = base.folder / "fuzzed.dcm"
    path.write_bytes(data)
    return check_outcome(worker.call(read_and_convert, str(path), str(base.folder / "fuzzed.avi")), path)


def outcome_event(result: dict[str, tuple]) -> None:
    """Label the example for ``--hypothesis-show-statistics`` (how many inputs still decode)."""
    event(f"read {result['read'][0]}, convert {result['convert'][0]}")


def test_unmutated_file_reads(worker, base_dicom):
    result = run_on(worker, base_dicom, base_dicom.data)
    assert result["read"][:3] == ("ok", (FRAMES, 240, 320, 3), "uint8")
    assert result["convert"][1]["frames"] == FRAMES
    assert len(base_dicom.data) < 64_000 and all(a in base_dicom.data for a in ANCHORS)


@FUZZ
@given(ops=st.lists(mutation, min_size=1, max_size=4))
@example(ops=[("overwrite", (_tag(0x0028, 0x0010), 0, 8), b"\xff\xff")])  # Rows 65535
@example(ops=[("overwrite", (_tag(0x0028, 0x0008), 0, 8), b"9999")])  # NumberOfFrames 9999
@example(ops=[("overwrite", (_tag(0x0002, 0x0010), 0, 8), b"1.2.840.10008.1.2.5\x00")])  # RLE syntax
@example(ops=[("truncate", (_tag(0x7FE0, 0x0010), 0, 20))])  # ends inside the pixel data
def test_mutated_dicom(worker, base_dicom, ops):
    outcome_event(run_on(worker, base_dicom, mutate(base_dicom.data, ops)))


@FUZZ
@given(prefix=st.sampled_from([0, 132]), tail=st.binary(max_size=2048))
@example(prefix=0, tail=b"")  # an empty file
@example(prefix=132, tail=b"")  # a preamble and DICM, nothing else
def test_random_bytes(worker, base_dicom, prefix, tail):
    """Random bytes, alone or after the base file's 128-byte preamble and ``DICM`` prefix."""
    outcome_event(run_on(worker, base_dicom, base_dicom.data[:prefix] + tail))
