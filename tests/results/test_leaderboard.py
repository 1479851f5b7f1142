"""Leaderboard grouping: seeds of one setup are averaged; other settings (a different setup hash),
other protocol versions and published rows never are."""

from __future__ import annotations

import polars as pl

from echobench.results.leaderboard import markdown, summarize
from echobench.results.records import RECORD_SCHEMA, read_records


def _row(run: str, seed: int, setup: str, value: float, protocol_version: str = "1") -> dict:
    row = {c: None for c in RECORD_SCHEMA}
    row.update(run_id=run, source="run", model="m+h", backbone="m", head="h", preset="tiny", weights="random init",
               precision="32-true", trained_on="ef", task="ef", task_version="1", protocol="echovisionfm",
               protocol_version=protocol_version, split="TEST", clips="one", metric="MAE", value=value,
               ci_low=value - 1, ci_high=value + 1, units="%", n=10, dataset="d", dataset_hash="abc", synthetic=True,
               seed=seed, setup_hash=setup, config_hash=f"{setup}{seed}")
    return row


def test_seeds_average_but_setups_and_versions_do_not():
    records = pl.DataFrame([_row("a", 0, "S1", 4.0), _row("b", 1, "S1", 6.0), _row("c", 0, "S2", 9.0),
                            _row("d", 0, "S1", 3.0, protocol_version="2")], schema=RECORD_SCHEMA)
    summary = summarize(records, reported=False)
    by = {(r["setup_hash"], r["protocol_version"]): r for r in summary.iter_rows(named=True)}
    assert by["S1", "1"]["mean"] == 5.0 and by["S1", "1"]["runs"] == 2 and by["S1", "1"]["seeds"] == 2
    assert by["S2", "1"]["mean"] == 9.0 and by["S2", "1"]["runs"] == 1
    text = markdown(summary)
    assert text.count("### ef@1 · protocol echovisionfm@1") == 1 and text.count("### ef@1 · protocol echovisionfm@2") == 1
    assert "5.00 ± 1.41" in text and "9.00 [8.00, 10.00]" in text  # mean ± sd of seeds; one run: its interval


def test_reported_rows_keep_their_split_and_are_not_ranked():
    summary = summarize(pl.DataFrame(schema=RECORD_SCHEMA), task="ef")
    text = markdown(summary)
    assert "REPORTED (published, not run here) · protocol echovisionfm · split VAL" in text
    assert "| – | Echo-VideoMAE + STFF-Net | VAL | echovisionfm@paper | 4.18 | 5.47 | 0.802 |" in text


def _volume_run(tmp_path, model_mae: tuple[float, float, float], constant_mae=(12.13, 11.6, 12.7)):
    """One esv run record: a model and the constant predictor, MAE in mL with intervals."""
    from echobench.results.records import write_record

    rows = []
    for model, (value, low, high) in (("m+h", model_mae), ("constant (TRAIN mean)", constant_mae)):
        row = _row("esv-run", 0, "S1", value)
        row.update(model=model, task="esv", trained_on="esv", units="mL", ci_low=low, ci_high=high)
        rows.append(row)
    return write_record(rows, tmp_path, "esv-run")


def _measured_rows(text: str, heading: str) -> list[list[str]]:
    block = text.split(heading, 1)[1].split("###")[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()
            if line.startswith("| ") and not line.startswith("| rank")]


def test_a_model_worse_than_the_constant_is_marked_and_never_rank_1(tmp_path):
    _volume_run(tmp_path, (13.46, 12.9, 14.0))  # ~30 mL for every video: worse than the TRAIN mean
    summary = summarize(read_records(tmp_path), reported=False)
    rows = _measured_rows(markdown(summary), "### esv@1")
    (model,) = [r for r in rows if r[1].startswith("m+h")]
    assert model[0] == "–" and model[-1] == "worse than constant"
    assert not any(r[0] == "1" for r in rows)


