"""Track rows get their own leaderboard sections, never the main tables; columns name each metric's
units (none for R²)."""

from __future__ import annotations

import polars as pl

from echobench.results.leaderboard import markdown, summarize
from echobench.results.records import RECORD_SCHEMA


def _row(metric: str, value: float, *, track=None, clips="one", units="%", n=10) -> dict:
    row = {c: None for c in RECORD_SCHEMA}
    row.update(run_id="a", source="run", model="m+h", backbone="m", head="h", preset="tiny", weights="random init",
               precision="32-true", trained_on="ef", task="ef", task_version="1", protocol="echovisionfm",
               protocol_version="1", split="TEST", clips=clips, metric=metric, value=value, ci_low=value - 1,
               ci_high=value + 1, units=units, n=n, dataset="d", dataset_hash="abc", synthetic=True, seed=0,
               setup_hash="S", config_hash="S0", track=track)
    return row


def test_tracks_have_their_own_sections():
    rows = [_row("MAE", 5.0), _row("BA bias", 1.5, track="agreement@1"), _row("EF cat kappa", 0.6, track="agreement@1", units=""),
            _row("MAE", 4.0, track="beats@1", clips="beats"), _row("R2", 0.7, track="beats@1", clips="beats"),
            _row("MAE[FPS:T1 (<=50)]", 6.0, track="strata@1", n=12),
            _row("MAE[gain:1]", 5.5, track="robustness@1"), _row("ΔMAE[gain:1]", 0.5, track="robustness@1"),
            _row("relΔMAE[gain:1]", 0.1, track="robustness@1", units="")]
    text = markdown(summarize(pl.DataFrame(rows, schema=RECORD_SCHEMA), reported=False))
    main, tracks = text.split("## Track", 1)
    assert "| m+h (tiny" in main and "BA bias" not in main  # unranked: no constant row to beat and "beats" not in main
    for track in ("agreement@1", "beats@1", "strata@1", "robustness@1"):
        assert f"## Track {track}" in text
    assert "BA bias (EF points) | EF cat kappa |" in tracks and "1.500 [0.500, 2.500]" in tracks
    assert "| MAE (EF points) | R² |" in tracks  # beats: R² has no units
    assert "| FPS:T1 (<=50) | 6.00 [5.00, 7.00] | 12 | no (n < 30) |" in tracks
    assert "| gain | 5.500 [4.500, 6.500] | 0.500 [-0.500, 1.500] | 0.100 [-0.900, 1.100] | 10 |" in tracks
