"""Predictions-file reading and TEST-only scoring (issue 13 item 2, issue 12 item 9). The hand-built
datasets' videos are not videos: scoring never decodes them."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.errors import ConfigError, DataError
from echobench.scoring import read_predictions, score_predictions

TEST_EF = [30.0, 45.0, 52.0, 58.0, 61.0, 66.0, 70.0, 40.0]


def dataset(root: Path, splits: dict[str, list[float]]) -> Path:
    (root / "Videos").mkdir(parents=True)
    rows = []
    for split, efs in splits.items():
        for ef in efs:
            name = f"0XSC{len(rows):04d}"
            rows.append({"FileName": name, "EF": ef, "ESV": round(100 * (1 - ef / 100), 3), "EDV": 100.0,
                         "FrameHeight": 112, "FrameWidth": 112, "FPS": 50, "NumberOfFrames": 60, "Split": split})
            (root / "Videos" / f"{name}.avi").write_bytes(b"not a video")
    with (root / "FileList.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def predictions(path: Path, values: list[float], header: str = "FileName,prediction") -> Path:
    path.write_text(header + "\n" + "".join(f"0XSC{i:04d},{v}\n" for i, v in enumerate(values)))
    return path


def test_prediction_columns_differing_only_in_case_are_refused(tmp_path):
    path = tmp_path / "pred.csv"
    path.write_text("FileName,prediction,Prediction\n0XSC0000,55,0.55\n")
    with pytest.raises(DataError) as err:
        read_predictions(path)
    message = str(err.value)
    assert "'prediction' (column 2) and 'Prediction' (column 3)" in message and str(path) in message
    root = dataset(tmp_path / "data", {"TEST": [55.0]})
    result = CliRunner().invoke(app, ["score", str(path), "--task", "ef", "--data", str(root)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {message}"]


def test_duplicate_filename_header_is_refused(tmp_path):
    path = tmp_path / "pred.csv"
    path.write_text("FileName,prediction,FileName\n0XSC0000,55,0XSC0001\n")
    with pytest.raises(DataError, match=r"'FileName' \(column 1\) and 'FileName' \(column 3\) both read as FileName"):
        read_predictions(path)


def test_test_only_directory_is_scored_without_the_constant_row(tmp_path):
    root = dataset(tmp_path / "data", {"TEST": TEST_EF})
    pred = predictions(tmp_path / "pred.csv", [ef + 3 for ef in TEST_EF])
    result = score_predictions(pred, root, task="ef", n_boot=50)
    assert result.n == len(TEST_EF)
    section = result.sections[0]
    assert math.isclose(section.model["MAE"].value, 3.0)
    assert all(math.isnan(e.value) for e in section.constant.values())
    assert result.constant_label.startswith("unavailable:") and "--train-mean" in result.constant_label
    assert any("constant predictor unavailable" in note for note in result.notes)
    cli = CliRunner().invoke(app, ["score", str(pred), "--task", "ef", "--data", str(root), "--n-boot", "0"])
    assert cli.exit_code == 0, cli.output
    assert "n/a" in cli.stdout and "constant predictor: unavailable" in cli.stdout
    assert "constant predictor unavailable" in cli.stderr


def test_train_mean_gives_the_constant_row(tmp_path):
    root = dataset(tmp_path / "data", {"TEST": TEST_EF})
    pred = predictions(tmp_path / "pred.csv", [ef + 3 for ef in TEST_EF])
    result = score_predictions(pred, root, task="ef", n_boot=0, train_mean=55.0)
    expected = float(np.mean(np.abs(np.array(TEST_EF) - 55.0)))
    assert math.isclose(result.sections[0].constant["MAE"].value, expected)
    assert result.constant_label == "TRAIN mean 55.00 % (given by --train-mean)"
    cli = CliRunner().invoke(app, ["score", str(pred), "--task", "ef", "--data", str(root), "--n-boot", "0",
                                   "--train-mean", "55"])
    assert cli.exit_code == 0, cli.output
    assert f"{expected:.2f}" in cli.stdout


def test_train_mean_for_ef50_probabilities_must_be_a_probability(tmp_path):
    root = dataset(tmp_path / "data", {"TEST": TEST_EF})
    pred = predictions(tmp_path / "pred.csv", [0.9 if ef < 50 else 0.1 for ef in TEST_EF])
    with pytest.raises(ConfigError, match=r"--train-mean must be a probability in \[0, 1\]"):
        score_predictions(pred, root, task="ef50", n_boot=0, train_mean=55.0)
    result = score_predictions(pred, root, task="ef50", n_boot=0, train_mean=0.25)
    assert result.constant_label == "TRAIN rate of EF < 50 %, probability 0.250 (given by --train-mean)"
