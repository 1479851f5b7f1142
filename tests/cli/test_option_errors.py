"""Option misuse (issue 13 item 9): a value out of range, a bad type, an unknown or missing option
or an unknown command prints ONE ``error:`` line naming the option (exit 2), never Typer's usage box;
handled once, in the root command (echobench/cli/main.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from echobench.cli.main import app

RUN = ["run", "--backbone", "echo-videomae", "--head", "maxpool"]


@pytest.mark.parametrize("args, named", [
    ([*RUN, "--epochs", "0"], "'--epochs'"),
    ([*RUN, "--lr", "-0.001"], "'--lr'"),
    ([*RUN, "--epochs", "abc"], "'--epochs'"),
    ([*RUN, "--batch-size", "1.5"], "'--batch-size'"),
    ([*RUN, "--no-such-option"], "--no-such-option"),
    (["run", "--head", "maxpool"], "'--backbone'"),
    (["data", "synth", "out", "--videos", "0"], "'--videos'"),
    (["pretrain", "echo-videomae", "clips", "--out", "o", "--mask-ratio", "lots"], "'--mask-ratio'"),
    (["nosuchcommand"], "'nosuchcommand'"),
])
def test_option_misuse_is_one_error_line(args, named):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], result.stderr
    assert "--help" in lines[0] and "Usage:" not in result.output and "╭" not in result.output
    assert result.stdout == ""


def test_no_arguments_still_show_the_help():
    result = CliRunner().invoke(app, ["data"])
    assert "synth" in result.output and "check" in result.output and "error:" not in result.output


def test_option_misuse_through_the_console_entry_point():
    result = subprocess.run([sys.executable, "-m", "echobench", "data", "synth", "out", "--videos", "0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Invalid value for '--videos': ") and "--help" in lines[0]
