"""EchoNet-Dynamic reader: every bad input is counted with a one-line message, never dropped silently."""

from __future__ import annotations

import math
import os
import sys
import types

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from echobench.cli.data import app
from echobench.data.echonet import read_echonet
from echobench.data.video import write_avi
from echobench.errors import DataError

N = 6
FRAMES = 40


def stem(i: int) -> str:
    return f"0XTEST{i:04d}"  # as written by the make_echonet fixture (tests/data/conftest.py)


def cli(*args: str):
    root = typer.Typer()
    root.add_typer(app, name="data")
    return CliRunner().invoke(root, ["data", *args])


def messages_about(report, name: str) -> list[str]:
    return [m for m in report.messages if name in m]


def assert_one_message(report, name: str, *words: str) -> str:
    found = [m for m in messages_about(report, name) if all(w in m for w in words)]
    assert len(found) == 1, report.messages
    assert "\n" not in found[0]
    return found[0]


def assert_others_kept(data, expected: int, gone: set[str] = frozenset()) -> None:
    names = [r.file_name for r in data.records]
    assert len(names) == expected == data.report.usable()
    assert set(names) == {stem(i) for i in range(N)} - gone
    assert data.report.rows == N
    assert data.report.usable() + sum(data.report.skipped.values()) == N


def test_good_dir(make_echonet):
    d = make_echonet(N)
    assert d.names == [stem(i) for i in range(N)] and d.frames == FRAMES
    data = read_echonet(d.root)
    report = data.report
    assert report.rows_per_split == {"TRAIN": 3, "VAL": 2, "TEST": 1}
    assert not report.skipped and not report.unlisted_videos and report.tracings_for_unlisted == 0
    assert not report.notes  # FileName without .avi is the official FileList form: nothing to note
    assert report.traced_frames_hist == {2: N}
    r = data.records[0]
    assert (r.file_name, r.path, r.split) == (stem(0), d.video(stem(0)), "TRAIN")
    assert (r.fps, r.num_frames, r.frame_height, r.frame_width, r.traced_frames) == (50.0, FRAMES, 112, 112, (5, 20))
    assert r.ef == 40.0 and r.edv == 100.0 and r.esv == 60.0
    assert [x.file_name for x in data.split("val")] == [stem(3), stem(4)]
    low, mean, high = report.label_ranges["EF"]
    assert (low, high) == (40.0, 60.0) and math.isclose(mean, 50.0)


def test_no_filelist_raises_one_line(make_echonet):
    d = make_echonet(N)
    d.filelist.unlink()
    with pytest.raises(DataError) as err:
        read_echonet(d.root)
    assert str(d.filelist) in str(err.value) and "not found" in str(err.value)
    result = cli("check", str(d.root))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "FileList.csv" in lines[0]
    assert "Traceback" not in result.output + result.stderr


def test_missing_required_column_raises(make_echonet):
    d = make_echonet(N)
    d.header = ["FileName", "ESV", "EDV", "Split"]
    d.write()
    with pytest.raises(DataError, match="missing required column.*EF"):
        read_echonet(d.root)


def test_listed_video_missing(make_echonet):
    d = make_echonet(N)
    d.video(stem(2)).unlink()
    data = read_echonet(d.root)
    assert data.report.skipped == {"video missing": 1}
    assert "not found" in assert_one_message(data.report, stem(2), "skipped")
    assert data.report.missing_videos == [stem(2)]
    assert_others_kept(data, N - 1, {stem(2)})


def test_zero_byte_video(make_echonet):
    d = make_echonet(N)
    d.video(stem(1)).write_bytes(b"")
    data = read_echonet(d.root)
    assert data.report.skipped == {"video empty (0 bytes)": 1}
    assert "empty" in assert_one_message(data.report, stem(1), "skipped")
    assert_others_kept(data, N - 1, {stem(1)})


