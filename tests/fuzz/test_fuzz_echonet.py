"""Fuzzing the EchoNet-Dynamic reader (issue 7 item 5): bad CSVs give counted skips or a DataError.

Mutated ``FileList.csv`` / ``VolumeTracings.csv`` rows (wrong types, missing, extra and re-cased
columns, huge numbers, negative/NaN/fractional frames, duplicate names, mixed-case splits, names with
and without ``.avi``) and mutated or random bytes (NUL bytes, invalid UTF-8, BOMs, CRLF, stray
quotes and commas, truncation) go through :func:`echobench.data.echonet.read_echonet` on a tiny
directory whose ``Videos/`` also holds a truncated, an empty and a missing video. The outcome must
be an :class:`~echobench.data.echonet.EchoNetData` whose report accounts for every row (kept +
skipped == listed) and whose records are sane, or a one-line DataError naming the file; the report
must also render (``echobench data check``). Each example runs in a worker process with a time
limit (tests/fuzz/isolation.py); Hypothesis is derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from echobench.data.video import write_avi
from echobench.errors import DataError
from tests.fuzz import fuzz_settings
from tests.fuzz.isolation import Worker
from tests.fuzz.mutations import mutate, mutation_strategy

FUZZ = fuzz_settings(60)
GOOD = ("0X1000", "0X1001", "0X1002")  # 8-frame 112x112 AVIs at 50 fps
TRUNCATED, EMPTY, MISSING = "0X1003", "0X1004", "0X1005"  # half a file, 0 bytes, no file
STEMS = GOOD + (TRUNCATED, EMPTY, MISSING)
FRAMES = 8
COLUMNS = ("FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split")
TRACING_COLUMNS = ("FileName", "X1", "Y1", "X2", "Y2", "Frame")
SPLITS = ("TRAIN", "VAL", "TEST")

# --- cells ----------------------------------------------------------------------------------------

odd_number = st.one_of(
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "-0", "1e-320", "0x10", "12,5",
                     "5 %", "abc", "None", "NA", "true", "١٢", "9" * 40, "-" + "9" * 40, "1_000", "+7", ".5", "5."]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.text(max_size=8),
)
name_cell = st.one_of(
    st.tuples(st.sampled_from(STEMS), st.sampled_from(["", ".avi", ".AVI", ".Avi"]),
              st.sampled_from(["", " ", "\t"])).map(lambda t: t[2] + t[0] + t[1] + t[2]),
    st.sampled_from(["", " ", ".avi", "0X9999", "0x1000", "Videos/0X1000.avi", "0X1000.avi.avi", "../0X1000"]),
    st.text(max_size=10),
)
split_cell = st.one_of(
    st.sampled_from(SPLITS).flatmap(
        lambda s: st.sampled_from([s, s.lower(), s.title(), f" {s} ", s[:2] + s[2:].lower()])),
    st.sampled_from(["", "TRAINING", "EXTERNAL", "val ", "Test\x00", "TR AIN"]),
    st.text(max_size=6),
)


def valid_number(low: float, high: float):
    return st.floats(low, high).map(lambda v: f"{v:.2f}")


CLEAN = {
    "FileName": st.sampled_from(STEMS),
    "EF": valid_number(5, 90),
    "ESV": valid_number(10, 200),
    "EDV": valid_number(20, 300),
    "FrameHeight": st.just("112"),
    "FrameWidth": st.just("112"),
    "FPS": st.sampled_from(["50", "50.0", "30"]),
    "NumberOfFrames": st.just(str(FRAMES)),
    "Split": st.sampled_from(SPLITS),
}
DIRTY = {c: st.one_of(CLEAN[c], odd_number) for c in COLUMNS} | {"FileName": name_cell, "Split": split_cell}
filelist_row = st.one_of(st.fixed_dictionaries(CLEAN), st.fixed_dictionaries(DIRTY))
tracing_row = st.fixed_dictionaries({
    "FileName": name_cell,
    **{c: st.one_of(st.integers(0, 112).map(str), odd_number) for c in ("X1", "Y1", "X2", "Y2")},
    "Frame": st.one_of(st.integers(0, 12).map(str), st.sampled_from(["7.0", "7.5", "-1", "1e20", "nan", "inf", ""]),
                       odd_number),
})

# --- headers: dropped, reordered, re-cased and extra (index, unnamed, duplicate) columns -------------


@st.composite
def header(draw, columns: tuple[str, ...]) -> list[str]:
    kept = draw(st.one_of(st.just(list(columns)), st.permutations(columns),
                          st.lists(st.sampled_from(columns), unique=True, max_size=len(columns))))
    cased = [draw(st.sampled_from([c, c.lower(), c.upper(), f" {c} "])) for c in kept]
    extras = draw(st.lists(st.sampled_from(["", "Unnamed: 0", "Notes", "index", "ef", "FileName"]), max_size=2))
    for extra in extras:
        cased.insert(draw(st.integers(0, len(cased))), extra)
    return cased


def to_csv(head: list[str], rows: list[dict[str, str]]) -> str:
    """CSV text with header ``head``; a header cell is filled from the row's column of that name
    (case-insensitively, stripped), other cells get a counter (like an index column)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    for k, row in enumerate(rows):
        lower = {name.lower(): value for name, value in row.items()}
        writer.writerow([lower.get(h.strip().lower(), str(k)) for h in head])
    return out.getvalue()