def test_only_a_model_whose_interval_beats_the_constant_is_ranked(tmp_path):
    from echobench.results.records import write_record

    _volume_run(tmp_path, (9.0, 8.0, 10.0))
    rows = []
    for model, (value, low, high) in (("n+h", (11.5, 10.0, 13.0)), ("constant (TRAIN mean)", (12.13, 11.6, 12.7))):
        row = _row("esv-run-2", 0, "S2", value)
        row.update(model=model, task="esv", trained_on="esv", units="mL", ci_low=low, ci_high=high)
        rows.append(row)
    write_record(rows, tmp_path, "esv-run-2")
    table = _measured_rows(markdown(summarize(read_records(tmp_path), reported=False)), "### esv@1")
    assert [r[1].split(" ")[0] for r in table][:2] == ["m+h", "n+h"]
    assert table[0][0] == "1" and table[0][-1] == "beats constant"
    assert table[1][0] == "–" and table[1][-1] == "overlaps constant"  # better mean, interval overlaps


def test_sections_in_task_order_measured_first_and_published_volumes_explain_their_units(tmp_path):
    _volume_run(tmp_path, (9.0, 8.0, 10.0))
    ef = _row("ef-run", 0, "S1", 5.0)
    from echobench.results.records import write_record

    write_record([ef], tmp_path, "ef-run")
    text = markdown(summarize(read_records(tmp_path)))
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    tasks = [h[4:].split(" ")[0].split("@")[0] for h in headings]
    assert tasks == sorted(tasks, key=["ef", "esv", "edv", "ef50"].index), headings
    assert headings[0].startswith("### ef@1") and headings[1].startswith("### ef · REPORTED")
    assert headings.index(next(h for h in headings if h.startswith("### esv@1"))) < \
        headings.index(next(h for h in headings if h.startswith("### esv · REPORTED")))
    for heading in headings:
        if "REPORTED" in heading and heading.split(" ")[1] in ("esv", "edv"):
            # in mL (the journal version's R² rows), or in ln mL saying why it is not converted (paper v1)
            assert heading.endswith("· mL") or (
                "ln mL: published on the natural-log volume scale" in heading and "not convertible to mL" in heading), heading
    assert any("ln mL: published on the natural-log volume scale" in h for h in headings)


def test_a_filtered_call_leaves_the_saved_board_whole_and_stale_figures_go(tmp_path):
    from echobench.results.leaderboard import build_leaderboard

    _volume_run(tmp_path, (9.0, 8.0, 10.0))
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "old-run-scatter.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    whole = build_leaderboard(tmp_path)
    assert not whole.filtered and whole.removed == 1 and not (tmp_path / "figures" / "old-run-scatter.png").exists()
    saved = {p.name: p.read_bytes() for p in whole.saved}
    assert set(saved) == {"leaderboard.md", "leaderboard.csv", "leaderboard.html"}
    assert "### ef50 · REPORTED" in saved["leaderboard.md"].decode()
    view = build_leaderboard(tmp_path, task="esv", out=tmp_path / "esv.md")
    assert view.filtered and not view.saved and "### ef50" not in view.text
    assert (tmp_path / "esv.md").read_text() == view.text
    assert {p.name: p.read_bytes() for p in whole.saved} == saved  # the saved board is unchanged


_REPEAT_SUMMARY = """
import numpy as np, polars as pl
from echobench.results.leaderboard import summarize
from echobench.results.records import RECORD_SCHEMA
n = 6000  # 50 groups of 120 rows, spread over many small morsels (POLARS_IDEAL_MORSEL_SIZE)
rng = np.random.default_rng(0)
frame = pl.DataFrame({c: [None] * n for c in RECORD_SCHEMA}, schema=RECORD_SCHEMA).with_columns(
    pl.lit("constant (TRAIN mean)").alias("model"), pl.lit("ef").alias("task"), pl.lit("TEST").alias("split"),
    pl.Series("metric", [f"m{i % 50}" for i in range(n)]),
    pl.Series("value", rng.uniform(0, 100, n) * 10.0 ** rng.integers(-3, 4, n)),
    pl.Series("run_id", [f"r{i}" for i in range(n)]), pl.Series("seed", np.arange(n)), pl.Series("n", np.arange(n)))
print(len({summarize(frame, reported=False).write_csv() for _ in range(4)}))
"""


def test_the_same_records_summarize_to_the_same_bytes():
    """Means over many rows do not depend on thread timing (polars' streaming engine summed a group's
    floats in a timing-dependent order: two boards of the same records differed in the CSV's last
    digits). Small morsels make that order vary on every call; the env var is read once per process."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "POLARS_IDEAL_MORSEL_SIZE": "64"}
    done = subprocess.run([sys.executable, "-c", _REPEAT_SUMMARY], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
