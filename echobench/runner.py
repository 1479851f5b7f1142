"""``echobench run`` as a library call: fine-tune on TRAIN, select on VAL, evaluate on TEST.

The run lives in :mod:`echobench.experiment` as named stages (resolve -> task data -> fit ->
evaluate -> record); this module keeps the names every caller imports.
"""

from __future__ import annotations

from echobench.experiment.config import (
           EVAL_SPLITS,
           ProgressFactory,
           RunConfig,
           RunResult,
           check_outputs,
)
from echobench.experiment.run import run_experiment
from echobench.experiment.task_data import STATS_VIDEOS, PreparedData, prepare_data

__all__ = ["EVAL_SPLITS", "STATS_VIDEOS", "PreparedData", "ProgressFactory", "RunConfig", "RunResult",
           "check_outputs", "prepare_data", "run_experiment"]
