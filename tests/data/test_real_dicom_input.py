"""Real input end to end: the real echo loop ``color3d_jpeg_baseline.dcm`` from pydicom-data (SonoSite
apical 4-chamber, 120 frames, YBR_FULL_422, JPEG Baseline) is converted to an EchoNet-format 112x112
AVI with echobench's own code, placed in a dataset directory with MADE-UP labels (marked as such: this
is a pipeline test, not a clinical measurement), and ``echobench data check`` and ``echobench run``
process it through the normal path."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import polars as pl
import pytest
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.data.video import read_video
from tests.helpers import dicom_to_avi

SOURCE = "color3d_jpeg_baseline.dcm"
NAMES = {"TRAIN": "REAL_color3d_TRAIN", "VAL": "REAL_color3d_VAL", "TEST": "REAL_color3d_TEST"}
FRAMES = 120
LABEL_SOURCE = "MADE-UP (not a clinical measurement)"
# Made-up, self-consistent labels: EF = (EDV - ESV) / EDV = (100 - 45) / 100 = 55 %.
EDV, ESV, EF = 100.0, 45.0, 55.0


@pytest.fixture(scope="module")
def real_data(tmp_path_factory) -> tuple[Path, float]:
    """``<tmp>/real``: the converted loop under three FileNames (one per split), FileList.csv with
    made-up labels, a header-only VolumeTracings.csv and LABELS_ARE_MADE_UP.txt. Returns (root, fps)."""
    src = get_testdata_file(SOURCE, download=False)  # never touch the network
    if src is None:
        pytest.fail(f"{SOURCE} not found: install the test dependency pydicom-data")
    root = tmp_path_factory.mktemp("real_dicom") / "real"
    videos = root / "Videos"
    videos.mkdir(parents=True)
    first = videos / f"{NAMES['TRAIN']}.avi"
    count, fps = dicom_to_avi(src, first)
    assert count == FRAMES
    for split in ("VAL", "TEST"):
        shutil.copyfile(first, videos / f"{NAMES[split]}.avi")

    header = ["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split",
              "LabelSource"]
    with (root / "FileList.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for split, name in NAMES.items():
            writer.writerow([name, f"{EF:g}", f"{ESV:g}", f"{EDV:g}", 112, 112, f"{fps:.4f}", FRAMES, split,
                             LABEL_SOURCE])
    with (root / "VolumeTracings.csv").open("w", newline="") as fh:
        csv.writer(fh).writerow(["FileName", "X1", "Y1", "X2", "Y2", "Frame"])  # header only: no tracings
    (root / "LABELS_ARE_MADE_UP.txt").write_text(
        f"The videos in Videos/ are the real echo loop {SOURCE} from the PyPI package pydicom-data,\n"
        "converted to EchoNet format (112x112, frame for frame: echobench.data.dicom.cine_to_clip) and copied under one\n"
        "FileName per split. The EF/ESV/EDV values in FileList.csv are INVENTED for a pipeline test\n"
        f"(EDV {EDV:g} mL, ESV {ESV:g} mL, EF {EF:g} %); they are not clinical measurements of this loop.\n"
    )
    return root, fps


def test_converted_avi_decodes(real_data):
    root, fps = real_data
    assert fps == pytest.approx(30.0, abs=0.01)
    for name in NAMES.values():
        video = read_video(root / "Videos" / f"{name}.avi")
        assert video.shape == (FRAMES, 112, 112, 3)
        assert 5 < video.mean() < 250


def test_data_check_reads_real_loop(real_data):
    root, _ = real_data
    result = CliRunner().invoke(app, ["data", "check", str(root)])
    assert result.exit_code == 0, result.output
    output = result.output
    flat = " ".join(output.split())  # Rich wraps long lines at the console width
    assert "3 rows in FileList.csv, 3 usable, 0 skipped" in flat, output
    assert "Skipped rows" not in output
    for split in ("TRAIN", "VAL", "TEST"):
        assert any(line.split() == [split, "1"] for line in output.splitlines()), (split, output)
    assert "no traced frames" in output
    notes = [line.split() for line in output.splitlines() if "no traced frames" in line]
    assert ["no", "traced", "frames", "3"] in notes, output
    # Nothing else odd: no fps, frame-count or frame-size disagreement between FileList and the files.
    for reason in ("container fps differs", "NumberOfFrames differs", "frame size in the file differs"):
        assert reason not in output, output


def test_run_on_real_loop(real_data, tmp_path, monkeypatch):
    root, _ = real_data
    monkeypatch.chdir(tmp_path)
    args = ["run", "--backbone", "echo-videomae", "--head", "maxpool", "--task", "ef", "--data", str(root),
            "--epochs", "1", "--gpus", "0", "--results", str(tmp_path / "lb"), "--runs", str(tmp_path / "runs")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "TEST" in result.output and "protocol echovisionfm@1" in result.output, result.output
    assert "skipped videos" not in result.output

    run_dirs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(run_dirs) == 1
    preds = pl.read_parquet(run_dirs[0] / "predictions.parquet")
    test = preds.filter((pl.col("split") == "TEST") & (pl.col("clips") == "one"))
    assert test["FileName"].to_list() == [NAMES["TEST"]]
    assert math.isfinite(test["prediction"][0]) and test["truth"][0] == pytest.approx(EF)
    metrics = json.loads((run_dirs[0] / "metrics.json").read_text())
    assert metrics["skipped"] == {} and metrics["notes"].get("no traced frames") == 3

    records = list((tmp_path / "lb" / "records").glob("*.parquet"))
    assert [r.stem for r in records] == [run_dirs[0].name]
    record = pl.read_parquet(records[0])
    assert set(record["skipped"]) == {"{}"}
    assert set(record["synthetic"]) == {False} and set(record["dataset"]) == {"real"}
    assert set(record.filter(pl.col("split") == "TEST")["n"]) == {1}
