"""Devices and precision through Lightning Fabric (DESIGN §8).

``--gpus 0`` (or a machine without CUDA and ``--gpus`` unset) runs on the CPU in float32 (bf16
matmul is slow on CPUs); ``--gpus N`` uses N CUDA devices with bf16 mixed precision by default.
Asking for more GPUs than the machine has is a one-line :class:`ConfigError`. ``cpu_processes=N``
runs N CPU processes with DDP over gloo (tests, or CPU clusters). Several processes or nodes are
started by Fabric: its launcher re-runs the current command for the other local ranks, and under
``torchrun`` or SLURM (``srun``) Fabric reads the ranks from their environment instead (see README,
"Several GPUs and nodes").
"""

from __future__ import annotations

import os
from pathlib import Path

from echobench.errors import ConfigError, describe


CPU_QUOTA_FILES = ("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
"""Where a container's CPU quota is (cgroup v2 ``cpu.max``: ``"<quota> <period>"`` or ``"max ..."``;
v1 ``cpu.cfs_quota_us`` beside ``cpu.cfs_period_us``; -1: none)."""


def _cpu_quota() -> int | None:
    """Cores a cgroup CPU quota allows (``docker --cpus 4``, Kubernetes limits), rounded up; None: no quota."""
    import math

    for path in CPU_QUOTA_FILES:
        try:
            text = Path(path).read_text().split()
            if path.endswith("cpu.max"):
                quota, period = text[0], text[1] if len(text) > 1 else "100000"
            else:
                quota, period = text[0], (Path(path).parent / "cpu.cfs_period_us").read_text()
            if quota != "max" and int(quota) > 0 and int(period) > 0:
                return max(1, math.ceil(int(quota) / int(period)))
        except (OSError, ValueError, IndexError):
            continue
    return None


def available_cores() -> int:
    """CPU cores this process may run on: the CPUs it may be scheduled on (``os.sched_getaffinity``: a
    SLURM or cpuset limit, not the machine's count; ``os.cpu_count()`` where there is no affinity
    call), capped by a cgroup CPU quota (containers: :data:`CPU_QUOTA_FILES`)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cpu_quota()
    return min(cores, quota) if quota else cores


def init_worker(_worker_id: int = 0) -> None:
    """``worker_init_fn`` of echobench's DataLoaders: a worker ignores SIGINT/SIGTERM (a terminal's
    Ctrl-C reaches the whole process group; the job in the main process decides to stop and stops its
    workers) and decodes video with one FFmpeg thread (its siblings fill the other cores)."""
    import signal

    from echobench.data import video

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    video.DECODER_THREADS = 1


def default_workers(fabric, requested: int | None = None) -> int:
    """DataLoader worker processes per process: ``requested`` when given; else 0 on the CPU (decoding
    would compete with the model for the same cores) and, on CUDA, the available cores shared by this
    node's processes, one left to each process itself (at least 1)."""
    if requested is not None:
        return requested
    if fabric.device.type != "cuda":
        return 0
    return max(1, available_cores() // local_processes(fabric) - 1)


def local_processes(fabric) -> int:
    """``fabric``'s processes on this node (its world size over its nodes; at least 1)."""
    return max(1, fabric.world_size // max(1, getattr(fabric.strategy, "num_nodes", 1)))


def loader_options(fabric, requested: int | None = None, *, persistent: bool = True) -> dict:
    """Keyword arguments for a ``DataLoader`` on ``fabric``'s device: ``num_workers``
    (:func:`default_workers`; each started by :func:`init_worker`), ``pin_memory`` on CUDA (page-locked
    batches copy to the GPU asynchronously), and ``persistent_workers`` on CUDA with workers when
    ``persistent`` (no worker start-up per pass; only for datasets without per-epoch state, since
    workers keep their own copy)."""
    workers = default_workers(fabric, requested)
    cuda = fabric.device.type == "cuda"
    return {"num_workers": workers, "pin_memory": cuda, "persistent_workers": bool(cuda and persistent and workers),
            "worker_init_fn": init_worker if workers else None}


def make_fabric(*, gpus: int | None = None, precision: str | None = None, num_nodes: int = 1,
                max_devices: int | None = None, cpu_processes: int = 1):
    """Build a :class:`lightning_fabric.Fabric` (imported by :mod:`echobench.engine.fabric`).

    Args:
        gpus: CUDA devices per node; ``None`` = one GPU if there is one, else the CPU; ``0`` = CPU.
        precision: Fabric precision string; default ``"bf16-mixed"`` on GPU, ``"32-true"`` on CPU.
        num_nodes: machines, each running ``gpus`` processes (DDP).
        max_devices: the caller supports at most this many devices.
        cpu_processes: CPU processes (DDP over gloo) instead of GPUs.

    On the CPU it also keeps freed memory in the process for the next step
    (:func:`echobench.engine.allocator.tune_cpu_allocator`: process-wide, recorded in ``environment.json``).

    Raises:
        ConfigError: more GPUs requested than present, or more than the caller supports; CPU processes
            together with GPUs; several nodes without several processes per node's devices.
    """
    import torch

    from echobench.engine.fabric import Fabric

    if cpu_processes < 1 or num_nodes < 1:
        raise ConfigError("--cpu-processes and --nodes must be >= 1")
    if cpu_processes > 1 and gpus:
        raise ConfigError("--cpu-processes is for CPU runs; use --gpus N for several GPUs")

    available = torch.cuda.device_count()
    if gpus is None and cpu_processes > 1:
        gpus = 0
    if gpus is None:
        gpus = 1 if available else 0
    if gpus < 0:
        raise ConfigError(f"--gpus must be >= 0, got {gpus}")
    if gpus > available:
        found = f"{available} CUDA GPU(s)" if available else "no CUDA GPU"
        raise ConfigError(f"--gpus {gpus} requested but this machine has {found}")
    if max_devices is not None and gpus > max_devices:
        raise ConfigError(f"--gpus {gpus}: this command runs on at most {max_devices} device(s)")
    if gpus == 0 and cpu_processes == 1 and num_nodes > 1:
        raise ConfigError("--nodes needs --gpus N (or --cpu-processes N for CPU processes)")
    if gpus == 0:  # training on the CPU: freed memory stays in the process (echobench.engine.allocator)
        from echobench.engine.allocator import tune_cpu_allocator

        tune_cpu_allocator()
    try:
        if cpu_processes > 1:
            from echobench.engine.fabric import DDPStrategy

            return Fabric(accelerator="cpu", devices=cpu_processes, num_nodes=num_nodes,
                          strategy=DDPStrategy(process_group_backend="gloo"), precision=precision or "32-true")
        if gpus == 0:
            return Fabric(accelerator="cpu", devices=1, precision=precision or "32-true")
        return Fabric(accelerator="cuda", devices=gpus, num_nodes=num_nodes,
                      strategy="ddp" if gpus * num_nodes > 1 else "auto",
                      precision=precision or "bf16-mixed")
    except (ValueError, ImportError, RuntimeError) as exc:  # unknown precision, or one needing a missing package
        raise ConfigError(f"--precision {precision!r} cannot be used here: {describe(exc)}") from None


def sync_batchnorm(fabric, model, log=None):
    """Under CUDA DDP, BatchNorm layers (e.g. the STFF head's) become ``SyncBatchNorm``: statistics of
    the global batch, as in one process. CPU processes (gloo) cannot (PyTorch's SyncBatchNorm needs a
    GPU): their BatchNorm statistics are per process, and ``log`` says so. Returns the model."""
    import torch

    if fabric.world_size == 1 or not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return model
    if fabric.device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if log:
        log("BatchNorm statistics are per process on CPU processes (SyncBatchNorm needs CUDA); "
            "results differ slightly from one process")
    return model