# --- byte mutations -------------------------------------------------------------------------------

byte_mutation = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 1 << 16),
              st.one_of(st.sampled_from([b"\x00", b"\xff\xfe", b"\xc3", b"\xef\xbb\xbf", b'"', b",", b"\n", b"\r",
                                         b"\r\n", b",,,,,,,,,,,,", b'"\n"', b"\x1a"]),
                        st.binary(min_size=1, max_size=6))),
    st.tuples(st.just("delete"), st.integers(0, 1 << 16), st.integers(1, 40)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 16)),
    st.tuples(st.just("crlf"), st.just(0)),
    st.tuples(st.just("encode"), st.sampled_from(["utf-16", "latin-1", "utf-8-sig"])),
)


def mutate_bytes(text: str, ops) -> bytes:
    data = text.encode()
    for kind, *args in ops:
        at = args[0] % (len(data) + 1) if isinstance(args[0], int) else 0
        if kind == "insert":
            data = data[:at] + args[1] + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + args[1]:]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif kind == "encode":
            data = data.decode("utf-8", "replace").encode(args[0], "replace")
    return data


# --- the directory, the worker, the target and the checks ----------------------------------------


@dataclass(frozen=True)
class Dataset:
    root: Path

    def write(self, filelist: bytes | None, tracings: bytes | None) -> None:
        """Replace the two CSVs (None deletes the file)."""
        for name, data in (("FileList.csv", filelist), ("VolumeTracings.csv", tracings)):
            path = self.root / name
            if data is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(data)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Dataset:
    root = tmp_path_factory.mktemp("fuzz_echonet") / "data"
    rng = np.random.default_rng(0)
    for stem in GOOD + (TRUNCATED,):
        write_avi(root / "Videos" / f"{stem}.avi", rng.integers(0, 256, (FRAMES, 112, 112), dtype=np.uint8), 50.0)
    truncated = root / "Videos" / f"{TRUNCATED}.avi"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size * 3 // 4])  # frames and index lost
    (root / "Videos" / f"{EMPTY}.avi").write_bytes(b"")
    return Dataset(root)


@pytest.fixture(scope="module")
def worker():
    w = Worker(timeout_s=60, preload=("av", "polars", "rich", "echobench.data.echonet", "echobench.data.check"))
    yield w
    w.close()


def read_and_render(root: str, probe: bool):
    """Run in the worker: read the directory and render its report as ``echobench data check`` does."""
    from rich.console import Console

    from echobench.data.check import render_report
    from echobench.data.echonet import read_echonet

    data = read_echonet(root, probe=probe)
    render_report(data.report, Console(file=io.StringIO(), width=100))
    return data


