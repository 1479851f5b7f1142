"""A sweep reads and decodes each external validation dataset (``--eval-data``) once, not once per run:
every run of the grid scores the same decoded videos and records the same external rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from echobench.data import clips as clips_module
from echobench.experiment import sweep
from echobench.results.records import read_records
from echobench.runner import RunConfig

pytestmark = pytest.mark.usefixtures("clips_112")  # echovisionfm at 112 px: tests/conftest.py


def test_a_sweep_decodes_each_external_dataset_once(synth_tiny, tmp_path, monkeypatch):
    from echobench.data.synth import synthesize

    site = tmp_path / "site-b"
    synthesize(site, videos=4, seed=5)
    decoded: list[Path] = []
    real = clips_module.decode_clips

    def counting(records, *args, **kwargs):
        decoded.extend(Path(r.path) for r in records)
        return real(records, *args, **kwargs)

    monkeypatch.setattr(clips_module, "decode_clips", counting)
    base = RunConfig(backbone="", head="", task="", data=synth_tiny, epochs=1, batch_size=4, n_boot=0, gpus=0,
                     eval_data=((None, site),), results=tmp_path / "lb", runs=tmp_path / "runs")
    configs = sweep.plan_sweep(base, backbones=["echo-videomae"], heads=["maxpool"], tasks=["ef"],
                               seeds=[0, 1])
    outcome = sweep.run_sweep(configs)
    assert len(outcome.results) == 2 and not outcome.failures
    external = [p for p in decoded if p.is_relative_to(site)]
    assert external and len(external) == len(set(external))  # each external video decoded once for both runs
    rows = read_records(tmp_path / "lb").filter((pl.col("dataset") == site.name) & (pl.col("metric") == "MAE")
                                                & pl.col("track").is_null())
    assert rows["run_id"].n_unique() == 2 and set(rows["n"]) == {len(set(external))}
    logs = [r.log.read_text() for r in outcome.results]
    assert sum("external data: read and decoded before this run" in text for text in logs) == 1
