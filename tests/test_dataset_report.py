"""DataReport's summary of a reader's usable records (contract/dataset.py)."""

from __future__ import annotations

import math
from pathlib import Path

from echobench import DataReport, VideoRecord


def record(name: str, split: str, traced: tuple[int, ...], **labels: float) -> VideoRecord:
    return VideoRecord(file_name=name, path=Path(f"{name}.avi"), split=split, fps=50.0, num_frames=40,
                       frame_height=112, frame_width=112, traced_frames=traced, labels=labels)


def test_summarise_counts_splits_traced_frames_and_finite_label_ranges():
    report = DataReport(root=Path("."))
    records = [record("a", "TRAIN", (1, 9), EF=40.0, IVSd=1.0), record("b", "TRAIN", (), EF=60.0, IVSd=math.nan),
               record("c", "TEST", (4,), EF=50.0)]
    report.summarise(records, ("EF", "IVSd", "GLS"))
    assert report.rows_per_split == {"TRAIN": 2, "VAL": 0, "TEST": 1}
    assert report.traced_frames_hist == {0: 1, 1: 1, 2: 1}
    assert report.label_ranges == {"EF": (40.0, 50.0, 60.0), "IVSd": (1.0, 1.0, 1.0)}  # NaN and absent left out
    assert report.skip_counts() == "none"
    report.skip("video missing", "x", "")
    report.skip("video missing", "y", "")
    report.skip("EF missing or outside 0-100", "z", "")
    assert report.skip_counts() == "2 video missing, 1 EF missing or outside 0-100"