def check(dataset: Dataset, worker, rows_written: int | None = None, probe: bool = True):
    """Read ``dataset`` in the worker and check the outcome; return the EchoNetData, or the
    DataError's message."""
    outcome = worker.call(read_and_render, str(dataset.root), probe)
    if outcome.raised:
        assert outcome.is_error(DataError), f"unhandled {outcome.error_type}: {outcome.message}\n{outcome.trace}"
        assert "\n" not in outcome.message and str(dataset.root) in outcome.message, outcome.message
        return outcome.message
    data = outcome.value
    report = data.report
    assert report.usable() + sum(report.skipped.values()) == report.rows, (report.rows, report.skipped)
    assert report.usable() == len(data.records) >= 1
    if rows_written is not None:
        assert report.rows == rows_written
    assert all("\n" not in m and "\r" not in m for m in report.messages)
    names = [r.file_name for r in data.records]
    assert len(set(names)) == len(names) and all(names)
    for r in data.records:
        assert r.path.is_file() and r.path.parent == dataset.root / "Videos" and r.path.name[:-4] == r.file_name
        assert r.split in SPLITS
        assert math.isfinite(r.ef) and 0 <= r.ef <= 100
        assert all(math.isnan(v) or 0 <= v < math.inf for v in (r.esv, r.edv))
        assert math.isfinite(r.fps) and r.fps > 0
        assert r.num_frames == FRAMES if probe else r.num_frames >= 1  # probed: the file's count wins
        assert r.frame_height >= 1 and r.frame_width >= 1
        assert list(r.traced_frames) == sorted(set(r.traced_frames)) and all(f >= 0 for f in r.traced_frames)
    # a damaged video is only caught when probed; a missing one always
    assert set(names) <= set(GOOD if probe else GOOD + (TRUNCATED, EMPTY))
    return data


def fuzz_check(dataset: Dataset, worker, rows_written: int | None = None, probe: bool = True):
    """:func:`check`, labelling the example for ``--hypothesis-show-statistics``."""
    result = check(dataset, worker, rows_written, probe)
    if isinstance(result, str):
        event(f"DataError: {result.split(': ', 1)[-1][:40]}")
    else:
        event(f"kept {len(result.records)}")
    return result


def number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def stem_of(cell: str) -> str:
    cell = cell.strip()
    return cell[:-4] if cell.lower().endswith(".avi") else cell


# --- tests ----------------------------------------------------------------------------------------


def clean_rows() -> list[dict[str, str]]:
    return [{"FileName": stem, "EF": "55.5", "ESV": "40", "EDV": "90", "FrameHeight": "112", "FrameWidth": "112",
             "FPS": "50", "NumberOfFrames": str(FRAMES), "Split": SPLITS[i % 3]} for i, stem in enumerate(STEMS)]


def clean_tracings() -> list[dict[str, str]]:
    """The long axis and two chords per traced frame; frame 1 (ED) wider than frame 6 (ES)."""
    return [{"FileName": f"{stem}.avi", "X1": "1", "Y1": "2", "X2": str(3 + width * (k > 0)), "Y2": "40",
             "Frame": str(frame)} for stem in STEMS for frame, width in ((1, 20), (6, 10)) for k in range(3)]


def test_clean_directory(dataset, worker):
    dataset.write(to_csv(list(COLUMNS), clean_rows()).encode(),
                  to_csv(list(TRACING_COLUMNS), clean_tracings()).encode())
    data = check(dataset, worker, rows_written=len(STEMS))
    assert [r.file_name for r in data.records] == list(GOOD)
    assert all((r.traced_frames, r.ed_frame, r.es_frame) == ((1, 6), 1, 6) for r in data.records)
    assert data.report.skipped == {"video truncated": 1, "video empty (0 bytes)": 1, "video missing": 1}
    assert data.report.notes == {}


@FUZZ
@given(filelist_head=header(COLUMNS), rows=st.lists(filelist_row, max_size=8),
       tracings_head=st.one_of(st.none(), header(TRACING_COLUMNS)), tracings=st.lists(tracing_row, max_size=10),
       probe=st.booleans())
# Regressions found by this test: a FileName holding a carriage return (in either CSV) was copied
# into the report's message, so one event printed as two lines.
@example(filelist_head=list(COLUMNS), rows=[clean_rows()[0], clean_rows()[1] | {"FileName": "0\r0"}],
         tracings_head=None, tracings=[], probe=True)
@example(filelist_head=list(COLUMNS), rows=[clean_rows()[0]], tracings_head=list(TRACING_COLUMNS),
         tracings=[clean_tracings()[0] | {"FileName": "0X10\r00.avi"}], probe=True)
