"""`echobench score`: a predictions CSV scored on a split, next to the constant predictor, with one-line
errors for every bad input. The hand-built dataset's videos are not videos at all: scoring must
never decode them."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.metrics import ef50_from_ef, regression_report

# 40 videos: TRAIN 10, VAL 5, TEST 25; TEST EFs cover every band and the 50 % boundary
TEST_EF = [22.0, 31.5, 38.0, 39.9, 40.0, 44.0, 47.5, 49.9, 50.0, 50.0, 52.0, 54.9, 55.0, 57.0, 58.5,
           60.0, 61.0, 63.0, 64.5, 66.0, 68.0, 70.0, 72.5, 75.0, 79.0]
TRAIN_EF = [35.0, 45.0, 52.0, 56.0, 58.0, 60.0, 62.0, 64.0, 66.0, 70.0]
VAL_EF = [42.0, 55.0, 60.0, 65.0, 48.0]
NBOOT = "200"


def _name(i: int) -> str:
    return f"0XSCORE{i:04d}"


@pytest.fixture
def dataset(tmp_path) -> tuple[Path, dict[str, dict]]:
    root = tmp_path / "echonet"
    (root / "Videos").mkdir(parents=True)
    rows = {}
    for i, (ef, split) in enumerate([(e, "TRAIN") for e in TRAIN_EF] + [(e, "VAL") for e in VAL_EF]
                                    + [(e, "TEST") for e in TEST_EF]):
        edv = 80.0 + 3 * i
        rows[_name(i)] = {"FileName": _name(i), "EF": ef, "ESV": round(edv * (1 - ef / 100), 3), "EDV": edv,
                          "FrameHeight": 112, "FrameWidth": 112, "FPS": 50, "NumberOfFrames": 60, "Split": split}
        (root / "Videos" / f"{_name(i)}.avi").write_bytes(b"not a video")  # never decoded
    with (root / "FileList.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(next(iter(rows.values()))))
        writer.writeheader()
        writer.writerows(rows.values())
    return root, rows


def _test_rows(rows):
    return [r for r in rows.values() if r["Split"] == "TEST"]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _predictions(tmp_path, rows, value, *, skip=(), extra=()) -> Path:
    lines = ["site,FileName,prediction"]
    for k, r in enumerate(_test_rows(rows)):
        if r["FileName"] in skip:
            continue
        name = r["FileName"] + (".avi" if k % 2 else "")  # with and without .avi
        lines.append(f"A,{name},{value(r)!r}")
    lines += list(extra)
    return _write(tmp_path / "pred.csv", lines)


def _invoke(args):
    return CliRunner().invoke(app, ["score", *args])


def _fmt(est, digits: int) -> str:
    return f"{est.value:.{digits}f} [{est.low:.{digits}f}, {est.high:.{digits}f}]"


def _noisy(r) -> float:
    return r["EF"] + (-1) ** int(r["EF"]) * (1.0 + (r["EF"] % 7) / 2)


def test_ef_scores_every_test_video_with_intervals_and_constant_predictor(tmp_path, dataset):
    root, rows = dataset
    pred_csv = _predictions(tmp_path, rows, _noisy)
    result = _invoke([str(pred_csv), "--task", "ef", "--data", str(root), "--n-boot", NBOOT, "--seed", "3"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "split TEST" in out and "N = 25" in out and "200 resamples, seed 3" in out

    test = _test_rows(rows)
    true = np.array([r["EF"] for r in test])
    pred = np.array([_noisy(r) for r in test])
    const = float(np.mean(TRAIN_EF))
    model = regression_report(pred, true, ef=true, n_boot=200, seed=3)
    constant = regression_report(np.full_like(true, const), true, ef=true, n_boot=200, seed=3)
    for key, label in (("MAE", "MAE (EF points)"), ("RMSE", "RMSE (EF points)"), ("MAE[EF<40]", "MAE[EF<40] (EF points)"),
                       ("MAE[EF>=55]", "MAE[EF>=55] (EF points)")):
        line = next(ln for ln in out.splitlines() if f" {label} " in ln)
        assert _fmt(model[key], 2) in line and _fmt(constant[key], 2) in line, line
    r2_line = next(ln for ln in out.splitlines() if " R² " in ln)
    assert _fmt(model["R2"], 3) in r2_line and _fmt(constant["R2"], 3) in r2_line
    assert f"TRAIN mean {const:.2f} %" in out
    ef50 = ef50_from_ef(pred, true, n_boot=200, seed=3)  # derived from the predicted EF
    assert "EF < 50 % from predicted EF" in out
    assert _fmt(ef50["AUROC"], 3) in next(ln for ln in out.splitlines() if " AUROC " in ln)
    assert "F1[normal+]" in out


def test_synthetic_dataset_volume_task_any_case_split(tmp_path, synth_small):
    with (synth_small / "FileList.csv").open() as fh:
        test = [r for r in csv.DictReader(fh) if r["Split"].upper() == "TEST"]
    lines = ["FileName,prediction"] + [f"{r['FileName']},{float(r['EDV']) * 1.1:.3f}" for r in test]
    result = _invoke([str(_write(tmp_path / "edv.csv", lines)), "--task", "edv", "--data", str(synth_small),
                      "--split", "test", "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    true = np.array([float(r["EDV"]) for r in test])
    mae = regression_report(np.round(true * 1.1, 3), true, n_boot=0)["MAE"].value
    assert f"N = {len(test)}" in result.stdout and f"{mae:.2f} [" in result.stdout and "MAE (mL)" in result.stdout


def test_ef50_reads_probabilities_or_predicted_ef(tmp_path, dataset):
    root, rows = dataset
    test = _test_rows(rows)
    prob = {r["FileName"]: float(np.clip((60 - r["EF"]) / 40 + 0.1 * ((-1) ** len(r["FileName"])), 0, 1))
            for r in test}
    pred_csv = _predictions(tmp_path, rows, lambda r: prob[r["FileName"]])
    result = _invoke([str(pred_csv), "--task", "ef50", "--data", str(root), "--n-boot", "0"])
    assert result.exit_code == 0, result.output
    assert "probability of reduced EF" in result.stdout
    auroc = roc_auc_score([r["EF"] < 50 for r in test], [prob[r["FileName"]] for r in test])
    assert re.search(rf" AUROC +│ +{auroc:.3f} +│ +0\.500 ", result.stdout), result.stdout

    pred_csv = _predictions(tmp_path, rows, _noisy)
    result = _invoke([str(pred_csv), "--task", "ef50", "--data", str(root), "--n-boot", "0"])
    assert result.exit_code == 0, result.output
    assert "predicted EF in %" in result.stdout
    acc = ef50_from_ef([_noisy(r) for r in test], [r["EF"] for r in test], n_boot=0)["ACC"].value
    assert re.search(rf" ACC +│ +{acc:.3f} ", result.stdout)


def test_missing_predictions_refused_then_allowed(tmp_path, dataset):
    root, rows = dataset
    skip = [r["FileName"] for r in _test_rows(rows)[:7]]
    pred_csv = _predictions(tmp_path, rows, _noisy, skip=skip)
    args = [str(pred_csv), "--task", "ef", "--data", str(root), "--n-boot", "20"]
    result = _invoke(args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "no prediction for 7 of 25 TEST videos" in result.stderr and "and 2 more" in result.stderr
    assert ", ".join(skip[:5]) in result.stderr and "--allow-missing" in result.stderr

    result = _invoke(args + ["--allow-missing"])
    assert result.exit_code == 0, result.output
    assert "N = 18 of 25" in result.stdout and "scored 18 of 25 TEST videos" in result.stderr
    kept = [r for r in _test_rows(rows) if r["FileName"] not in skip]
    mae = regression_report([_noisy(r) for r in kept], [r["EF"] for r in kept], n_boot=0)["MAE"].value
    assert f"{mae:.2f} [" in next(ln for ln in result.stdout.splitlines() if " MAE (EF points) " in ln)


def test_volume_task_leaves_out_a_video_without_the_label(tmp_path, dataset):
    root, rows = dataset
    text = (root / "FileList.csv").read_text().splitlines()
    victim = _test_rows(rows)[0]["FileName"]
    text = [re.sub(r"^(0XSCORE\d+,[^,]+,)[^,]*", r"\1", ln) if ln.startswith(victim) else ln for ln in text]
    (root / "FileList.csv").write_text("\n".join(text) + "\n")
    pred_csv = _predictions(tmp_path, rows, lambda r: r["ESV"] + 2.0)
    result = _invoke([str(pred_csv), "--task", "esv", "--data", str(root), "--n-boot", "0"])
    assert result.exit_code == 0, result.output
    assert "N = 24" in result.stdout and "MAE (mL)" in result.stdout and "2.00" in result.stdout
    assert "1 TEST video(s) have no usable ESV" in result.stderr and "1 prediction(s) for them ignored" in result.stderr


@pytest.mark.parametrize("case, expected", [
    ("no file", "pred.csv: predictions file not found"),
    ("no column", "pred.csv: missing column(s) prediction"),
    ("duplicate", "FileName 0XSCORE0015 appears 2 times (lines 2, 27)"),
    ("non-numeric", "prediction for 0XSCORE0016 (line 3) is not a number: 'abc'"),
    ("empty value", "prediction for 0XSCORE0016 (line 3) is not a number: empty"),
    ("infinite", "prediction for 0XSCORE0017 (line 4) is not finite: 'inf'"),
    ("other videos", "7 prediction(s) name videos not in the TEST split"),
    ("bad split", "unknown split 'DEV'"),
    ("not a dataset", "FileList.csv: not found"),
    ("EF fractions", "look like EF fractions (EF/100); give EF in %"),
])
def test_bad_input_gives_one_error_line(tmp_path, dataset, case, expected):
    root, rows = dataset
    pred_csv = _predictions(tmp_path, rows, _noisy)
    lines = pred_csv.read_text().splitlines()
    args = ["--task", "ef", "--data", str(root)]
    if case == "no file":
        pred_csv.unlink()
    elif case == "no column":
        _write(pred_csv, [ln.rsplit(",", 1)[0] for ln in lines])
    elif case == "duplicate":
        _write(pred_csv, lines + [lines[1].replace("0XSCORE0015", "0XSCORE0015.avi")])
    elif case in ("non-numeric", "empty value", "infinite"):
        k = 4 if case == "infinite" else 3  # file line k: 0XSCORE0016 on line 3, 0XSCORE0017 on line 4
        value = {"non-numeric": "abc", "empty value": "", "infinite": "inf"}[case]
        lines[k - 1] = lines[k - 1].rsplit(",", 1)[0] + "," + value
        _write(pred_csv, lines)
    elif case == "other videos":  # 5 TRAIN/VAL videos and 2 unknown names
        extra = [f"A,{_name(i)},50.0" for i in (0, 1, 2, 11, 12)] + ["A,NOPE1,50", "A,NOPE2.avi,50"]
        _write(pred_csv, lines + extra)
    elif case == "bad split":
        args += ["--split", "dev"]
    elif case == "not a dataset":
        args = ["--task", "ef", "--data", str(tmp_path)]
    elif case == "EF fractions":
        pred_csv = _predictions(tmp_path, rows, lambda r: r["EF"] / 100)
    result = _invoke([str(pred_csv), *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr, result.stderr
    if case == "other videos":
        assert "0XSCORE0000 (in TRAIN)" in result.stderr and "0XSCORE0011 (in VAL)" in result.stderr
        assert "and 2 more" in result.stderr and "NOPE" not in result.stderr


def test_help_states_how_ef50_predictions_are_read():
    result = CliRunner().invoke(app, ["score", "--help"])
    assert result.exit_code == 0
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stdout).split())  # undo the help panel's wrapping
    assert "ef50: a probability of reduced EF (EF < 50 %) if EVERY value is in [0, 1] (reduced when >= 0.5)" in text
    assert "otherwise a predicted EF in % (reduced when < 50)" in text


def test_wrong_header_fails_before_torch_is_imported(tmp_path, dataset):
    """The header is checked before torch/torchmetrics load (they cost seconds to import)."""
    import subprocess
    import sys

    bad = tmp_path / "bad.csv"
    bad.write_text("name,value\na,1\n")
    probe = ("import sys\nfrom typer.testing import CliRunner\nfrom echobench.cli.main import app\n"
             f"r = CliRunner().invoke(app, ['score', {str(bad)!r}, '--task', 'ef', '--data', {str(dataset)!r}])\n"
             "print(r.exit_code, 'torch' in sys.modules, 'torchmetrics' in sys.modules)\nprint(r.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    code, torch_loaded, torchmetrics_loaded = done.stdout.split("\n")[0].split()
    assert code == "2" and "missing column(s) FileName, prediction" in done.stdout, done.stdout + done.stderr
    assert torch_loaded == "False" and torchmetrics_loaded == "False"
