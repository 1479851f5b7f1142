"""Leaderboard grouping: seeds of one setup are averaged; other settings (a different setup hash),
other protocol versions and published rows never are."""

from __future__ import annotations

import polars as pl

from echobench.results.leaderboard import markdown, summarize
from echobench.results.records import RECORD_SCHEMA


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
