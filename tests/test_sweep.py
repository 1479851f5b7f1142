"""A sweep fills the leaderboard: `echobench run` over comma-separated backbones, heads and seeds,
then `echobench leaderboard` shows mean ± sd per model, the constant row and the published rows,
each naming split, protocol and version; the HTML page and its PNGs are written and self-contained."""

from __future__ import annotations

import re

import polars as pl
import pytest
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.results.records import read_records

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py

MODELS = ["echo-videomae+maxpool", "echo-videomae+stff", "video-resnet+maxpool", "video-resnet+stff"]


@pytest.fixture(scope="module")
def sweep(synth_tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    result = CliRunner().invoke(app, [
        "run", "--backbone", "echo-videomae,video-resnet", "--head", "maxpool,stff", "--task", "ef",
        "--seeds", "0,1", "--data", str(synth_tiny), "--epochs", "1", "--batch-size", "4", "--gpus", "0",
        "--n-boot", "50", "--results", str(out / "lb"), "--runs", str(out / "runs")])
    assert result.exit_code == 0, result.output
    return out


def _rows(text: str, title_part: str) -> list[str]:
    """The table rows under the first Markdown heading containing ``title_part``."""
    block = text.split(f"{title_part}")[1].split("###")[0]
    return [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| rank")]


@pytest.mark.slow
def test_sweep_writes_one_record_per_run(sweep):
    records = read_records(sweep / "lb")
    assert records["run_id"].n_unique() == 8
    runs = records.filter(pl.col("model") != "constant (TRAIN mean)").select("model", "seed").unique()
    assert sorted(runs.rows()) == sorted((m, s) for m in MODELS for s in (0, 1))


@pytest.mark.slow
def test_leaderboard_shows_mean_sd_constant_and_reported(sweep):
    result = CliRunner().invoke(app, ["leaderboard", "--results", str(sweep / "lb"), "--task", "ef"])
    assert result.exit_code == 0, result.output
    text = result.output
    measured = _rows(text, "ef@1 · protocol echovisionfm@1 · split TEST · one clip")
    assert len(measured) == 5, text  # four models + the constant predictor
    for model in MODELS:
        (row,) = [r for r in measured if f"| {model} (" in r]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == "TEST" and cells[3] == "echovisionfm@1"
        assert all(" ± " in c for c in cells[4:8]), row  # MAE, RMSE, R², r: mean ± sd over 2 seeds
        assert cells[-3] == "2"  # seeds (then n, vs constant)
    (const,) = [r for r in measured if "constant (TRAIN mean)" in r]
    assert "| TEST | echovisionfm@1 |" in const
    reported = _rows(text, "ef · REPORTED (published, not run here) · protocol echovisionfm · split VAL")
    assert any("Echo-VideoMAE + STFF-Net" in r and "| VAL | echovisionfm@paper |" in r and "| 4.18 |" in r
               for r in reported), text  # paper Table 2: MAE 0.0418 in EF/100 -> 4.18 EF points
    assert any("EchoNet-Dynamic" in r and "| TEST | echonet@paper |" in r for r in _rows(text, "ef · REPORTED (published, not run here) · protocol echonet"))
    assert "### ef50" not in text  # --task ef filters


@pytest.mark.slow
def test_html_page_and_pictures(sweep):
    CliRunner().invoke(app, ["leaderboard", "--results", str(sweep / "lb"), "--split", "all"])
    page = sweep / "lb" / "leaderboard.html"
    html = page.read_text()
    assert page.stat().st_size > 10_000 and html.count("data:image/png;base64,") >= 8
    assert not re.search(r"(src|href)\s*=\s*[\"'](https?:)?//", html) and "url(http" not in html
    pngs = list((sweep / "lb" / "figures").glob("*.png"))
    kinds = {p.name.rsplit("-", 1)[-1] for p in pngs}
    assert {"scatter.png", "altman.png", "roc.png", "confusion.png"} <= kinds
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 1000 for p in pngs)
    csv = pl.read_csv(sweep / "lb" / "leaderboard.csv")
    assert {"reported", "run"} == set(csv["source"]) and csv.filter(pl.col("source") == "run")["split"].n_unique() == 2
