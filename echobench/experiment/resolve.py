"""Stage 1, resolve: a :class:`~echobench.experiment.config.RunConfig` becomes specs, protocol, device
and checked output folders (:func:`resolve` -> :class:`Setup`), and, once the task data's hash is
known, the run's folder: a new one, or the unfinished one ``--resume`` continues
(:func:`open_run` -> :class:`RunFolder`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from echobench.experiment.config import ProgressFactory, RunConfig, check_outputs


@dataclass
class Setup:
    """The resolved run: registry entries, protocol, objective, the Fabric device, and its voices.

    ``log`` reports a warning to the caller and into ``log.txt``; on ranks other than 0 it and
    ``progress`` are silent (one voice). ``precision`` is what Fabric really uses.
    """

    registry: Any
    task: Any  # TaskSpec
    protocol: Any  # Protocol
    objective: Any  # Objective
    fabric: Any
    main: bool
    precision: str
    runlog: Any  # RunLog
    log: Callable[[str], None]
    progress: ProgressFactory | None
    weights: Any = None  # ResolvedWeights (echobench.experiment.weights): name, path, sha256


@dataclass
class RunFolder:
    """Where the run writes (``run_dir``), under which id and configuration hashes, and the resolved
    configuration written to ``config.json``; ``resumed``: continuing an unfinished run."""

    run_dir: Path
    run_id: str
    config_hash: str
    setup_hash: str
    config: dict[str, Any]
    resumed: bool


def resolve(cfg: RunConfig, *, registry=None, progress: ProgressFactory | None = None,
            log: Callable[[str], None] | None = None, echo: Callable[[str], None] | None = None) -> Setup:
    """Look up task, backbone, head and protocol, start the device (Fabric; several processes are
    launched here), and check the output folders, before any data are read.

    Raises:
        UnknownNameError: unknown backbone/head/task/protocol/preset, or weights name.
        WeightsError: a named weights file is absent from the weights folder or has another sha256.
        ConfigError: device request that the machine cannot satisfy; unwritable output folders; several
            processes asked for inside an already distributed sweep.
    """
    from echobench.engine.devices import make_fabric
    from echobench.engine.model import resolve_specs
    from echobench.engine.objective import Objective
    from echobench.errors import ConfigError
    from echobench.experiment.weights import resolve_weights
    from echobench.protocols import get_protocol
    from echobench.registry import get_registry
    from echobench.runlog import RunLog

    runlog = RunLog(echo=echo)
    warn = log or (lambda _msg: None)

    def noted(message: str) -> None:  # warnings go to the caller and into log.txt
        warn(message)
        runlog.line(f"note: {message}", echo=False)

    registry = registry or get_registry()
    task = registry.get("task", cfg.task)
    bspec, _ = resolve_specs(registry, backbone=cfg.backbone, head=cfg.head, preset=cfg.preset)
    weights = resolve_weights(bspec, cfg.weights)
    protocol = get_protocol(cfg.protocol)
    objective = Objective(task, protocol)
    fabric = make_fabric(gpus=cfg.gpus, precision=cfg.precision, cpu_processes=cfg.cpu_processes)
    check_outputs(cfg.results, cfg.runs)
    if fabric.world_size > 1:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():  # Fabric would start the command's processes again
            raise ConfigError("several processes (--gpus N > 1) run one configuration per command; "
                              "run the sweep's configurations one by one")
    fabric.launch()  # several processes: the other ranks start here (Fabric re-runs the command)
    main = fabric.global_rank == 0
    if not main:
        noted, progress = (lambda _msg: None), None  # one voice: rank 0
        runlog.echo = None  # its lines stay in memory: rank 0 alone writes log.txt
    precision = str(getattr(fabric.strategy.precision, "precision", cfg.precision))
    return Setup(registry=registry, task=task, protocol=protocol, objective=objective, fabric=fabric, main=main,
                 precision=precision, runlog=runlog, log=noted, progress=progress, weights=weights)


def open_run(cfg: RunConfig, setup: Setup, dataset_hash: str, *, dataset_tag: dict | None = None,
             externals: list | None = None) -> RunFolder | None:
    """The run's identity (config hash: settings, resolved precision, dataset hash and weights file
    contents) and folder: a new ``runs/<id>``, or with ``cfg.resume`` the newest unfinished run of the
    same hash. Writes ``config.json`` for a new run and attaches ``log.txt`` (rank 0). ``dataset_tag``:
    the dataset's registered name and version (hashed); ``externals``: the external validation data
    (:class:`~echobench.evaluation.external.ExternalData`), described in ``config.json``, not hashed.

    Returns:
        None when ``cfg.resume`` finds this configuration already completed (or its record written).
    """
    from echobench import __version__
    from echobench.atomic import atomic_write_text
    from echobench.engine import run_state
    from echobench.provenance import stable_hash
    from echobench.results.records import records_dir

    fabric, log = setup.fabric, setup.log
    from echobench.evaluation.external import EXTERNAL_RULE

    externals = externals or []
    identity = {**cfg.hashed(), "precision": setup.precision, "dataset_hash": dataset_hash, **(dataset_tag or {}),
                "weights_sha256": setup.weights.sha256[:16] if setup.weights.sha256 else None}  # as before names
    config_hash = stable_hash(identity)
    setup_hash = stable_hash({k: v for k, v in identity.items() if k != "seed"})  # what seeds share
    if cfg.resume:
        done = run_state.find_run(Path(cfg.runs), config_hash, complete=True)
        if done is not None:
            log(f"--resume: {done} already completed this configuration; not rerun")
            return None
    resume_dir = run_state.find_run(Path(cfg.runs), config_hash, complete=False) if cfg.resume else None
    fabric.barrier()  # every rank has looked before rank 0 creates a new run directory
    if cfg.resume and resume_dir is None:
        log(f"--resume: no unfinished run with this configuration under {cfg.runs}; starting a new run")
    if resume_dir is not None:
        run_dir, run_id = resume_dir, resume_dir.name
        log(f"resuming {run_dir}")
        if (records_dir(cfg.results) / f"{run_id}.parquet").is_file():  # killed after its record was written
            run_state.finish(run_dir)
            log(f"--resume: {run_dir} had already written its record; marked complete")
            return None
    else:
        created = datetime.now(timezone.utc)
        run_id = f"{created:%Y%m%dT%H%M%S}-{cfg.backbone}-{cfg.head}-{cfg.task}-s{cfg.seed}-{uuid.uuid4().hex[:6]}"
        run_id = fabric.broadcast(run_id, src=0)  # one run directory for all ranks
        run_dir = Path(cfg.runs) / run_id
        if setup.main:
            run_dir.mkdir(parents=True, exist_ok=False)
    config = {**identity, "data": str(Path(cfg.data).resolve()), "config_hash": config_hash, "setup_hash": setup_hash,
              **({"eval_data": [{"dataset": e.spec.name, "dataset_version": e.spec.version,
                                 "data": str(e.root.resolve()),
                                 "split": e.split, "dataset_hash": e.dataset_hash} for e in externals],
                  "external_rule": EXTERNAL_RULE} if externals else {}),
              "protocol_version": setup.protocol.version, "task_version": setup.task.version}
    if resume_dir is None and setup.main:
        atomic_write_text(run_dir / "config.json", json.dumps(config, indent=2))
    if setup.main:
        setup.runlog.attach(run_dir)
    setup.runlog.line(f"{'resumed' if resume_dir is not None else 'started'} run {run_id} "
                      f"(echobench {__version__}, device {fabric.device}, precision {setup.precision})")
    setup.runlog.settings(config)
    return RunFolder(run_dir=run_dir, run_id=run_id, config_hash=config_hash, setup_hash=setup_hash, config=config,
                     resumed=resume_dir is not None)
