"""One run as five named stages with typed hand-offs (issue 14 item 4)::

    RunConfig --resolve--> Setup --task data--> PreparedData --open_run--> RunFolder
              --fit--> Trained --evaluate--> Predictions, scores --record--> RunResult

Fine-tune on TRAIN, pick the checkpoint on VAL, evaluate on TEST (and VAL) in natural units with
bootstrap intervals next to the constant predictor, and write a run folder plus an append-only run
record. Every skipped video is counted with its reason in the record.

Interruption: the run folder and a checkpoint (:mod:`echobench.engine.run_state`) are written from the
first epoch on; ``RunConfig(resume=True)`` continues the newest unfinished run with the same
configuration hash and ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from echobench.experiment.config import ProgressFactory, RunConfig, RunResult
from echobench.experiment.task_data import PreparedData, decode_workers_of, prepare_data


def run_experiment(cfg: RunConfig, *, progress: ProgressFactory | None = None,
                   log: Callable[[str], None] | None = None, registry=None,
                   prepared: PreparedData | None = None, stop: Callable[[], bool] | None = None,
                   echo: Callable[[str], None] | None = None) -> RunResult | None:
    """Run one (backbone, head, task, protocol, seed) experiment end to end.

    Args:
        prepared: data from :func:`~echobench.experiment.task_data.prepare_data` for this task label and
            protocol (read if None; a sweep shares it between runs).
        stop: polled after every training step; when true the run saves its state and raises
            :class:`~echobench.engine.loop.Interrupted` (continue with ``resume=True``).
        echo: also called with every line of the run's ``log.txt`` (:mod:`echobench.runlog`:
            settings, one line per epoch, phase timings, notes), e.g. to print them on a stderr
            that is not a terminal.

    Several processes (``gpus > 1`` or ``cpu_processes > 1``; Fabric relaunches the current command
    for the other ranks, so call it from a script or the CLI): ``batch_size`` is the global batch,
    split over the processes (:class:`~echobench.engine.loop.EpochSampler`), VAL/TEST predictions are
    gathered one per video, and rank 0 alone writes the run folder and the record.

    Returns:
        The result (on rank 0), or None when ``resume=True`` finds this configuration (same config
        hash: settings, resolved precision, dataset hash and weights file contents) already
        completed, and on every other rank.

    Raises:
        UnknownNameError: unknown backbone/head/task/protocol/preset.
        DataError: the data directory cannot be used, or a split has no usable videos.
        ConfigError: device request that the machine cannot satisfy; unwritable output folders.
        WeightsError: a weights file is missing or does not match.
        WriteError: an output could not be written (disk full): one line naming the file and saying
            the run's last good checkpoint is kept for ``resume=True``.
        Interrupted: ``stop()`` turned true during training.
    """
    from echobench.atomic import kept_error
    from echobench.errors import WriteError

    try:
        return _stages(cfg, progress=progress, log=log, registry=registry, prepared=prepared, stop=stop, echo=echo)
    except WriteError as exc:
        if exc.kept:  # a checkpoint write already says which one is kept
            raise
        raise kept_error(exc, "the run's last good checkpoint is kept: rerun the same command with --resume "
                              "to finish it") from exc


def _stages(cfg: RunConfig, *, progress, log, registry, prepared, stop, echo) -> RunResult | None:
    """The five stages in order (:func:`run_experiment`)."""
    from echobench.data.resolve import dataset_identity
    from echobench.experiment.evaluate import external_data, predict_splits, score_predictions
    from echobench.experiment.fit import fit_model
    from echobench.experiment.record import write_run
    from echobench.experiment.resolve import open_run, resolve

    from echobench.dense_run import is_dense, run_dense  # dense task kinds: segmentation, frames (own module)
    from echobench.registry import get_registry

    registry = registry or get_registry()
    task = registry.get("task", cfg.task)
    if is_dense(registry, task, cfg.head):
        return run_dense(cfg, task, registry=registry, progress=progress, log=log, echo=echo, prepared=prepared,
                         stop=stop)
    setup = resolve(cfg, registry=registry, progress=progress, log=log, echo=echo)
    if prepared is None:
        with setup.runlog.phase("read and decode data"):  # `stop` is for training
            data = prepare_data(Path(cfg.data), setup.task, setup.protocol, progress=setup.progress, log=setup.log,
                                dataset=cfg.dataset, workers=decode_workers_of(cfg, setup.fabric))
    else:
        data = prepared
        setup.runlog.line(f"data: read and decoded before this run (shared by the runs of a sweep): {data.root}")
    externals = external_data(cfg, setup, data)
    folder = open_run(cfg, setup, data.dataset_hash, dataset_tag=dataset_identity(data.dataset_spec),
                      externals=externals)
    if folder is None:
        return None
    setup.runlog.counts("skipped (videos, by reason)", data.skipped)
    setup.runlog.counts("notes", data.notes)
    trained = fit_model(cfg, setup, data, folder, stop=stop)
    predictions = predict_splits(cfg, setup, data, trained, externals)
    if not setup.main:
        return None  # rank 0 scores and writes
    model_name = f"{cfg.backbone}+{cfg.head}" + (" [frozen backbone]" if cfg.freeze_backbone else "")
    scored = score_predictions(cfg, setup, data, predictions, model_name)
    return write_run(cfg, setup, data, folder, trained, predictions, scored, model_name, externals)