def test_mutated_rows(dataset, worker, filelist_head, rows, tracings_head, tracings, probe):
    """Structured mutations: every row polars sees is one we wrote, so the count must match
    exactly, and each record carries the EF of a row written for its video."""
    dataset.write(to_csv(filelist_head, rows).encode(),
                  None if tracings_head is None else to_csv(tracings_head, tracings).encode())
    data = fuzz_check(dataset, worker, rows_written=len(rows), probe=probe)
    if not isinstance(data, str):
        for r in data.records:
            assert any(stem_of(row["FileName"]) == r.file_name and number(row["EF"]) == r.ef for row in rows), r


@FUZZ
@given(filelist_ops=st.lists(byte_mutation, max_size=4), tracings_ops=st.lists(byte_mutation, max_size=4))
def test_mutated_bytes(dataset, worker, filelist_ops, tracings_ops):
    dataset.write(mutate_bytes(to_csv(list(COLUMNS), clean_rows()), filelist_ops),
                  mutate_bytes(to_csv(list(TRACING_COLUMNS), clean_tracings()), tracings_ops))
    fuzz_check(dataset, worker)


@FUZZ
@given(filelist=st.binary(max_size=512), tracings=st.one_of(st.none(), st.binary(max_size=512)),
       valid_header=st.booleans())
@example(filelist=b"", tracings=b"", valid_header=False)
def test_random_bytes(dataset, worker, filelist, tracings, valid_header):
    prefix = (",".join(COLUMNS) + "\n").encode() if valid_header else b""
    dataset.write(prefix + filelist, tracings)
    fuzz_check(dataset, worker)


# --- issue 13 "Checks": header mutations -------------------------------------------------------------
# Header cells re-cased, repeated (exactly or in another case), BOM-prefixed, quoted, padded, and
# whole files written with another delimiter; then byte edits anchored at the header's names and
# separators (tests/fuzz/mutations.py). A header in which two cells read as one known column must be
# refused, naming both; any other outcome is checked as above.

HEADER_ANCHORS = (b"FileName", b"EF", b"ESV", b"EDV", b"Split", b"FPS", b",", b"\n")
HEADER_SPECIAL = (b"\xef\xbb\xbf", b";", b"\t", b"|", b'"', b"ef", b"EF,", b"Ef", b"filename,", b" ", b",,")
header_edit = mutation_strategy(HEADER_ANCHORS, HEADER_SPECIAL, max_nth=2, max_offset=12)


@st.composite
def ambiguous_header(draw) -> list[str]:
    """A FileList header, with (often) a known column repeated exactly or in another case."""
    cells = [draw(st.sampled_from([c, c.lower(), c.upper(), f" {c} ", f'"{c}"'])) for c in COLUMNS]
    for _ in range(draw(st.integers(0, 2))):
        repeated = draw(st.sampled_from(COLUMNS))
        cells.insert(draw(st.integers(0, len(cells))),
                     draw(st.sampled_from([repeated, repeated.lower(), repeated.upper(), f" {repeated}"])))
    return cells


def header_keys(cells: list[str]) -> list[str]:
    return [c.strip().strip('"').strip().lstrip("\ufeff").lower() for c in cells]


@FUZZ
@given(cells=ambiguous_header(), bom=st.booleans(), delimiter=st.sampled_from([",", ",", ";", "\t"]),
       edits=st.lists(header_edit, max_size=3))
@example(cells=[*COLUMNS, "ef"], bom=False, delimiter=",", edits=[])
@example(cells=[*COLUMNS, "EF"], bom=True, delimiter=",", edits=[])
def test_mutated_headers(dataset, worker, cells, bom, delimiter, edits):
    head = delimiter.join(cells)
    body = to_csv(list(COLUMNS), clean_rows()).split("\n", 1)[1].replace(",", delimiter)
    data = ("\ufeff" if bom else "") + head + "\n" + body
    raw = data.encode()
    dataset.write(mutate(raw, edits), to_csv(list(TRACING_COLUMNS), clean_tracings()).encode())
    result = fuzz_check(dataset, worker)
    keys = header_keys(cells)
    repeated = [c for c in COLUMNS if keys.count(c.lower()) > 1]
    if not edits and delimiter == "," and repeated:
        assert isinstance(result, str) and "read as" in result and repeated[0] in result, result


