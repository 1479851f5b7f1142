"""Devices and precision through Lightning Fabric (DESIGN §8).

``--gpus 0`` (or a machine without CUDA and ``--gpus`` unset) runs on the CPU in float32 (bf16
matmul is slow on CPUs); ``--gpus N`` uses N CUDA devices with bf16 mixed precision by default.
Asking for more GPUs than the machine has is a one-line :class:`ConfigError`.
"""

from __future__ import annotations

from echobench.errors import ConfigError


def make_fabric(*, gpus: int | None = None, precision: str | None = None, num_nodes: int = 1,
                max_devices: int | None = None):
    """Build a :class:`lightning.fabric.Fabric`.

    Args:
        gpus: CUDA devices per node; ``None`` = one GPU if there is one, else the CPU; ``0`` = CPU.
        precision: Fabric precision string; default ``"bf16-mixed"`` on GPU, ``"32-true"`` on CPU.
        max_devices: the caller supports at most this many devices (e.g. 1 for ``run``).

    Raises:
        ConfigError: more GPUs requested than present, or more than the caller supports.
    """
    import torch
    from lightning.fabric import Fabric

    available = torch.cuda.device_count()
    if gpus is None:
        gpus = 1 if available else 0
    if gpus < 0:
        raise ConfigError(f"--gpus must be >= 0, got {gpus}")
    if gpus > available:
        found = f"{available} CUDA GPU(s)" if available else "no CUDA GPU"
        raise ConfigError(f"--gpus {gpus} requested but this machine has {found}")
    if max_devices is not None and gpus > max_devices:
        raise ConfigError(f"--gpus {gpus}: this command runs on at most {max_devices} device(s)")
    try:
        if gpus == 0:
            return Fabric(accelerator="cpu", devices=1, precision=precision or "32-true")
        return Fabric(accelerator="cuda", devices=gpus, num_nodes=num_nodes,
                      strategy="ddp" if gpus * num_nodes > 1 else "auto",
                      precision=precision or "bf16-mixed")
    except (ValueError, ImportError, RuntimeError) as exc:  # unknown precision, or one needing a missing package
        raise ConfigError(f"--precision {precision!r} cannot be used here: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200]}") from None
