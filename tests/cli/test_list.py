"""`echobench list`: provenance columns, no torch import, and a pip-installed third-party plugin
that shows up and is usable by `echobench run` with no change to echobench."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echobench.cli.main import app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "echobench-example-plugin"


def test_list_shows_every_kind_with_distribution_and_version():
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    for word in ("backbones", "heads", "tasks", "pretrainers", "datasets", "echo-videomae", "maxpool", "ef",
                 "echonet-dynamic", "camus", "echonet-pediatric", "echobench", "0.1.0"):
        assert word in result.output


def test_list_does_not_import_torch():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom echobench.cli.main import app\n"
            "r = CliRunner().invoke(app, ['list'])\nassert r.exit_code == 0, r.output\n"
            "assert 'echo-videomae' in r.output\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> Path:
    """pip-install the example plugin package (its own pyproject.toml) into a private target dir, built
    from a copy: building in the source tree leaves ``build/`` and an ``.egg-info`` there, whose entry
    point then registers the example plugin a second time in any later test that puts the tree on
    ``sys.path`` (the ``example_plugin`` fixture)."""
    import shutil

    target = tmp_path_factory.mktemp("site")
    source = shutil.copytree(FIXTURE, tmp_path_factory.mktemp("src") / FIXTURE.name,
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True,
                   capture_output=True, text=True)
    assert any(p.name.startswith("echobench_example_plugin-0.3.1") for p in target.iterdir())
    return target


def _echobench(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160", "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "echobench", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def test_third_party_plugin_is_listed(installed_example, tmp_path):
    result = _echobench(["list", "backbone"], installed_example, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "example-c3d" in result.stdout and "echobench-example-plugin" in result.stdout and "0.3.1" in result.stdout


@pytest.mark.slow
def test_third_party_backbone_runs(installed_example, synth_small, tmp_path):
    result = _echobench(["run", "--backbone", "example-c3d", "--head", "maxpool", "--task", "ef",
                         "--data", str(synth_small), "--epochs", "1", "--gpus", "0"], installed_example, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "example-c3d+maxpool" in result.stdout and "TEST" in result.stdout
    assert list((tmp_path / "leaderboard" / "records").glob("*example-c3d*.parquet"))


def test_list_shows_presets_options_and_protocols_and_json(monkeypatch):
    import json

    from echobench.cli.common import out

    monkeypatch.setattr(out, "width", 200)
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    assert "protocols" in result.output and "echovisionfm" in result.output and "echonet" in result.output
    assert "tiny, small, base, large" in result.output and "variant=r3d_18" in result.output
    listed = json.loads(CliRunner().invoke(app, ["list", "--json"]).stdout)
    backbones = {b["name"]: b for b in listed["backbone"]}
    assert backbones["video-resnet"]["presets"] == ["tiny", "18"]
    assert backbones["video-resnet"]["options"] == {"variant": "r3d_18"}
    protocols = {p["name"]: p for p in listed["protocol"]}
    assert protocols["echonet"]["frames"] == 32 and protocols["echonet"]["period"] == 2
    assert protocols["echovisionfm"]["tag"] == "echovisionfm@1"
    assert set(listed) == {"backbone", "head", "task", "pretrainer", "dataset", "protocol"}
    only = json.loads(CliRunner().invoke(app, ["list", "protocols", "--json"]).stdout)
    assert list(only) == ["protocol"]
