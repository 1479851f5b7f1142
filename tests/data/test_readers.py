"""The public reader toolkit for dataset plugins (:mod:`echobench.data.readers`, re-exported by
``echobench``), each function on a small fixture of the input class it takes in its stride: a CSV
with a bad row, a video folder with an MP4 beside an AVI and a non-video file, FileNames with and
without ``.avi``, damaged videos, traced frames in any order."""

from __future__ import annotations

import math
import os

import numpy as np
import polars as pl
import pytest

import echobench
from echobench import (DataError, DataReport, ed_es_frames, index_videos, label_notes, pick_video, probe_or_skip,
                       probe_reason, read_table, video_stem, video_stem_expr)
from echobench.data.video import write_avi
from tests.helpers import write_mp4

FRAMES = np.random.default_rng(0).integers(0, 255, (40, 16, 16), dtype=np.uint8)  # (T, H, W) grey


def test_the_toolkit_is_the_public_face_of_core_readers():
    from echobench.contract import reading, writing
    from echobench.data import echonet, readers

    for face in (reading, writing):
        for name in face.__all__:
            assert getattr(echobench, name) is getattr(face, name), name
        assert set(face.__all__) <= set(echobench.__all__)
    for name in set(reading.__all__) & set(readers.__all__):
        assert getattr(reading, name) is getattr(readers, name), name
    assert echonet.read_table is read_table and echonet.index_videos is index_videos  # one implementation


def test_read_table_keeps_a_bad_row_for_the_reader_to_count(tmp_path):
    path = tmp_path / "FileList.csv"
    path.write_text("\ufeff Filename ,ef,Split,Other\nA.avi, 55.5 ,train,x\nB,not a number,VAL\nC,40,TEST,y,extra\n")
    df = read_table(path, ("FileName", "EF", "Split", "FPS"))
    assert df.columns == ["FileName", "EF", "Split"]  # known spellings, header case/BOM/blanks ignored, FPS absent
    assert df["FileName"].to_list() == ["A.avi", "B", "C"] and df["EF"][0] == "55.5"  # cells stripped
    ef = df["EF"].cast(pl.Float64, strict=False).to_list()
    assert ef[1] is None and ef[2] == 40.0  # the bad cell is null (the reader skips its row); ragged row kept


@pytest.mark.parametrize(("text", "why"), [
    ('FileName,EF\n"X,1\nY,2\n', "cannot parse CSV"),
    ("", "cannot parse CSV"),
    ("FileName,EF,ef\nX,1,2\n", "'EF' (column 2) and 'ef' (column 3) both read as EF"),
])
def test_read_table_refuses_an_unusable_file_in_one_line_naming_it(tmp_path, text, why):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        read_table(path, ("FileName", "EF"))
    assert str(err.value).startswith(f"{path}: ") and why in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("name", "stem"), [
    ("0X1A2B.avi", "0X1A2B"), (" 0X1A2B.AVI ", "0X1A2B"), ("0X1A2B", "0X1A2B"), ("clip.mp4", "clip"),
    ("patient.01", "patient.01"), ("table.csv", "table.csv"), (".avi", ".avi"), ("", ""),
])
def test_video_stem_with_and_without_a_container_extension(name, stem):
    assert video_stem(name) == stem
    series = pl.Series([name, None])
    assert video_stem_expr(series).to_list() == [stem, ""]
    assert pl.DataFrame({"f": [name]}).select(video_stem_expr(pl.col("f")))["f"].to_list() == [stem]


def test_index_videos_mp4_beside_avi_and_what_is_not_a_video(tmp_path):
    for name in ("X.avi", "Y.avi"):
        write_avi(tmp_path / name, FRAMES, 50.0)
    write_mp4(tmp_path / "X.mp4", FRAMES)
    write_mp4(tmp_path / "Z.MP4", FRAMES)
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "._Y.avi").write_bytes(b"macOS resource fork")
    (tmp_path / "D.avi").mkdir()  # a directory named like a video
    (tmp_path / "W.avi").write_bytes(b"")
    (tmp_path / "W.AVI").write_bytes(b"")  # names differ only in case: neither used
    os.symlink(tmp_path / "gone.avi", tmp_path / "L.avi")  # broken link
    report = DataReport(root=tmp_path)
    index, unusable = index_videos(tmp_path, report)
    assert {s: sorted(c) for s, c in index.items()} == {"X": [".avi", ".mp4"], "Y": [".avi"], "Z": [".mp4"]}
    assert index["Z"][".mp4"] == tmp_path / "Z.MP4"
    assert unusable == {"D": ("video not usable", "D.avi: not a regular file (a directory)"),
                        "L": ("video not usable", "L.avi: broken symlink"),
                        "W": ("video ambiguous (file names differ only in case)", "W.AVI, W.avi")}
    assert report.entries_skipped == {"not a regular file (a directory)": 1, "broken symlink": 1,
                                      "file names differ only in case": 2}
    assert not report.skipped  # a listed row is skipped by the reader, with the reason returned


