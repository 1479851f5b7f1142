"""Provenance helpers: the dataset hash identifies the content a score was computed on, not the
spelling of its CSV files (issue 12 item 10)."""

from __future__ import annotations

from pathlib import Path

from echobench.provenance import dataset_hash

HEADER = "FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split"
ROWS = [("0X0001", "55.5", "40", "90", "TRAIN"), ("0X0002", "60.25", "30", "75", "VAL"),
        ("0X0003", "45", "50", "91", "TEST")]
VIDEOS = [("0X0001", 40), ("0X0002", 40), ("0X0003", 40)]


def write(root: Path, filelist: str, tracings: str) -> Path:
    root.mkdir(parents=True)
    (root / "FileList.csv").write_text(filelist)
    (root / "VolumeTracings.csv").write_text(tracings)
    return root


def official(root: Path) -> Path:
    """FileName without .avi in FileList, with .avi in VolumeTracings (as the release ships)."""
    filelist = "\n".join([HEADER] + [f"{n},{ef},{esv},{edv},112,112,50,40,{s}" for n, ef, esv, edv, s in ROWS])
    tracings = "FileName,X1,Y1,X2,Y2,Frame\n" + "".join(f"{n}.avi,1,2,3,4,5\n" for n, *_ in ROWS)
    return write(root, filelist + "\n", tracings)


def test_same_rows_with_and_without_avi_and_other_spelling_get_one_hash(tmp_path):
    a = official(tmp_path / "a")
    # the same content: .avi names, another header case and column order, an index column, CRLF,
    # numbers spelt differently, lower-case split, a BOM, tracings without .avi
    lines = ["\ufeff,split,FILENAME,ef,esv,edv,fps,NumberOfFrames,FrameWidth,FrameHeight"]
    for k, (n, ef, esv, edv, s) in enumerate(ROWS):
        lines.append(f"{k},{s.lower()},{n}.avi,{float(ef):.3f},{esv}.0,{edv},50.0,40,112,112")
    tracings = "FileName,X1,Y1,X2,Y2,Frame\r\n" + "".join(f"{n},1.0,2,3,4,5\r\n" for n, *_ in ROWS)
    b = write(tmp_path / "b", "\r\n".join(lines) + "\r\n", tracings)
    assert (a / "FileList.csv").read_bytes() != (b / "FileList.csv").read_bytes()
    assert dataset_hash(a, VIDEOS) == dataset_hash(b, VIDEOS)


def test_a_changed_label_split_tracing_or_video_set_changes_the_hash(tmp_path):
    base = dataset_hash(official(tmp_path / "base"), VIDEOS)
    label = official(tmp_path / "label")
    (label / "FileList.csv").write_text((label / "FileList.csv").read_text().replace("55.5", "55.6"))
    split = official(tmp_path / "split")
    (split / "FileList.csv").write_text((split / "FileList.csv").read_text().replace("VAL", "TEST"))
    tracing = official(tmp_path / "tracing")
    (tracing / "VolumeTracings.csv").write_text((tracing / "VolumeTracings.csv").read_text().replace(",4,5", ",4,6", 1))
    hashes = {dataset_hash(label, VIDEOS), dataset_hash(split, VIDEOS), dataset_hash(tracing, VIDEOS),
              dataset_hash(official(tmp_path / "videos"), VIDEOS[:2])}
    assert base not in hashes and len(hashes) == 4


def test_unparsable_tracings_are_hashed_by_their_bytes(tmp_path):
    a = official(tmp_path / "a")
    (a / "VolumeTracings.csv").write_bytes(b'FileName,Frame\n"unclosed,1\n')
    first = dataset_hash(a, VIDEOS)
    (a / "VolumeTracings.csv").write_bytes(b'FileName,Frame\n"unclosed,2\n')
    assert dataset_hash(a, VIDEOS) != first
