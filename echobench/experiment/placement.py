"""Where the runs of a sweep run (issue 15 item 4): in this process one after another (the default),
one run per GPU (``--placement per-gpu``), or one SLURM job per run (``--launcher submitit``).

A sweep is a list of *commands*: each the argument vector of ONE ``echobench run`` (one backbone,
head, task and seed, every setting spelled out, ``--gpus 1``), so a run placed anywhere is the run
``echobench run`` would do here and writes its own record (records are one file per run: runs
finishing at once lose nothing, :mod:`echobench.results.records`).

- :func:`place_per_device`: at most one process per device at a time, each with
  ``CUDA_VISIBLE_DEVICES`` set to its device and its own share of the CPU cores (its affinity: so its
  decoding and DataLoader workers, sized by the cores a process may use, do not multiply across the
  devices), the next run starting on a device as soon as its
  previous run ends; each run's output goes to ``<logs>/run-<i>.log``. A run that fails is counted
  and the sweep goes on (as in one process).
- :func:`submit_jobs`: each command as one job through submitit (``AutoExecutor``: SLURM where
  ``sbatch`` exists; ``local``: submitit's ``LocalExecutor``, processes on this machine, for tests
  and workstations), waiting for all; the job folder holds submitit's logs per job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from echobench.errors import ConfigError

PLACEMENTS = ("sequential", "per-gpu")
LAUNCHERS = ("local", "submitit")


@dataclass(frozen=True)
class Placed:
    """One placed run: its command, where it ran (device or job id), exit status and log file."""

    command: tuple[str, ...]
    where: str
    returncode: int
    log: Path | None


def run_command_argv(words: Sequence[str]) -> list[str]:
    """The argument vector that runs ``echobench run ...`` with this interpreter (``words`` start
    with ``echobench run``, as :func:`echobench.cli.run.run_command` writes them)."""
    words = list(words)
    if words[:2] != ["echobench", "run"]:
        raise ValueError(f"not an `echobench run` command: {words[:2]}")
    return [sys.executable, "-m", "echobench", *words[1:]]


def device_cores(devices: Sequence[str]) -> dict[str, list[int]]:
    """Each device's share of the CPUs this process may use: consecutive blocks of
    ``len(cpus) // len(devices)`` (NUMA neighbours stay together); empty (no pinning) where there is no
    affinity call or fewer CPUs than devices."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return {d: [] for d in devices}
    block = len(cpus) // max(1, len(devices))
    return {d: cpus[k * block:(k + 1) * block] if block else [] for k, d in enumerate(devices)}


def place_per_device(commands: Sequence[Sequence[str]], devices: Sequence[str], *, logs: Path,
                     on_event: Callable[[str], None] | None = None, poll_s: float = 0.2) -> list[Placed]:
    """Run ``commands`` with at most one process per entry of ``devices`` at a time, each process
    seeing only its device (``CUDA_VISIBLE_DEVICES``); returns one :class:`Placed` per command, in
    command order.

    Raises:
        ConfigError: no device given.
    """
    if not devices:
        raise ConfigError("--placement per-gpu needs at least one device (--gpus N)")
    logs = Path(logs)
    logs.mkdir(parents=True, exist_ok=True)
    say = on_event or (lambda _m: None)
    waiting = list(enumerate(commands))
    running: dict[str, tuple[int, subprocess.Popen, Path]] = {}
    done: dict[int, Placed] = {}
    free = list(devices)
    cores = device_cores(devices)
    while waiting or running:
        while waiting and free:
            i, command = waiting.pop(0)
            device = free.pop(0)
            log = logs / f"run-{i + 1}.log"
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
            with open(log, "wb") as fh:
                process = subprocess.Popen(list(command), stdout=fh, stderr=subprocess.STDOUT, env=env)
            if cores[device]:  # (set from here, not in a preexec_fn: that is unsafe beside threads)
                try:
                    os.sched_setaffinity(process.pid, cores[device])
                except OSError:  # it already ended
                    pass
            running[device] = (i, process, log)
            say(f"run {i + 1}/{len(commands)} started on device {device} (log {log})")
        for device, (i, process, log) in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            done[i] = Placed(command=tuple(commands[i]), where=f"device {device}", returncode=code, log=log)
            say(f"run {i + 1}/{len(commands)} on device {device} "
                + ("finished" if code == 0 else f"failed (exit {code})"))
            del running[device]
            free.append(device)
        if running:
            time.sleep(poll_s)
    return [done[i] for i in range(len(commands))]


