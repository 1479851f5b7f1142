"""The later published TEST-split anchors are leaderboard rows with their split, clips and source."""

import polars as pl

from echobench.results.leaderboard import markdown, summarize
from echobench.results.records import RECORD_SCHEMA
from echobench.results.reported import reported_rows


def test_later_anchors_are_test_rows_with_protocol_and_source():
    rows = reported_rows().filter(pl.col("split") == "TEST")
    got = {(r["model"], r["task"], r["metric"]): (r["value"], r["clips"], r["protocol"], r["weights"])
           for r in rows.iter_rows(named=True)}
    assert got["Echo-Vision-FM (journal)", "ef", "MAE"][:3] == (3.87, "one", "echovisionfm")
    assert got["Echo-Vision-FM (journal)", "ef50", "AUROC"][0] == 0.931
    assert got["Echo-Vision-FM (journal)", "esv", "R2"][0] == 0.782 and got["Echo-Vision-FM (journal)", "edv", "R2"][0] == 0.742
    assert got["EchoCardMAE ViT-S/8", "ef", "MAE"][:2] == (3.78, "5 uniform")
    assert [got["CoReEcho", "ef", m][0] for m in ("MAE", "RMSE", "R2")] == [3.90, 5.13, 0.824]
    assert all(v[3] for v in got.values())  # every row names its source
    text = markdown(summarize(pl.DataFrame(schema=RECORD_SCHEMA), task="ef"))
    assert "| – | CoReEcho | TEST | coreecho@paper | 3.90 | 5.13 | 0.824 |" in text
