"""Sweep placement (issue 15 item 4): one process per device at a time with CUDA_VISIBLE_DEVICES set
(tested with 2 CPU "devices" = 2 processes), one submitit job per run (LocalExecutor), and the `run`
command handing each run of a sweep to the placement as its own `echobench run` command."""

from __future__ import annotations

import json
import sys

from typer.testing import CliRunner

from echobench.experiment import placement
from echobench.experiment.placement import Placed, place_per_device, submit_jobs

PROBE = ("import json, os, sys, time\nstart = time.time(); time.sleep(1.5)\n"
         "cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else []\n"
         "open(sys.argv[1], 'w').write(json.dumps([os.environ.get('CUDA_VISIBLE_DEVICES'), start, time.time(), "
         "cpus]))\nsys.exit(int(sys.argv[2]))")


def test_one_process_per_device_at_a_time_and_a_failed_run_is_counted(tmp_path):
    commands = [[sys.executable, "-c", PROBE, str(tmp_path / f"r{i}.json"), "3" if i == 2 else "0"] for i in range(4)]
    placed = place_per_device(commands, ["0", "1"], logs=tmp_path / "logs", poll_s=0.05)
    assert [p.returncode for p in placed] == [0, 0, 3, 0] and all(p.log.is_file() for p in placed)
    seen = [json.loads((tmp_path / f"r{i}.json").read_text()) for i in range(4)]
    assert {device for device, _, _, _ in seen} == {"0", "1"}
    for device in ("0", "1"):  # never two runs on one device at once
        spans = sorted((start, end) for d, start, end, _ in seen if d == device)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    starts = sorted(start for _, start, _, _ in seen)
    assert starts[1] < min(end for _, _, end, _ in seen)  # the two devices ran at the same time
    share = placement.device_cores(["0", "1"])
    for device, _, _, cpus in seen:  # each device's runs on its own share of the cores (none: not pinned)
        assert cpus == (share[device] or cpus)
    if all(share.values()):
        assert not set(share["0"]) & set(share["1"])


def test_each_command_is_one_submitit_job(tmp_path):
    commands = [[sys.executable, "-c", PROBE, str(tmp_path / f"j{i}.json"), str(i)] for i in range(2)]
    placed = submit_jobs(commands, folder=tmp_path / "jobs", cluster="local")
    assert [p.returncode != 0 for p in placed] == [False, True]  # the second job exits 1
    assert (tmp_path / "j0.json").is_file() and (tmp_path / "j1.json").is_file()
    assert all(p.where.startswith("job ") for p in placed)


def test_run_gives_each_sweep_run_to_the_placement_as_its_own_command(synth_tiny, tmp_path, monkeypatch):
    from echobench.cli.main import app

    given = {}

    def fake(commands, devices, *, logs, on_event=None, poll_s=0.2):
        given.update(commands=[list(c) for c in commands], devices=list(devices))
        return [Placed(command=tuple(c), where=f"device {devices[0]}", returncode=0, log=None) for c in commands]

    monkeypatch.setattr(placement, "place_per_device", fake)
    result = CliRunner().invoke(app, ["run", "--backbone", "echo-videomae", "--head", "maxpool", "--seeds", "0,1",
                                      "--data", str(synth_tiny), "--epochs", "1", "--placement", "per-gpu",
                                      "--cpu-slots", "2", "--results", str(tmp_path / "lb"), "--runs",
                                      str(tmp_path / "runs"), "--num-workers", "0"])
    assert result.exit_code == 0, result.output
    assert given["devices"] == ["0", "1"] and len(given["commands"]) == 2
    for seed, command in zip("01", given["commands"]):
        assert command[:4] == [sys.executable, "-m", "echobench", "run"]
        assert command[command.index("--seed") + 1] == seed and command[command.index("--gpus") + 1] == "0"
        assert command[command.index("--num-workers") + 1] == "0"  # options run_command does not spell out
    assert "2 of 2 runs finished (per-gpu, local)" in result.output
