"""`echobench data synth` then `echobench data check` on what it wrote: the reader reads the
generator's output like the real thing (nothing skipped, both traced frames found)."""

from __future__ import annotations

from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.data.echonet import read_echonet


def test_synth_then_check(tmp_path):
    out = tmp_path / "synth"
    result = CliRunner().invoke(app, ["data", "synth", str(out), "--videos", "8", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert (out / "FileList.csv").is_file() and (out / "SYNTHETIC.json").is_file()
    assert len(list((out / "Videos").glob("*.avi"))) == 8
    data = read_echonet(out)
    assert data.report.usable() == 8 and not data.report.skipped and not data.report.notes
    assert data.report.traced_frames_hist == {2: 8}
    check = CliRunner().invoke(app, ["data", "check", str(out)])
    assert check.exit_code == 0, check.output
    assert "TRAIN" in check.output and "TEST" in check.output
