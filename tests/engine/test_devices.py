"""Device policy: DataLoader defaults from the cores available, CPU-process DDP, and the launch path
under torchrun and SLURM (Fabric reads ranks from their environment; checked without launching)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from echobench.engine import devices
from echobench.engine.devices import loader_options, make_fabric
from echobench.errors import ConfigError


def _fabric(device: str, world: int = 1, nodes: int = 1):
    return SimpleNamespace(device=torch.device(device), world_size=world, strategy=SimpleNamespace(num_nodes=nodes))


def test_loader_options_use_the_cores_available_on_cuda_and_nothing_extra_on_the_cpu(monkeypatch) -> None:
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.setattr(devices, "_cpu_quota", lambda: None)  # (this machine's own container quota)
    assert devices.available_cores() == 16
    init = {"worker_init_fn": devices.init_worker}
    assert loader_options(_fabric("cuda")) == {"num_workers": 15, "pin_memory": True, "persistent_workers": True,
                                               **init}
    assert loader_options(_fabric("cuda", world=8, nodes=2))["num_workers"] == 3  # 4 processes share a node's 16
    assert loader_options(_fabric("cuda"), persistent=False)["persistent_workers"] is False
    none = {"worker_init_fn": None}
    assert loader_options(_fabric("cuda"), 0) == {"num_workers": 0, "pin_memory": True, "persistent_workers": False,
                                                  **none}
    assert loader_options(_fabric("cpu")) == {"num_workers": 0, "pin_memory": False, "persistent_workers": False,
                                              **none}
    assert loader_options(_fabric("cpu"), 3)["num_workers"] == 3


def test_device_requests_that_cannot_work_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="--cpu-processes is for CPU runs"):
        make_fabric(gpus=2, cpu_processes=2)
    with pytest.raises(ConfigError, match="--nodes needs --gpus N"):
        make_fabric(gpus=0, num_nodes=2)
    with pytest.raises(ConfigError, match="must be >= 1"):
        make_fabric(gpus=0, cpu_processes=0)


_TORCHRUN = {"TORCHELASTIC_RUN_ID": "echo", "RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "GROUP_RANK": "1",
             "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}
_SLURM = {"SLURM_NTASKS": "4", "SLURM_NTASKS_PER_NODE": "2", "SLURM_PROCID": "2", "SLURM_LOCALID": "0",
          "SLURM_NODEID": "1", "SLURM_JOB_NAME": "echobench-pretrain", "SLURM_NODELIST": "node[0-1]",
          "SLURM_JOB_ID": "1234"}


@pytest.mark.parametrize("env, kind, rank, local", [(_TORCHRUN, "TorchElasticEnvironment", 3, 1),
                                                      (_SLURM, "SLURMEnvironment", 2, 0)])
def test_torchrun_and_slurm_processes_take_their_rank_from_the_environment(monkeypatch, env, kind, rank, local) -> None:
    """What ``pretrain --nodes 2`` (2 processes per node) builds in one process started by torchrun or
    srun: Fabric detects the launcher, takes rank and world size from it, and starts no processes itself."""
    for name in list(_TORCHRUN) + list(_SLURM):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fabric = make_fabric(gpus=0, cpu_processes=2, num_nodes=2)
    environment = fabric.strategy.cluster_environment
    assert type(environment).__name__ == kind
    assert environment.creates_processes_externally  # Fabric's launcher will not spawn more
    assert (fabric.world_size, fabric.global_rank, fabric.local_rank, fabric.node_rank) == (4, rank, local, 1)


def test_available_cores_follow_a_container_cpu_quota(tmp_path, monkeypatch):
    """`docker --cpus 1.5` / a Kubernetes limit (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`) caps the
    cores echobench sizes its workers by, rounded up; no quota (`max`, -1) leaves the affinity count."""
    from echobench.engine import devices

    v2, v1 = tmp_path / "cpu.max", tmp_path / "v1" / "cpu.cfs_quota_us"
    v1.parent.mkdir()
    monkeypatch.setattr(devices, "CPU_QUOTA_FILES", (str(v2), str(v1)))
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda _pid: set(range(64)), raising=False)
    v2.write_text("150000 100000\n")
    assert devices.available_cores() == 2
    v2.write_text("max 100000\n")
    assert devices.available_cores() == 64
    v1.write_text("300000\n")
    (v1.parent / "cpu.cfs_period_us").write_text("100000\n")
    assert devices.available_cores() == 3
    v1.write_text("-1\n")
    assert devices.available_cores() == 64