# --- issue 13 "Checks": filesystem oddities in Videos/ ---------------------------------------------
# Symlink loops (to itself, or two links to each other), broken links, FIFOs, directories, files
# whose names differ only in case, unreadable files and links to good files, each under a listed
# or an unlisted name. None may stop the reader (a FIFO opened would block: the worker's time limit
# catches that); each odd entry is counted, named, and never used.

ODD_KINDS = ("loop", "loop pair", "broken link", "fifo", "directory", "case duplicate", "unreadable", "good link")
UNLISTED = ("0X2000", "0X2001")
odd_entry = st.tuples(st.sampled_from(ODD_KINDS), st.sampled_from(STEMS + UNLISTED),
                      st.sampled_from([".avi", ".AVI"]))


def add_oddity(videos: Path, kind: str, stem: str, ext: str) -> list[str]:
    """Create one odd entry; return the names it made that must not be used as videos."""
    path = videos / f"{stem}{ext}"
    if os.path.lexists(path) and kind not in ("case duplicate", "unreadable"):
        return []
    if kind == "loop":
        path.symlink_to(path.name)
    elif kind == "loop pair":
        other = videos / f"{stem}_pair{ext}"
        if os.path.lexists(other):
            return []
        path.symlink_to(other.name)
        other.symlink_to(path.name)
        return [path.name, other.name]
    elif kind == "broken link":
        path.symlink_to(videos / "nowhere" / path.name)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "case duplicate":
        source = videos / f"{GOOD[0]}.avi"
        twin = videos / f"{stem.lower() if stem != stem.lower() else stem.upper()}{ext.swapcase()}"
        if not source.is_file() or os.path.lexists(twin):
            return []
        if not os.path.lexists(path):
            shutil.copyfile(source, path)
        shutil.copyfile(source, twin)
        return [twin.name, path.name]
    elif kind == "unreadable":
        if not path.is_file() or path.is_symlink():
            return []
        path.chmod(0)
        return [path.name] if os.geteuid() != 0 else []  # root reads it anyway
    elif kind == "good link":
        if stem not in UNLISTED:
            return []  # a link to a good video under a listed name is simply that video
        path.symlink_to(videos / f"{GOOD[1]}.avi")
        return []
    return [path.name]


@fuzz_settings(30)  # each example copies a directory: fewer, as bounded as the others
@given(oddities=st.lists(odd_entry, min_size=1, max_size=5), probe=st.booleans())
@example(oddities=[("loop", UNLISTED[0], ".avi")], probe=True)
@example(oddities=[("fifo", GOOD[2], ".avi"), ("case duplicate", GOOD[0], ".avi")], probe=True)
def test_filesystem_oddities(dataset, worker, oddities, probe):
    rows = to_csv(list(COLUMNS), clean_rows()).encode()
    tracings = to_csv(list(TRACING_COLUMNS), clean_tracings()).encode()
    scratch = Path(tempfile.mkdtemp(dir=dataset.root.parent))
    try:
        odd = Dataset(scratch / "data")
        shutil.copytree(dataset.root / "Videos", odd.root / "Videos")
        odd.write(rows, tracings)
        unusable = {name for kind, stem, ext in oddities for name in add_oddity(odd.root / "Videos", kind, stem, ext)}
        data = fuzz_check(odd, worker, rows_written=len(STEMS), probe=probe)
        assert not isinstance(data, str), data  # only an unusable directory is an error
        used = {r.path.name for r in data.records}
        assert not used & unusable, (used, unusable)
        skipped_files = {m.split(": ")[1] for m in data.report.messages if m.startswith("skipped file: ")}
        assert unusable <= skipped_files, (unusable, data.report.messages)
        assert sum(data.report.entries_skipped.values()) >= len(unusable)
    finally:
        for folder, dirs, files in os.walk(scratch):
            for name in dirs + files:
                path = Path(folder) / name
                if not path.is_symlink() and path.exists() and not stat.S_ISFIFO(path.stat().st_mode):
                    path.chmod(0o755)
        shutil.rmtree(scratch)
