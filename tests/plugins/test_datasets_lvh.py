"""EchoNet-LVH reader: its synthetic copy, a hand-written MeasurementsList.csv + Batch folders, and
the bad-input battery (every skip counted with its reason, one line per event)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from echobench.data.video import write_avi
from tests.helpers import one_line_data_error
from echobench_datasets import LVH_SPLIT_RULE
from echobench_datasets.lvh import SPLIT_RULE, read_lvh, synthesize_lvh

HEADER = ",HashedFileName,Calc,CalcValue,Frame,X1,X2,Y1,Y2,Frames,FPS,Width,Height,split"


def test_synthetic_copy_reads_with_measurements_in_cm(tmp_path):
    data = read_lvh(synthesize_lvh(tmp_path / "lvh", videos=3, seed=4))
    assert not data.report.skipped and not data.report.notes
    assert data.report.rows_per_split == {"TRAIN": 1, "VAL": 1, "TEST": 1}
    for r in data.records:
        assert 0.3 < r.label("IVSd") < 2 and 2 < r.label("LVIDd") < 7 and r.label("LVIDs") < r.label("LVIDd")
        assert math.isnan(r.label("LVPWs")) and r.ed_frame < r.es_frame and r.subgroups == {"view": "PLAX"}
    assert SPLIT_RULE == LVH_SPLIT_RULE


def write_lvh(root: Path, rows: list[str], names=("0XAA01", "0XAA02", "0XAA03", "0XAA04")) -> None:
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        write_avi(root / f"Batch{1 + i % 2}" / f"{name}.avi", rng.integers(0, 255, (12, 64, 80), np.uint8), 40.0)
    (root / "MeasurementsList.csv").write_text("\n".join([HEADER, *(f"{i},{r}" for i, r in enumerate(rows))]) + "\n")


def rows_for(name: str, split: str) -> list[str]:
    return [f"{name},IVSd,1.1,3,1,2,3,4,12,40,80,64,{split}", f"{name},LVIDd,4.6,3,1,2,3,4,12,40,80,64,{split}",
            f"{name},LVPWd,1.0,3,1,2,3,4,12,40,80,64,{split}", f"{name},LVIDs,3.1,9,1,2,3,4,12,40,80,64,{split}"]


def test_hand_written_folder_and_bad_input_battery(tmp_path):
    root = tmp_path / "EchoNet-LVH"
    rows = rows_for("0XAA01", "train") + rows_for("0XAA02", "Val") + rows_for("0XAA03", "test")
    write_lvh(root, rows)
    data = read_lvh(root)
    r = data.records[0]
    assert (r.split, r.fps, r.num_frames, r.frame_height, r.frame_width) == ("TRAIN", 40.0, 12, 64, 80)
    assert (r.ed_frame, r.es_frame, r.traced_frames) == (3, 9, (3, 9))
    assert (r.label("IVSd"), r.label("LVIDd"), r.label("LVPWd"), r.label("LVIDs")) == (1.1, 4.6, 1.0, 3.1)
    assert data.report.unlisted_videos == ["0XAA04"] and [x.split for x in data.records] == ["TRAIN", "VAL", "TEST"]

    rows[0] = rows[0].replace(",1.1,", ",11 mm,")                       # bad label (row ignored, noted)
    rows += rows_for("0XAA01", "train")[1:2]                             # duplicated id + measurement
    rows += [r.replace("Val", "test") for r in rows_for("0XAA02", "Val")[:1]]  # one video, two splits
    rows += rows_for("0XBB09", "train")                                  # missing file
    rows += ["0XAA04,LVIDd,75,3,1,2,3,4,12,40,80,64,train"]             # wrong size: 75 cm is mm or a typo
    write_lvh(root, rows)
    (root / "Batch2" / "0XAA02.avi").write_bytes(b"junk" * 50)          # unreadable file (and skipped anyway)
    (root / "Batch1" / "0XAA03.avi").write_bytes(b"junk" * 50)          # unreadable file
    data = read_lvh(root)
    report = data.report
    assert report.skipped == {"unknown or differing split": 1, "video missing": 1, "video unreadable": 1,
                              "no usable measurement": 1}
    assert report.rows == 5 and report.usable() + sum(report.skipped.values()) == report.rows
    assert [x.file_name for x in data.records] == ["0XAA01"] and math.isnan(data.records[0].label("IVSd"))
    assert report.notes == {"CalcValue missing or outside 0-15 cm (row ignored)": 2, "measurement repeated (first kept)": 1}
    found = [m for m in report.messages if "0XAA02" in m]
    assert len(found) == 1 and "\n" not in found[0] and "'TEST', 'VAL'" in found[0]


def test_folders_that_cannot_be_used_are_one_line_errors(tmp_path):
    def error(root) -> str:
        return one_line_data_error(read_lvh, root)

    assert "not an EchoNet-LVH-format directory" in error(tmp_path)
    write_lvh(tmp_path, ["0XAA01,LVIDd,4.0,3,1,2,3,4,12,40,80,64,holdout"])
    assert "no usable videos (1 unknown or differing split)" in error(tmp_path)
    (tmp_path / "MeasurementsList.csv").write_text("HashedFileName,Calc,split\nx,LVIDd,train\n")
    assert "missing required column(s) CalcValue" in error(tmp_path)