def test_truncated_video(make_echonet):
    d = make_echonet(N)
    blob = d.video(stem(4)).read_bytes()
    d.video(stem(4)).write_bytes(blob[: len(blob) // 2])
    data = read_echonet(d.root)
    assert data.report.skipped == {"video truncated": 1}
    assert "truncated" in assert_one_message(data.report, stem(4), "skipped")
    assert_others_kept(data, N - 1, {stem(4)})


def test_ef_nan_and_out_of_range(make_echonet):
    d = make_echonet(N)
    d.rows[0]["EF"] = "nan"
    d.rows[3]["EF"] = "150"
    d.rows[5]["EF"] = ""
    d.write()
    data = read_echonet(d.root)
    assert data.report.skipped == {"EF missing or outside 0-100": 3}
    for i in (0, 3, 5):
        assert "EF" in assert_one_message(data.report, stem(i), "skipped", "outside 0-100")
    assert_others_kept(data, N - 3, {stem(0), stem(3), stem(5)})


def test_volumes_nan_kept_bad_skipped(make_echonet):
    d = make_echonet(N)
    d.rows[1]["ESV"] = ""
    d.rows[2]["EDV"] = "-3"
    d.write()
    data = read_echonet(d.root)
    assert data.report.skipped == {"ESV/EDV non-numeric or negative": 1}
    assert data.report.notes["ESV/EDV missing"] == 1
    assert math.isnan(next(r for r in data.records if r.file_name == stem(1)).esv)
    assert_others_kept(data, N - 1, {stem(2)})


def test_lowercase_split(make_echonet):
    d = make_echonet(N)
    d.rows[0]["Split"] = "train"
    d.rows[3]["Split"] = "Val"
    d.rows[4]["Split"] = "holdout"
    d.write()
    data = read_echonet(d.root)
    assert data.report.notes["split written in lower case"] == 2
    assert "'train'" in assert_one_message(data.report, stem(0), "note", "Split")
    assert data.records[0].split == "TRAIN"
    assert data.report.skipped == {"unknown Split": 1}
    assert "holdout" in assert_one_message(data.report, stem(4), "skipped")
    assert data.report.rows_per_split == {"TRAIN": 3, "VAL": 1, "TEST": 1}
    assert_others_kept(data, N - 1, {stem(4)})


def test_filename_with_and_without_avi(make_echonet):
    d = make_echonet(N)
    d.rows[0]["FileName"] = f"{stem(0)}.avi"
    d.rows[1]["FileName"] = f"{stem(1)}.AVI"
    for row in d.tracings:  # tracings without .avi this time
        row["FileName"] = row["FileName"].removesuffix(".avi")
    d.write()
    data = read_echonet(d.root)
    assert not data.report.notes  # both forms are read alike (the official release mixes them)
    assert [r.file_name for r in data.records][:2] == [stem(0), stem(1)]
    assert data.records[1].path == d.video(stem(1))
    assert data.report.traced_frames_hist == {2: N}
    assert not data.report.skipped
    assert_others_kept(data, N)


def test_frame_size_not_112(make_echonet):
    d = make_echonet(N)
    d.rows[2]["FrameHeight"] = "128"
    d.write()
    data = read_echonet(d.root)
    assert data.report.notes["FrameHeight/FrameWidth not 112"] == 1
    assert "128x112" in assert_one_message(data.report, stem(2), "note", "FrameHeight/FrameWidth not 112")
    assert data.records[2].frame_height == 128
    assert_others_kept(data, N)


def test_tracings_for_unlisted_file(make_echonet):
    d = make_echonet(N)
    d.tracings += d.tracing_rows("0XGHOST.avi")
    d.write()
    data = read_echonet(d.root)
    assert data.report.tracings_for_unlisted == 8
    assert data.report.notes["tracings for a file not in FileList"] == 1
    assert "8 row(s)" in assert_one_message(data.report, "0XGHOST", "VolumeTracings.csv")
    assert not data.report.skipped
    assert_others_kept(data, N)


def test_extra_unnamed_index_column(make_echonet):
    d = make_echonet(N)
    d.index_column = True
    d.write()
    assert d.filelist.read_text().startswith(",FileName,")
    data = read_echonet(d.root)
    assert not data.report.skipped
    assert not data.report.notes
    assert_others_kept(data, N)


def test_container_fps_differs(make_echonet):
    d = make_echonet(N)
    frames = np.random.default_rng(1).integers(0, 256, (FRAMES, 112, 112), dtype=np.uint8)
    write_avi(d.video(stem(3)), frames, 30.0)
    data = read_echonet(d.root)
    assert data.report.notes["container fps differs from FileList FPS"] == 1
    assert "30" in assert_one_message(data.report, stem(3), "note", "fps")
    assert data.records[3].fps == 50.0  # FileList is trusted
    assert_others_kept(data, N)


def test_fps_missing_falls_back_to_container(make_echonet):
    d = make_echonet(N)
    d.rows[0]["FPS"] = "0"
    d.rows[1]["NumberOfFrames"] = "99"
    d.write()
    data = read_echonet(d.root)
    assert data.report.notes["FPS missing in FileList (container fps used)"] == 1
    assert data.records[0].fps == 50.0
    assert data.report.notes["NumberOfFrames differs from the file"] == 1
    assert "99" in assert_one_message(data.report, stem(1), "NumberOfFrames")
    assert data.records[1].num_frames == FRAMES
    assert_others_kept(data, N)


def test_implausible_fps_falls_back_to_container(make_echonet):
    d = make_echonet(N)
    d.rows[2]["FPS"] = "50000"  # e.g. typed in mHz
    d.write()
    data = read_echonet(d.root)
    assert data.report.notes["FPS above 1000 in FileList (container fps used)"] == 1
    assert "50000" in assert_one_message(data.report, stem(2), "FPS")
    assert data.records[2].fps == 50.0
    assert_others_kept(data, N)


def test_fractional_tracing_frame_is_ignored_and_counted(make_echonet):
    d = make_echonet(N)
    traced = sorted({int(t["Frame"]) for t in d.tracings if t["FileName"].startswith(stem(4))})
    for t in d.tracings:
        if t["FileName"].startswith(stem(4)) and int(t["Frame"]) == traced[0]:
            t["Frame"] = f"{traced[0]}.5"  # not a frame index: never truncated to one
    d.write()
    data = read_echonet(d.root)
    assert data.report.notes["tracing row without a valid Frame"] == 1
    assert data.records[4].traced_frames == tuple(traced[1:])
    assert_others_kept(data, N)


def test_duplicates_unlisted_and_traced_counts(make_echonet):
    d = make_echonet(N)
    d.rows.append(dict(d.rows[0], EF="10"))
    write_avi(d.root / "Videos" / "0XEXTRA.avi", np.zeros((3, 112, 112), np.uint8), 50.0)
    d.tracings = [t for t in d.tracings if not t["FileName"].startswith(stem(1))]
    d.tracings = [t for t in d.tracings if not (t["FileName"].startswith(stem(2)) and t["Frame"] == "20")]
    d.write()
    data = read_echonet(d.root)
    assert data.report.skipped == {"duplicate FileName": 1}
    assert "first kept" in assert_one_message(data.report, stem(0), "skipped")
    assert data.records[0].ef == 40.0
    assert data.report.unlisted_videos == ["0XEXTRA"]
    assert data.report.notes["no traced frames"] == 1 and data.report.notes["one traced frame"] == 1
    assert data.report.traced_frames_hist == {0: 1, 1: 1, 2: N - 2}
    assert data.report.rows == N + 1 and data.report.usable() == N


def test_no_usable_rows_raises(make_echonet):
    d = make_echonet(N)
    for row in d.rows:
        row["EF"] = "-1"
    d.write()
    with pytest.raises(DataError, match="no usable rows.*EF missing or outside 0-100"):
        read_echonet(d.root)


def test_progress_called_per_probed_video(make_echonet):
    d = make_echonet(N)
    calls = []
    read_echonet(d.root, progress=calls.append)
    assert calls == [1] * N
    calls.clear()
    data = read_echonet(d.root, probe=False, progress=calls.append)
    assert calls == [] and data.report.usable() == N


def test_cli_check_good_dir(make_echonet):
    d = make_echonet(N)
    d.video(stem(4)).unlink()
    result = cli("check", str(d.root))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Traceback" not in out
    for split, count in (("TRAIN", 3), ("VAL", 1), ("TEST", 1)):
        line = next(line for line in out.splitlines() if line.strip().startswith(split))
        assert line.split()[-1] == str(count)
    assert "video missing" in out and stem(4) in out and "EF (%)" in out


def test_cli_synth_calls_synthesize(monkeypatch, tmp_path):
    seen = {}

    def synthesize(out, *, videos, seed, progress):
        seen.update(out=out, videos=videos, seed=seed)
        for _ in range(videos):
            progress(1)
        return types.SimpleNamespace(videos=videos, ef_mean=55.5, ef_sd=12.3)

    monkeypatch.setitem(sys.modules, "echobench.data.synth", types.SimpleNamespace(synthesize=synthesize))
    result = cli("synth", str(tmp_path / "syn"), "--videos", "3", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert seen == {"out": tmp_path / "syn", "videos": 3, "seed": 7}
    assert result.stdout.strip().splitlines() == [
        f"wrote 3 synthetic videos to {tmp_path / 'syn'} (seed 7; EF mean 55.5 %, sd 12.3 %)"
    ]


# --- issue 13 item 2: ambiguous headers -------------------------------------------------------------


@pytest.mark.parametrize("second", ["ef", "EF", " Ef "])
def test_filelist_column_differing_only_in_case_is_refused(make_echonet, second):
    d = make_echonet(N)
    d.header = [*d.rows[0], second]  # a later EF-like column holding other values
    for row in d.rows:
        row[second] = "99.0"
    d.write()
    with pytest.raises(DataError) as err:
        read_echonet(d.root)
    message = str(err.value)
    assert "\n" not in message and str(d.filelist) in message
    assert "'EF' (column 2)" in message and f"{second.strip()!r} (column 10)" in message
    result = cli("check", str(d.root))
    assert result.exit_code == 2 and "99.0" not in result.stdout
    assert result.stderr.strip().splitlines() == [f"error: {message}"]


def test_tracings_column_differing_only_in_case_is_refused(make_echonet):
    d = make_echonet(N)
    d.write()
    path = d.root / "VolumeTracings.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",frame"] + [line + ",0" for line in lines[1:]]) + "\n")
    with pytest.raises(DataError, match=r"VolumeTracings.csv: columns 'Frame' \(column 6\) and 'frame' \(column 7\)"):
        read_echonet(d.root)


def test_bom_and_spaces_in_header_are_not_ambiguous(make_echonet):
    d = make_echonet(N)
    d.write()
    d.filelist.write_bytes(b"\xef\xbb\xbf" + d.filelist.read_bytes().replace(b"EF,", b" EF ,", 1))
    data = read_echonet(d.root)
    assert [r.ef for r in data.records] == [float(row["EF"]) for row in d.rows]


# --- issue 13 items 4 and 7: what Videos/ holds -------------------------------------------------------


def _skipped_file_messages(report, name):
    return [m for m in report.messages if m.startswith(f"skipped file: {name}:")]


def test_symlink_loop_fifo_dir_and_broken_link_are_counted_skips(make_echonet):
    d = make_echonet(N)
    videos = d.root / "Videos"
    (videos / "0XLOOP.avi").symlink_to("0XLOOP.avi")  # unlisted: must not refuse the dataset
    os.mkfifo(videos / "0XFIFO.avi")
    (videos / "0XDIR.avi").mkdir()
    d.video(stem(2)).unlink()
    d.video(stem(2)).symlink_to(videos / "nowhere.avi")  # listed, broken
    d.video(stem(3)).unlink()
    os.mkfifo(d.video(stem(3)))  # listed, a FIFO: must not block the reader
    data = read_echonet(d.root)
    report = data.report
    assert report.entries_skipped == {"symlink loop": 1, "not a regular file (a FIFO)": 2,
                                      "not a regular file (a directory)": 1, "broken symlink": 1}
    for name in ("0XLOOP.avi", "0XFIFO.avi", "0XDIR.avi", f"{stem(2)}.avi", f"{stem(3)}.avi"):
        assert len(_skipped_file_messages(report, name)) == 1, report.messages
    assert report.skipped == {"video not usable": 2}
    assert "broken symlink" in assert_one_message(report, stem(2), "skipped:", "line 4")
    assert "FIFO" in assert_one_message(report, stem(3), "skipped:", "line 5")
    assert_others_kept(data, N - 2, {stem(2), stem(3)})
    result = cli("check", str(d.root))
    assert result.exit_code == 0 and "Files in Videos/ not used" in result.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_video_is_a_counted_skip(make_echonet):
    d = make_echonet(N)
    d.video(stem(1)).chmod(0)
    try:
        data = read_echonet(d.root, probe=False)
    finally:
        d.video(stem(1)).chmod(0o644)
    assert data.report.entries_skipped == {"not readable (permission denied)": 1}
    assert data.report.skipped == {"video not usable": 1}


def test_unreadable_video_is_a_counted_skip_whoever_runs_it(make_echonet, monkeypatch):
    """The same as above where the tests run as root (who reads any file): access is refused here."""
    import echobench.data.echonet as echonet

    d = make_echonet(N)
    locked = str(d.video(stem(1)))
    real_access = os.access
    monkeypatch.setattr(echonet.os, "access", lambda path, mode: str(path) != locked and real_access(path, mode))
    data = read_echonet(d.root, probe=False)
    assert data.report.entries_skipped == {"not readable (permission denied)": 1}
    assert "permission denied" in assert_one_message(data.report, stem(1), "skipped:")
    assert_others_kept(data, N - 1, {stem(1)})


def test_unlistable_video_directory_is_one_error(make_echonet, monkeypatch):
    d = make_echonet(N)

    def scandir(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DataError, match=r"Videos: cannot list the video directory \(Permission denied\)"):
        read_echonet(d.root)


def test_names_differing_only_in_case_are_a_named_ambiguity(make_echonet):
    d = make_echonet(N)
    upper = d.root / "Videos" / f"{stem(1)}.AVI"
    write_avi(upper, np.zeros((FRAMES, 112, 112), np.uint8), 50.0)
    data = read_echonet(d.root)
    report = data.report
    assert report.entries_skipped == {"file names differ only in case": 2}
    assert report.skipped == {"video ambiguous (file names differ only in case)": 1}
    message = assert_one_message(report, stem(1), "skipped:")
    assert f"{stem(1)}.AVI" in message and f"{stem(1)}.avi" in message
    assert_others_kept(data, N - 1, {stem(1)})
    assert all(r.path.name != upper.name for r in data.records)


# --- issue 13 item 8: physically inconsistent labels --------------------------------------------------


def test_inconsistent_labels_are_noted_per_video_and_kept(make_echonet):
    d = make_echonet(N)
    d.rows[0].update(ESV="120", EDV="100")  # ESV > EDV
    d.rows[1].update(EF="70", ESV="60", EDV="100")  # volumes give 40 %
    d.rows[2].update(EF="42", ESV="60", EDV="100")  # 2 points off: within the tolerance
    d.rows[3].update(EF="10", ESV="", EDV="100")  # no ESV: nothing to compare
    d.write()
    data = read_echonet(d.root)
    report = data.report
    assert report.notes["ESV greater than EDV"] == 1
    assert report.notes["EF disagrees with (EDV - ESV) / EDV"] == 1
    assert "ESV 120 mL > EDV 100 mL" in assert_one_message(report, stem(0), "note:", "ESV greater")
    assert "volumes give 40.0 %" in assert_one_message(report, stem(1), "note:", "EF disagrees")
    assert not [m for m in messages_about(report, stem(2)) if "EF disagrees" in m]
    assert data.records[1].ef == 70.0 and data.records[0].esv == 120.0  # the publisher's labels
    assert_others_kept(data, N)
    result = cli("check", str(d.root))
    for reason, name in (("ESV greater than EDV", stem(0)), ("EF disagrees", stem(1))):
        lines = [line.split() for line in result.stdout.splitlines() if line.strip().startswith(reason)]
        assert [name] in [words[-1:] for words in lines]  # the label checks table names the video


# --- issue 13 item 12: a missing split -----------------------------------------------------------------


def test_missing_test_split_fails_data_check_after_the_report(make_echonet):
    d = make_echonet(N)
    d.rows[5]["Split"] = "VAL"
    d.write()
    result = cli("check", str(d.root))
    assert result.exit_code == 2
    assert "TRAIN" in result.stdout  # the report is still printed
    assert result.stderr.strip().splitlines() == [
        f"error: {d.root}: no usable TEST videos; `echobench run` needs TRAIN, VAL and TEST"]


def test_run_refuses_a_missing_split_before_decoding(make_echonet, monkeypatch):
    from echobench import runner
    from echobench.data import clips

    d = make_echonet(N)
    d.rows[5]["Split"] = "TRAIN"
    d.write()

    def decode_clips(*args, **kwargs):
        raise AssertionError("decoded before the split check")

    monkeypatch.setattr(clips, "decode_clips", decode_clips)
    task = types.SimpleNamespace(name="ef", label="EF", units="%")
    with pytest.raises(DataError, match=r"no usable TEST videos for task ef; `echobench run` needs"):
        runner.prepare_data(d.root, task, protocol=None)


# --- issue 12 item 7: ED/ES frames by method-of-discs volume ---------------------------------------


def test_ed_es_by_volume_whatever_the_number_and_order_of_traced_frames(make_echonet):
    d = make_echonet(N)
    d.tracings = [t for t in d.tracings if not t["FileName"].startswith((stem(1), stem(2)))]
    d.tracings += d.tracing_rows(f"{stem(1)}.avi", frames=(30, 3, 12, 25))  # volumes fall in this order
    d.tracings += d.tracing_rows(f"{stem(2)}.avi", frames=(33, 8))  # ED traced after ES
    d.write()
    data = read_echonet(d.root)
    by_name = {r.file_name: r for r in data.records}
    assert (by_name[stem(0)].ed_frame, by_name[stem(0)].es_frame) == (5, 20)
    assert by_name[stem(1)].traced_frames == (3, 12, 25, 30)
    assert (by_name[stem(1)].ed_frame, by_name[stem(1)].es_frame) == (30, 25)
    assert (by_name[stem(2)].ed_frame, by_name[stem(2)].es_frame) == (33, 8)
    assert data.report.notes["more than two traced frames (ED/ES chosen by volume)"] == 1
    message = assert_one_message(data.report, stem(1), "note:", "more than two")
    assert "ED = frame 30" in message and "ES = frame 25" in message
    assert data.report.traced_frames_hist == {2: N - 1, 4: 1}


def test_ed_es_undetermined_when_volumes_are_equal_or_missing(make_echonet):
    d = make_echonet(N)
    for t in d.tracings:
        if t["FileName"].startswith(stem(3)):
            t.update(X1="40", X2="70")  # both frames: the same chords
        if t["FileName"].startswith(stem(4)):
            t.update(X2="n/a")  # no volume at all
    d.write()
    data = read_echonet(d.root)
    for i in (3, 4):
        r = data.records[i]
        assert (r.traced_frames, r.ed_frame, r.es_frame) == ((5, 20), None, None)
        assert_one_message(data.report, stem(i), "note:", "ED/ES frames undetermined")
    assert data.report.notes["ED/ES frames undetermined"] == 2


# --- MP4 beside AVI (developers' guide: real folders mix containers) -----------------------------------


def test_mp4_videos_and_mp4_beside_avi(make_echonet):
    """A Videos/ folder mixing containers: an MP4-only video is read like an AVI; a stem with both an
    AVI and an MP4 uses the file FileName names (noted), and is a named ambiguity when FileName names
    neither (the row is skipped, the others kept)."""
    from echobench.data.clips import decode_clips
    from echobench.protocols import get_protocol
    from tests.helpers import write_mp4

    d = make_echonet(N)
    frames = np.random.default_rng(1).integers(0, 256, (FRAMES, 112, 112), dtype=np.uint8)
    d.video(stem(0)).unlink()
    write_mp4(d.root / "Videos" / f"{stem(0)}.MP4", frames, fps=50)  # MP4 only (upper-case extension)
    write_mp4(d.root / "Videos" / f"{stem(1)}.mp4", frames, fps=50)  # beside the AVI
    d.rows[1]["FileName"] = f"{stem(1)}.mp4"
    write_mp4(d.root / "Videos" / f"{stem(2)}.mp4", frames, fps=50)  # beside the AVI, FileName names neither
    d.write()
    data = read_echonet(d.root, probe=True)
    report = data.report
    by_name = {r.file_name: r for r in data.records}
    assert by_name[stem(0)].path.name == f"{stem(0)}.MP4" and by_name[stem(0)].num_frames == FRAMES
    assert by_name[stem(1)].path.name == f"{stem(1)}.mp4"
    assert report.notes["several containers for one FileName (FileName's extension used)"] == 1
    assert report.skipped == {"video ambiguous (several containers for one FileName)": 1}
    message = assert_one_message(report, stem(2), "skipped:")
    assert f"{stem(2)}.avi" in message and f"{stem(2)}.mp4" in message
    assert_others_kept(data, N - 1, {stem(2)})
    assert not report.unlisted_videos
    clips = decode_clips([by_name[stem(0)]], get_protocol("echovisionfm"))
    assert len(clips.clips) == 1 and not clips.skipped


def test_the_filelist_itself_given_as_the_data_directory_is_named_as_such(make_echonet):
    d = make_echonet(N)
    with pytest.raises(DataError, match=r"FileList\.csv: is a file; give the data directory that holds it"):
        read_echonet(d.root / "FileList.csv")
