"""EchoNet-Pediatric reader: its synthetic copy, a hand-written folder in the real layout, and the
EchoNet reader's bad-input battery (every skip counted with its reason, one line per event)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from echobench.data.video import write_avi
from tests.helpers import one_line_data_error
from echobench_datasets import PEDIATRIC_SPLIT_RULE
from echobench_datasets.pediatric import (FILELIST_COLUMNS, SPLIT_RULE, pediatric_masks, read_pediatric,
                                          synthesize_pediatric)

FRAMES = 20


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return synthesize_pediatric(tmp_path_factory.mktemp("pediatric") / "data", videos=6, seed=1)


def test_synthetic_copy_reads_with_both_views_subgroups_and_masks(synthetic):
    data = read_pediatric(synthetic)
    report = data.report
    assert report.rows == 6 and not report.skipped and not report.notes
    assert report.rows_per_split == {"TRAIN": 2, "VAL": 2, "TEST": 2}  # folds 8, 9, 0 in each view
    assert {r.subgroups["view"] for r in data.records} == {"A4C", "PSAX"}
    for r in data.records:
        assert r.dataset == "echonet-pediatric" and 0 < r.ef < 100 and r.fps > 0
        assert set(r.subgroups) == {"sex", "age_band", "view"} and r.subgroups["sex"] in ("M", "F")
        assert len(r.traced_frames) == 2 and {r.ed_frame, r.es_frame} == set(r.traced_frames)
        masks = pediatric_masks(r)
        assert set(masks) == set(r.traced_frames)
        assert masks[r.ed_frame].shape == (112, 112) and masks[r.ed_frame].sum() > masks[r.es_frame].sum() > 50
    assert SPLIT_RULE == PEDIATRIC_SPLIT_RULE  # the registered spec states the reader's rule


class PediatricDir:
    """A hand-written folder in the real layout: ``A4C/`` with 6 rows, ``PSAX/`` with 2 (names as in
    the release: ``CR...-...-000NNN``)."""

    def __init__(self, root: Path):
        self.root = root
        self.rows = {"A4C": [self.row(f"CR32a{i}-CR32b{i}-{i:06d}", 40 + i, fold) for i, fold in
                             enumerate([0, 1, 8, 9, 3, 4])],
                     "PSAX": [self.row(f"CR77a{i}-CR77b{i}-{i:06d}", 60, fold) for i, fold in enumerate([2, 9])]}
        rng = np.random.default_rng(0)
        for view, rows in self.rows.items():
            for row in rows:
                write_avi(self.video(view, row["FileName"]), rng.integers(0, 255, (FRAMES, 112, 112), np.uint8), 30.0)
        self.write()

    @staticmethod
    def row(name: str, ef: float, fold: int) -> dict[str, str]:
        return {"FileName": name, "EF": str(ef), "Sex": "F", "Age": "7.5", "Weight": "25", "Height": "120",
                "Split": str(fold)}

    def video(self, view: str, name: str) -> Path:
        return self.root / view / "Videos" / f"{name}.avi"

    def write(self) -> None:
        for view, rows in self.rows.items():
            (self.root / view).mkdir(parents=True, exist_ok=True)
            with (self.root / view / "FileList.csv").open("w", newline="") as fh:
                writer = csv.DictWriter(fh, FILELIST_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
            lines = ["FileName,X,Y,Frame"]
            for row in rows:  # ED frame 3: a 20x20 square; ES frame 12: a 10x10 square; the point order of an outline
                for frame, (lo, hi) in ((3, (40, 60)), (12, (45, 55))):
                    lines += [f"{row['FileName']}.avi,{x},{y},{frame}" for x, y in ((lo, lo), (hi, lo), (hi, hi), (lo, hi))]
            lines.append(f"{rows[0]['FileName']}.avi,,,No Systolic")
            (self.root / view / "VolumeTracings.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def pediatric(tmp_path) -> PediatricDir:
    return PediatricDir(tmp_path / "EchoNet-Pediatric")


def only_message(report, name: str, *words: str) -> str:
    found = [m for m in report.messages if name in m and all(w in m for w in words)]
    assert len(found) == 1, report.messages
    assert "\n" not in found[0]
    return found[0]


def test_hand_written_folder_in_the_real_layout(pediatric):
    data = read_pediatric(pediatric.root)
    report = data.report
    assert report.rows == 8 and not report.skipped
    assert report.rows_per_split == {"TRAIN": 5, "VAL": 1, "TEST": 2}
    assert [r.split for r in data.records[:4]] == ["TRAIN", "TRAIN", "VAL", "TEST"]  # folds 0, 1, 8, 9
    r = data.records[0]
    assert (r.fps, r.num_frames, r.frame_height, r.frame_width) == (30.0, FRAMES, 112, 112)
    assert (r.traced_frames, r.ed_frame, r.es_frame) == ((3, 12), 3, 12)  # ED: the larger outline
    assert r.labels == {"EF": 40.0} and r.subgroups == {"sex": "F", "age_band": "6-12", "view": "A4C"}
    masks = pediatric_masks(r)
    assert masks[3][41:60, 41:60].all() and 19 * 19 < masks[3].sum() <= 21 * 21 and not masks[3][:39].any()
    assert 9 * 9 < masks[12].sum() <= 11 * 11  # pixels on an edge may go either way (polygon_mask)
    assert report.notes == {"tracing row without a traced frame (e.g. No Systolic)": 2}


def test_bad_rows_and_files_are_counted_skips_and_the_rest_is_kept(pediatric):
    a4c, psax = pediatric.rows["A4C"], pediatric.rows["PSAX"]
    a4c[0]["EF"] = "abc"                              # bad label
    a4c[1]["Split"] = "TRAIN"                         # not a fold number
    a4c.append(dict(a4c[2]))                          # duplicated id in one view
    psax.append(dict(a4c[3]))                         # ... and across views
    pediatric.video("A4C", a4c[4]["FileName"]).unlink()                 # missing file
    pediatric.video("A4C", a4c[5]["FileName"]).write_bytes(b"junk" * 64)  # unreadable file
    write_avi(pediatric.video("PSAX", psax[0]["FileName"]), np.zeros((FRAMES, 64, 80), np.uint8), 30.0)  # wrong size
    pediatric.write()
    data = read_pediatric(pediatric.root)
    report = data.report
    assert report.skipped == {"EF missing or outside 0-100": 1, "Split not a fold 0-9": 1, "duplicate FileName": 2,
                              "video missing": 1, "video unreadable": 1}
    assert report.rows == 10 and report.usable() + sum(report.skipped.values()) == report.rows
    assert [r.file_name for r in data.records] == [a4c[2]["FileName"], a4c[3]["FileName"], psax[0]["FileName"],
                                                   psax[1]["FileName"]]
    assert "'abc'" in only_message(report, a4c[0]["FileName"], "skipped", "EF")
    assert "PSAX/FileList.csv line 4 repeats A4C/FileList.csv line 5" in only_message(
        report, a4c[3]["FileName"], "duplicate")
    assert report.notes["frame size not 112x112"] == 1
    assert "64x80" in only_message(report, psax[0]["FileName"], "note", "112x112")
    assert report.missing_videos == [a4c[4]["FileName"]]


def test_folders_that_cannot_be_used_are_one_line_errors(pediatric, tmp_path):
    def error(root) -> str:
        return one_line_data_error(read_pediatric, root)

    assert "not an EchoNet-Pediatric-format directory" in error(tmp_path)
    (pediatric.root / "PSAX" / "FileList.csv").write_text("FileName,Sex,Split\nx,F,1\n")
    assert "PSAX/FileList.csv: missing required column(s) EF" in error(pediatric.root)
    for row in pediatric.rows["A4C"] + pediatric.rows["PSAX"]:
        row["EF"] = "200"
    pediatric.write()
    assert "no usable rows" in error(pediatric.root) and "8 EF missing or outside 0-100" in error(pediatric.root)


def test_mp4_videos_named_with_their_extension_keep_their_tracings(pediatric):
    """FileList and VolumeTracings naming ``X.mp4`` (not ``.avi``): one stem, as core's reader makes it
    (``echobench.video_stem``), so the traced frames and masks are found."""
    from tests.helpers import write_mp4

    rows = pediatric.rows["PSAX"]
    for row in rows:
        pediatric.video("PSAX", row["FileName"]).unlink()
        write_mp4(pediatric.root / "PSAX" / "Videos" / f"{row['FileName']}.mp4", np.zeros((FRAMES, 112, 112), np.uint8))
        row["FileName"] += ".mp4"
    pediatric.write()
    tracings = pediatric.root / "PSAX" / "VolumeTracings.csv"
    tracings.write_text(tracings.read_text().replace(".mp4.avi,", ".MP4,"))  # FileName X.mp4, tracings X.MP4
    data = read_pediatric(pediatric.root)
    psax = [r for r in data.records if r.subgroups["view"] == "PSAX"]
    assert len(psax) == 2 and {r.path.suffix for r in psax} == {".mp4"} and not data.report.skipped
    for r in psax:
        assert (r.traced_frames, r.ed_frame, r.es_frame) == ((3, 12), 3, 12)
        assert set(pediatric_masks(r)) == {3, 12}
