"""``echobench robustness RUN_DIR``: the robustness track of a finished run, scored afterwards.

The run's best weights (``best.safetensors``) are loaded into the model its ``config.json`` names,
its TEST split is read again (the dataset hash must still be the run's), and TEST is scored under
every perturbation x severity exactly as ``run --robustness`` does
(:func:`~echobench.evaluation.robustness.predict_perturbed`, then
:func:`~echobench.evaluation.robustness.degradation_scores` against the run's own clean one-clip TEST
predictions from ``predictions.parquet``). The rows, with the run's provenance (copied from its
record), go into a new append-only record ``<results>/records/<run_id>.robustness.parquet`` and into
``<run_dir>/robustness.json``. A run that already has robustness rows is refused (no duplicates).
The run's ``log.txt`` gains the phase's time and the record's path, or, when an output under a
perturbation is not finite, the ``stopped:`` line a run writes (:func:`echobench.evaluation.check_finite`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from echobench.errors import ConfigError, DataError

SUFFIX = ".robustness"


@dataclass
class RobustnessResult:
    """What :func:`score_run_robustness` wrote, and the rows (Scores) it scored."""

    run_id: str
    record: Path
    summary: Path
    scores: list
    units: str


def _read_config(run_dir: Path) -> dict:
    for name in ("config.json", "best.safetensors", "predictions.parquet"):
        if not (run_dir / name).is_file():
            raise DataError(f"{run_dir}: not a finished run directory ({name} missing)")
    try:
        return json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{run_dir / 'config.json'}: cannot be read ({exc})") from None


def score_run_robustness(run_dir: Path, *, results: Path = Path("leaderboard"), data: Path | None = None,
                         gpus: int | None = None, batch_size: int | None = None, n_boot: int | None = None,
                         progress=None, log: Callable[[str], None] | None = None, registry=None) -> RobustnessResult:
    """Score TEST of the finished run in ``run_dir`` under every perturbation x severity.

    Args:
        results: the leaderboard folder holding the run's record (``records/<run_id>.parquet``).
        data: the EchoNet-format folder (default: the one in the run's ``config.json``).
        gpus, batch_size, n_boot: as ``echobench run`` (default: the run's batch size and n_boot).

    Raises:
        DataError: not a finished run directory; its record is missing; the data changed since the
            run (dataset hash); its predictions do not cover TEST.
        ConfigError: the run already has robustness records.
        UnknownNameError, WeightsError: the run's backbone/head/weights can no longer be built.
        TrainingError: an output under a perturbation is not finite; the run's ``log.txt`` says
            ``stopped: TEST (<perturbation>, severity <s>) predictions are not finite`` and nothing is
            recorded.
    """
    import polars as pl
    import torch
    from safetensors.torch import load_file

    from echobench.atomic import atomic_write_new_parquet, atomic_write_text
    from echobench.engine.devices import make_fabric
    from echobench.engine.model import build_model
    from echobench.engine.objective import Objective
    from echobench.evaluation import CONSTANT
    from echobench.evaluation.robustness import check_perturbed, degradation_scores, predict_perturbed
    from echobench.evaluation.tracks import ROBUSTNESS
    from echobench.protocols import get_protocol
    from echobench.registry import get_registry
    from echobench.results.records import RECORD_SCHEMA, records_dir
    from echobench.runlog import RunLog
    from echobench.runner import prepare_data

    run_dir = Path(run_dir)
    config = _read_config(run_dir)
    run_id = run_dir.name
    record = records_dir(results) / f"{run_id}.parquet"
    if not record.is_file():
        raise DataError(f"{run_dir}: its record {record} is missing (give --results, the run's leaderboard folder)")
    rows = pl.read_parquet(record)
    extra = records_dir(results) / f"{run_id}{SUFFIX}.parquet"
    if extra.exists() or rows.filter(pl.col("track") == ROBUSTNESS.tag).height:
        raise ConfigError(f"{run_dir}: the run already has robustness records ({ROBUSTNESS.tag}); not scored again")
    registry = registry or get_registry()
    task = registry.get("task", config["task"])
    protocol = get_protocol(config["protocol"])
    objective = Objective(task, protocol)
    prepared = prepare_data(Path(data or config["data"]), task, protocol, progress=progress, log=log)
    if prepared.dataset_hash != config.get("dataset_hash"):
        raise DataError(f"{data or config['data']}: dataset hash {prepared.dataset_hash} differs from the run's "
                        f"{config.get('dataset_hash')} (the data changed since the run)")
    fabric = make_fabric(gpus=gpus, precision=config.get("precision"))
    model = build_model(registry, backbone=config["backbone"], head=config["head"], preset=config.get("preset"),
                        weights=config.get("weights"), backbone_options=config.get("backbone_options") or {},
                        head_options=config.get("head_options") or {},
                        clip_shape=(protocol.frames, protocol.size, protocol.size),
                        unit_input=protocol.normalization == "unit")
    model.load_state_dict(load_file(str(run_dir / "best.safetensors")))
    model = fabric.setup_module(model)
    test = prepared.records["TEST"]
    preds = pl.read_parquet(run_dir / "predictions.parquet").filter((pl.col("split") == "TEST") & (pl.col("clips") == "one"))
    by_name = dict(zip(preds["FileName"].to_list(), preds["prediction"].to_list()))
    missing = [r.file_name for r in test if r.file_name not in by_name]
    if missing:
        raise DataError(f"{run_dir / 'predictions.parquet'}: no TEST prediction for {len(missing)} video(s), "
                        f"e.g. {missing[0]}")
    clean = np.array([by_name[r.file_name] for r in test], dtype=np.float64)
    batch = batch_size or int(config.get("batch_size", 8))
    advance = progress("evaluate TEST under perturbations", len(test)) if progress else None
    runlog = RunLog()
    runlog.attach(run_dir)  # the run's log.txt, continued
    with runlog.phase("robustness: evaluate TEST under perturbations"), torch.no_grad():
        perturbed = predict_perturbed(fabric, model, test, protocol, objective=objective, batch_size=batch,
                                      stats=prepared.stats, seed=0, advance=advance, frame_size=prepared.frame_size)
    check_perturbed(perturbed, log=runlog.line)
    scores = degradation_scores(task, clean, perturbed, prepared.labels["TEST"],
                                n_boot=int(config.get("n_boot", 1000)) if n_boot is None else n_boot, seed=0)
    model_rows = rows.filter((pl.col("model") != CONSTANT) & pl.col("track").is_null() & (pl.col("split") == "TEST"))
    if model_rows.is_empty():
        raise DataError(f"{record}: no TEST model rows to take the run's provenance from")
    template = model_rows.row(0, named=True)
    created = datetime.now(timezone.utc).isoformat()
    new = [{**template, "created_at": created, "task": task.name, "task_version": task.version, "track": s.track,
            "split": "TEST", "clips": "one", "metric": s.metric, "value": s.estimate.value, "ci_low": s.estimate.low,
            "ci_high": s.estimate.high, "units": s.units, "n": len(test)} for s in scores]
    written = atomic_write_new_parquet(pl.DataFrame(new, schema=RECORD_SCHEMA), extra)
    summary = run_dir / "robustness.json"
    atomic_write_text(summary, json.dumps(
        {"track": ROBUSTNESS.tag, "created_at": created, "record": str(written),
         "scores": [{"metric": s.metric, "value": s.estimate.value, "ci_low": s.estimate.low,
                     "ci_high": s.estimate.high, "units": s.units} for s in scores]}, indent=2, default=float))
    runlog.line(f"robustness: record {written}")
    return RobustnessResult(run_id=run_id, record=written, summary=summary, scores=scores, units=task.units)
