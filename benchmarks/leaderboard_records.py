"""Synthetic run records for the leaderboard scale benchmark (issue 15 item 7).

:func:`write_runs` writes ``n`` distinct runs (each its own setup hash, so each is its own row) the
way ``echobench run`` does: one record per run through the real record writer
(:func:`echobench.results.records.write_record`) under ``<results>/records/`` and a
``predictions.parquet`` per run directory, with the rows a real EF run has: model and constant
predictor, VAL and TEST, the regression metrics and EF bands, the ``ef50`` rows of the EF model and
the agreement track on TEST.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from echobench.results.records import RECORD_SCHEMA, write_record

VIDEOS = 60  # per split in each run's predictions.parquet
REGRESSION = ("MAE", "RMSE", "R2", "r", "MAE[EF<40]", "MAE[EF40-54]", "MAE[EF>=55]")
BINARY = ("ACC", "F1", "AUROC")
AGREEMENT = ("BA bias", "BA LoA low", "BA LoA high", "EF cat agreement", "EF cat kappa")


def _rows(k: int, run_dir: Path, rng: np.random.Generator) -> list[dict]:
    base = {c: None for c in RECORD_SCHEMA}
    base.update(run_id=f"run-{k:05d}", created_at="2026-12-02T00:00:00Z", source="run", backbone="echo-videomae",
                head="maxpool", preset="tiny", weights="random init", task_version="1", trained_on="ef",
                protocol="echovisionfm", protocol_version="1", clips="one", n=VIDEOS, dataset="synthetic-echo",
                dataset_hash="d" * 64, synthetic=True, seed=0, config_hash=f"c{k:05d}", setup_hash=f"s{k:05d}",
                echobench_version="0", plugin_versions="{}", git_sha="0" * 40, device="cpu",
                precision="32-true", skipped="{}", notes="{}", run_dir=str(run_dir))
    rows = []
    mae = float(rng.uniform(3.5, 9.0))
    for model, shift in (("echo-videomae+maxpool", 0.0), ("constant (TRAIN mean)", 9.5 - mae)):
        model_free = ({"backbone": "-", "head": "-", "preset": "-", "weights": "-", "precision": "-",
                       "setup_hash": "-"} if model.startswith("constant") else {})
        for split in ("VAL", "TEST"):
            def row(task, metric, value, units, track=None):
                return {**base, "model": model, **model_free, "task": task, "split": split, "metric": metric,
                        "value": value, "ci_low": value - 0.4, "ci_high": value + 0.4, "units": units,
                        "track": track}

            rows += [row("ef", m, mae + shift + 0.1 * i, "%") for i, m in enumerate(REGRESSION)]
            rows += [row("ef50", m, 0.8 - 0.01 * i, "") for i, m in enumerate(BINARY)]
            if split == "TEST":
                rows += [row("ef", m, 0.5 * i, "%", track="agreement@1") for i, m in enumerate(AGREEMENT)]
    return rows


def write_runs(results: Path, n: int, *, seed: int = 0) -> None:
    """Write ``n`` distinct runs' records and predictions under ``results`` (``runs/`` and ``records/``)."""
    rng = np.random.default_rng(seed)
    for k in range(n):
        run_dir = Path(results) / "runs" / f"run-{k:05d}"
        run_dir.mkdir(parents=True, exist_ok=True)
        truth = rng.uniform(20, 75, size=2 * VIDEOS)
        pl.DataFrame({"FileName": [f"v{i}" for i in range(2 * VIDEOS)], "split": ["VAL", "TEST"] * VIDEOS,
                      "clips": ["one"] * (2 * VIDEOS), "prediction": truth + rng.normal(0, 6, size=2 * VIDEOS),
                      "truth": truth, "EF": truth}).write_parquet(run_dir / "predictions.parquet")
        write_record(_rows(k, run_dir.resolve(), rng), results, f"run-{k:05d}")
