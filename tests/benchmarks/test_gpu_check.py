"""``benchmarks/gpu_check.py`` runs on the CPU path (tiny preset, CUDA-only steps skipped with their
reason), so the GPU acceptance script cannot rot before the first GPU run."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("gpu_check", None)


@pytest.mark.slow
def test_cpu_mode_runs_every_step_and_skips_cuda_only_ones_with_a_reason(gpu_check, tmp_path, capsys) -> None:
    report = tmp_path / "check.json"
    assert gpu_check.main(["--cpu", "--json", str(report), "--work", str(tmp_path / "work")]) == 0
    printed = capsys.readouterr().out
    checks = {c["name"]: c for c in json.loads(report.read_text())["checks"]}
    assert list(checks) == ["data", "run", "pretrain", "bf16-vs-fp32", "ddp", "finetune-throughput", "mae-throughput"]
    assert checks["ddp"]["status"] == "SKIP" and "needs 2 CUDA GPUs" in checks["ddp"]["detail"]
    assert all(c["status"] == "PASS" for name, c in checks.items() if name != "ddp"), printed
    assert "CPU mode (--cpu given)" in printed and "MFU = 3 x forward FLOPs" in printed
    assert all(math.isfinite(v) for v in checks["run"]["numbers"]["test"].values() if v == v) and \
        math.isfinite(checks["run"]["numbers"]["test"]["MAE"])
    assert (tmp_path / "work" / "pretrain" / "encoder.safetensors").is_file()
    bf16 = checks["bf16-vs-fp32"]["numbers"]
    assert set(bf16["fp32"]) == set(gpu_check.WHOLE_BATCH_METRICS) and bf16["max_output_diff_over_std"] > 0  # bf16 ran
    for name in ("finetune-throughput", "mae-throughput"):
        numbers = checks[name]["numbers"]
        for key in ("clips_per_s", "mfu", "forward_gflop_per_clip", "peak_gflops"):
            assert math.isfinite(numbers[key]) and numbers[key] > 0, (name, key, numbers)
        # the formula the script states: MFU = 3 x forward FLOPs x clips/s / peak (medians; MAE: per round)
        assert numbers["mfu"] == pytest.approx(3 * numbers["forward_gflop_per_clip"] * numbers["clips_per_s"]
                                               / numbers["peak_gflops"], rel=0.5)


def test_a_failed_step_is_reported_and_the_others_still_run(gpu_check, monkeypatch, tmp_path, capsys) -> None:
    def broken(work):
        raise OSError("disk full")

    monkeypatch.setattr(gpu_check, "step_data", broken)
    monkeypatch.setattr(gpu_check, "step_finetune_throughput", lambda mode, registry: gpu_check.Check("finetune-throughput", "PASS", "stub"))
    monkeypatch.setattr(gpu_check, "step_mae_throughput", lambda mode, registry: gpu_check.Check("mae-throughput", "PASS", "stub"))
    report = tmp_path / "check.json"
    assert gpu_check.main(["--cpu", "--work", str(tmp_path), "--json", str(report)]) == 1
    printed = capsys.readouterr().out
    assert "OSError: disk full" in printed and "FAILED: data" in printed
    status = {c["name"]: (c["status"], c["detail"]) for c in json.loads(report.read_text())["checks"]}
    assert status["data"] == ("FAIL", "OSError: disk full")
    assert all(status[n] == ("SKIP", "no data (the data step failed)") for n in ("run", "pretrain", "bf16-vs-fp32"))
    assert status["finetune-throughput"][0] == status["mae-throughput"][0] == "PASS"  # later steps still ran
