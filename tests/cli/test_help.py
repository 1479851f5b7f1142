"""Help and output polish: flags show no ``<bool>`` placeholder, every `run` option is described,
empty views print plain text, and `data synth` output starts with its first line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from echobench.cli.main import app


@pytest.mark.parametrize("command", [["run"], ["demo"], ["leaderboard"], ["score"], ["list"], ["data", "synth"]])
def test_flags_show_no_bool_placeholder(command):
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=120)
    assert result.exit_code == 0 and "--help" in result.output
    assert "<bool>" not in result.output, result.output


def test_every_run_option_has_a_description():
    import click
    import typer.main

    command = typer.main.get_command(app).commands["run"]
    undescribed = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert undescribed == []


def test_empty_throughput_view_is_plain_text(tmp_path):
    result = CliRunner().invoke(app, ["leaderboard", "--throughput", "--results", str(tmp_path)])
    assert result.exit_code == 0 and "_" not in result.stdout.replace(str(tmp_path), "")
    assert result.stdout.startswith("no throughput records under ")


def test_data_synth_output_starts_with_its_first_line(tmp_path):
    result = CliRunner().invoke(app, ["data", "synth", str(tmp_path / "d"), "--videos", "2"])
    assert result.exit_code == 0 and result.output.startswith("wrote 2 synthetic videos"), repr(result.output)