def test_index_videos_refuses_a_folder_it_cannot_list(tmp_path):
    with pytest.raises(DataError, match=f"^{tmp_path / 'Videos'}: cannot list the video directory"):
        index_videos(tmp_path / "Videos", DataReport(root=tmp_path))


def test_pick_video_by_the_file_names_own_extension(tmp_path):
    one, both = {".avi": tmp_path / "Y.avi"}, {".avi": tmp_path / "X.avi", ".mp4": tmp_path / "X.mp4"}
    assert pick_video(one, "Y") == (tmp_path / "Y.avi", "")
    assert pick_video(one, "Y.mp4") == (tmp_path / "Y.avi", "")  # one container: it, as EchoNet's loader does
    path, note = pick_video(both, "X.MP4")
    assert path == tmp_path / "X.mp4" and "X.avi, X.mp4 present" in note
    assert pick_video(both, "X") == (None, "X.avi, X.mp4")  # ambiguous: the reader skips the row naming them


def test_probe_or_skip_reads_frames_fps_and_size_and_counts_a_bad_file(tmp_path):
    write_avi(tmp_path / "good.avi", FRAMES, 50.0)
    write_mp4(tmp_path / "good.mp4", FRAMES, fps=25)
    blob = (tmp_path / "good.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "empty.avi").write_bytes(b"")
    (tmp_path / "junk.avi").write_bytes(b"RIFF not an AVI at all" * 10)
    report, calls = DataReport(root=tmp_path), []
    info = probe_or_skip(tmp_path / "good.avi", "good", report, calls.append)
    assert (info.frames, info.height, info.width, info.fps) == (40, 16, 16, 50.0)
    mp4 = probe_or_skip(tmp_path / "good.mp4", "good-mp4", report, calls.append)
    assert (mp4.frames, mp4.height, mp4.width, mp4.fps) == (40, 16, 16, 25.0)
    for name in ("cut", "empty", "junk", "absent"):
        assert probe_or_skip(tmp_path / f"{name}.avi", name, report, calls.append, what="clip") is None
    assert report.skipped == {"clip truncated": 1, "clip empty (0 bytes)": 1, "clip unreadable": 2}
    assert report.names["clip truncated"] == ["cut"] and calls == [1] * 6
    assert any(m.startswith("skipped: cut: clip truncated: ") and str(tmp_path / "cut.avi") in m
               for m in report.messages)
    assert probe_reason(DataError("x.avi: video file is empty (0 bytes)")) == "video empty (0 bytes)"


@pytest.mark.parametrize(("volumes", "ed_es"), [
    ({5: 30.0, 20: 80.0}, (20, 5)),  # ED traced after ES
    ({40: 50.0, 3: 90.0, 17: 20.0, 9: math.nan}, (3, 17)),  # more than two, in any order; NaN ignored
    ({4: 60.0, 8: 60.0, 12: 30.0, 16: 30.0}, (4, 12)),  # ties: the earlier frame
    ({5: 40.0, 20: 40.0}, (None, None)),  # equal volumes: undetermined
    ({5: 40.0}, (None, None)), ({5: 40.0, 6: math.nan}, (None, None)), ({}, (None, None)),
])
def test_ed_es_frames_by_method_of_discs_volume(volumes, ed_es):
    assert ed_es_frames(volumes) == ed_es


def test_label_notes_physically_inconsistent_labels():
    assert label_notes(60.0, 40.0, 100.0) == []
    assert label_notes(62.0, 40.0, 100.0) == []  # within EF_TOLERANCE points
    assert [r for r, _ in label_notes(20.0, 40.0, 100.0)] == ["EF disagrees with (EDV - ESV) / EDV"]
    assert [r for r, _ in label_notes(10.0, 120.0, 100.0)] == ["ESV greater than EDV"]
    assert label_notes(60.0, math.nan, 100.0) == []  # a missing volume is not checked
    assert "kept as published" in label_notes(20.0, 40.0, 100.0)[0][1]
