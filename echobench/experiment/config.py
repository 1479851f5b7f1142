"""What a run is given and what it hands back: :class:`RunConfig` (hashed into ``config_hash``) and
:class:`RunResult` (scores per split in natural units, next to the constant predictor)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from echobench import defaults
from echobench.progress import ProgressFactory  # noqa: F401  (re-export) the one progress type

EVAL_SPLITS = ("VAL", "TEST")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run (hashed into ``config_hash``, written to ``config.json``)."""

    backbone: str
    head: str
    task: str
    data: Path
    protocol: str = "echovisionfm"
    preset: str | None = "tiny"
    weights: str | None = None
    freeze_backbone: bool = False
    seed: int = 0
    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    lr: float = defaults.LR
    weight_decay: float = defaults.WEIGHT_DECAY
    n_boot: int = defaults.N_BOOT
    gpus: int | None = None
    precision: str | None = None
    num_workers: int | None = None  # None: 0 on the CPU, the available cores per process on CUDA (decoding: cores)
    cpu_processes: int = 1  # CPU processes with DDP over gloo (tests; same numbers as one process)
    results: Path = Path("leaderboard")
    runs: Path = Path("runs")
    resume: bool = False
    robustness: bool = False  # also score TEST under every perturbation x severity (evaluation.robustness)
    dataset: str | None = None  # registered dataset name of `data` (None: detected from the folder's markers)
    eval_data: tuple[tuple[str | None, Path], ...] = ()  # external validation: (dataset or None, folder) each
    backbone_options: dict[str, Any] = field(default_factory=dict)  # declared options (--backbone-option)
    head_options: dict[str, Any] = field(default_factory=dict)  # declared options (--head-option)

    def hashed(self) -> dict[str, Any]:
        """The fields that define the numbers (not where files go or how fast they are made). Empty
        option mappings are left out, so runs without options keep their earlier config hash."""
        skip = {"data", "results", "runs", "num_workers", "resume", "cpu_processes", "dataset",
                "eval_data"}  # resolved dataset name hashed; external datasets do not move the run's numbers
        skip |= {k for k in ("backbone_options", "head_options", "robustness") if not getattr(self, k)}
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items() if k not in skip}


@dataclass
class RunResult:
    """Scores (natural units) per split for the model and the constant predictor, and where things went."""

    run_id: str
    model: str  # "backbone+head"
    run_dir: Path
    record: Path
    protocol_tag: str
    task_tag: str
    units: str
    kind: str  # "regression" or "binary"
    metrics: dict[str, dict[str, float]]  # split -> metric -> value (one clip, the task's own metrics)
    constant: dict[str, dict[str, float]]
    n: dict[str, int]
    best_epoch: int
    all_clips: dict[str, dict[str, float]] = field(default_factory=dict)  # echonet protocol only
    skipped: dict[str, int] = field(default_factory=dict)
    resumed: bool = False
    notes: dict[str, int] = field(default_factory=dict)  # reader's and decoder's notes: reason -> videos
    # 95 % bootstrap intervals, split -> metric -> (low, high); NaN without bootstrap (n_boot = 0)
    metrics_ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    constant_ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    all_clips_ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    log: Path | None = None  # runs/<id>/log.txt
    label: str = "EF"  # the task's label column (units_label)
    external: list[tuple[str, str, dict[str, float]]] = field(default_factory=list)  # (dataset, split, metrics)


def check_outputs(*folders: Path) -> None:
    """Create the output folders, or raise :class:`~echobench.errors.ConfigError` naming the one that
    cannot be written."""
    from echobench.errors import ConfigError

    for folder in map(Path, folders):  # fail now, not after training
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{folder}: cannot create output folder ({exc.strerror or exc})") from None
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise ConfigError(f"{folder}: output folder is not writable")