def submit_jobs(commands: Sequence[Sequence[str]], *, folder: Path, cluster: str | None = None,
                parameters: dict | None = None, on_event: Callable[[str], None] | None = None) -> list[Placed]:
    """Submit each command as one job through submitit and wait for all of them.

    Args:
        cluster: None (submitit's ``AutoExecutor``: SLURM when available, else local), ``"slurm"``,
            ``"local"`` (processes here) or ``"debug"`` (in this process).
        parameters: executor parameters (``executor.update_parameters``), e.g. ``{"slurm_partition":
            "gpu", "gpus_per_node": 1, "timeout_min": 600}``.

    Raises:
        ConfigError: submitit is not installed (``pip install echobench[slurm]``).
    """
    try:
        import submitit
    except ImportError:
        raise ConfigError("--launcher submitit needs submitit: pip install 'echobench[slurm]'") from None
    say = on_event or (lambda _m: None)
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    if parameters:
        executor.update_parameters(**parameters)
    jobs = [executor.submit(submitit.helpers.CommandFunction(list(c), verbose=False)) for c in commands]
    for i, job in enumerate(jobs, start=1):
        say(f"run {i}/{len(jobs)} submitted as job {job.job_id}")
    placed = []
    for command, job in zip(commands, jobs):
        try:
            job.result()
            code = 0
        except Exception as exc:  # noqa: BLE001 - a failed job is counted, the others go on
            code = getattr(exc, "returncode", 1) or 1
        placed.append(Placed(command=tuple(command), where=f"job {job.job_id}", returncode=code,
                             log=Path(str(job.paths.stdout))))
    return placed


def place_sweep(configs: Sequence, *, to_words: Callable[[object], list[str]], placement: str, launcher: str,
                gpus: int | None, cpu_slots: int, logs: Path, on_event: Callable[[str], None] | None = None,
                job_parameters: dict | None = None) -> list[Placed]:
    """Run a sweep's configurations (``RunConfig`` s) one process or job per run.

    Args:
        to_words: a configuration -> its ``echobench run`` words (:func:`echobench.cli.run.run_command`
            plus the options it does not spell out).
        placement: ``"per-gpu"`` (one run per device of ``gpus``; ``cpu_slots`` > 0 instead: that many
            CPU processes, for tests and CPU boxes) or ``"sequential"`` (with ``launcher="submitit"``).
        launcher: ``"local"`` (processes here) or ``"submitit"`` (one job per run, :func:`submit_jobs`).

    Raises:
        ConfigError: an unknown placement or launcher; per-gpu without devices.
    """
    import dataclasses

    if placement not in PLACEMENTS or launcher not in LAUNCHERS:
        raise ConfigError(f"--placement must be one of {', '.join(PLACEMENTS)} and --launcher one of "
                          f"{', '.join(LAUNCHERS)}")
    cpu = cpu_slots > 0 or gpus == 0
    commands = [run_command_argv(to_words(dataclasses.replace(c, gpus=0 if cpu else 1))) for c in configs]
    if launcher == "submitit":
        parameters = {"name": "echobench-run", **({} if cpu else {"gpus_per_node": 1}), **(job_parameters or {})}
        return submit_jobs(commands, folder=Path(logs) / "submitit", parameters=parameters, on_event=on_event)
    slots = cpu_slots if cpu_slots > 0 else (gpus or 0)
    if slots < 1:
        raise ConfigError("--placement per-gpu needs --gpus N (N >= 1): one run per GPU")
    return place_per_device(commands, [str(i) for i in range(slots)], logs=Path(logs), on_event=on_event)
