"""A sweep: the grid tasks x backbones x heads x seeds run one after another (``echobench run`` with
comma-separated names), every name and option checked before anything runs, the task data read and
decoded once per task label and shared by every model and seed, and a failed-run policy: unusable
data (or a one-run grid) stop the sweep with the error; any other failed run is reported and counted
while the sweep goes on (:func:`plan_sweep` -> :func:`run_sweep` -> :class:`SweepOutcome`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from echobench.experiment.config import (
    ProgressFactory,
    RunConfig,
    RunResult,
    check_outputs,
)


@dataclass
class SweepOutcome:
    """The results of the runs that finished (not those ``resume`` found complete) and one line per
    failed run (``"backbone+head task seed S: <error>"``)."""

    results: list[RunResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    runs: int = 0


def plan_sweep(base: RunConfig, *, backbones: Sequence[str], heads: Sequence[str], tasks: Sequence[str],
               seeds: Sequence[int], backbone_pairs: Sequence[str] = (), head_pairs: Sequence[str] = (),
               registry=None) -> list[RunConfig]:
    """Every configuration of the grid (tasks outermost, then backbones, heads, seeds), ``base``
    giving every other setting; ``--backbone-option``/``--head-option`` pairs are parsed against each
    backbone's and head's declared options. Device and output folders are checked too, so a mistake is
    found before any decoding.

    Raises:
        UnknownNameError: an unknown task/backbone/head/protocol/preset (did-you-mean).
        ConfigError: an undeclared option or bad value; a task label the dataset lacks (or gives in other
            units), also in an ``eval_data`` dataset; a device the machine lacks; unwritable folders.
    """
    from echobench.dense_run import is_dense
    from echobench.engine.devices import make_fabric
    from echobench.engine.model import parse_model_options, resolve_specs
    from echobench.protocols import get_protocol
    from echobench.registry import get_registry

    registry = registry or get_registry()
    grid = [(b, h, t, s) for t in tasks for b in backbones for h in heads for s in seeds]
    options: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    if base.dataset is not None:
        registry.get("dataset", base.dataset)  # did-you-mean before anything runs
    for b, h, t, _ in grid:
        registry.get("task", t)
        resolve_specs(registry, backbone=b, head=h, preset=base.preset)
        is_dense(registry, registry.get("task", t), h)  # a head that does not fit the task's kind: one line, now
        options[b, h] = parse_model_options(registry, backbone=b, head=h, backbone_pairs=list(backbone_pairs),
                                            head_pairs=list(head_pairs))
    get_protocol(base.protocol)
    from echobench.data.resolve import check_labels
    from echobench.evaluation.external import check_external

    specs = [registry.get("task", t) for t in tasks]
    trained_on = check_labels(base.dataset, base.data, specs, registry=registry)  # labels and pairings: before decoding
    check_external(base.eval_data, specs, trained_on, registry=registry)
    make_fabric(gpus=base.gpus, precision=base.precision)
    check_outputs(base.results, base.runs)
    return [replace(base, backbone=b, head=h, task=t, seed=s, backbone_options=options[b, h][0],
                    head_options=options[b, h][1]) for b, h, t, s in grid]


def run_sweep(configs: Sequence[RunConfig], *, registry=None, progress: ProgressFactory | None = None,
              log: Callable[[str], None] | None = None, stop: Callable[[], bool] | None = None,
              echo: Callable[[str], None] | None = None,
              on_start: Callable[[int, int, RunConfig], None] | None = None,
              on_result: Callable[[RunResult], None] | None = None,
              on_failure: Callable[[str], None] | None = None) -> SweepOutcome:
    """Run ``configs`` (from :func:`plan_sweep`) one by one, sharing the task data of each task label
    (:func:`~echobench.experiment.task_data.prepare_data`; all configs have one data folder and protocol).

    ``on_start(i, n, cfg)`` is called before run ``i`` of ``n`` (1-based), ``on_result`` with each
    finished run's result, ``on_failure`` with the line of each failed run.

    Raises:
        EchobenchError: the data of a task cannot be used (fatal for the sweep), or the grid's only run
            failed.
        Interrupted (:class:`echobench.engine.loop.Interrupted`): ``stop()`` turned true; the
            interrupted run's state is saved for ``resume=True``.
    """
    from echobench.engine.loop import Interrupted
    from echobench.errors import EchobenchError
    from echobench.experiment.run import run_experiment
    from echobench.experiment.task_data import decode_workers_of, prepare_data
    from echobench.protocols import get_protocol
    from echobench.registry import get_registry

    registry = registry or get_registry()
    outcome = SweepOutcome(runs=len(configs))
    prepared: dict[str, Any] = {}
    for i, cfg in enumerate(configs, start=1):
        if on_start:
            on_start(i, len(configs), cfg)
        task = registry.get("task", cfg.task)
        key = task.label  # tasks with the same label share the decoded data
        try:
            if key not in prepared:
                prepared[key] = prepare_data(cfg.data, task, get_protocol(cfg.protocol), progress=progress, log=log,
                                             stop=stop, dataset=cfg.dataset, workers=decode_workers_of(cfg))
            result = run_experiment(cfg, progress=progress, log=log, registry=registry, prepared=prepared[key],
                                    stop=stop, echo=echo)
        except Interrupted:
            raise
        except EchobenchError as exc:
            if len(configs) == 1 or key not in prepared:  # unusable data is fatal for the whole sweep
                raise
            outcome.failures.append(f"{cfg.backbone}+{cfg.head} {cfg.task} seed {cfg.seed}: {exc}")
            if on_failure:
                on_failure(outcome.failures[-1])
            continue
        if result is not None:  # None: resume found this configuration already complete
            outcome.results.append(result)
            if on_result:
                on_result(result)
    return outcome
