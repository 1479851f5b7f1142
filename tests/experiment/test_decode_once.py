"""Decode once (issue 14 item 5): every video file is opened for decoding once per run, under both
protocols, with all-clips, beats, strata and robustness on; the documented stream fallback opens it
once per use and gives the same numbers."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echobench.data import video as video_module
from echobench.errors import ConfigError
from echobench.runner import RunConfig, run_experiment

DECODERS = {"read_frames", "_decoded"}  # the functions that open a container to decode frames (read_video: _decoded)


def counted_run(data: Path, out: Path, protocol: str, monkeypatch) -> tuple[Counter, pl.DataFrame]:
    """One 1-epoch run; returns decoding opens per file name and the run's predictions."""
    opens: Counter = Counter()
    real = video_module._open

    def counting(path):
        if sys._getframe(1).f_code.co_name in DECODERS:  # not the demuxing probe
            opens[Path(path).stem] += 1
        return real(path)

    monkeypatch.setattr(video_module, "_open", counting)
    cfg = RunConfig(backbone="echo-videomae", head="maxpool", task="ef", data=data, protocol=protocol, epochs=1,
                    batch_size=4, n_boot=0, gpus=0, robustness=True, results=out / "leaderboard", runs=out / "runs",
                    num_workers=0)  # decode in this process, where the opens are counted
    result = run_experiment(cfg)
    monkeypatch.setattr(video_module, "_open", real)
    return opens, pl.read_parquet(result.run_dir / "predictions.parquet")


@pytest.fixture(scope="module")
def short_videos(synth_tiny, tmp_path_factory) -> Path:
    """synth_tiny with every video cut to (at most) 66 frames: one 32x2 ``echonet`` clip has 4 starts, so the
    all-clips, beats and robustness passes stay cheap."""
    import shutil

    from echobench.data.video import read_video, write_avi

    root = tmp_path_factory.mktemp("short") / "data"
    shutil.copytree(synth_tiny, root)
    frames = {}
    for path in sorted((root / "Videos").glob("*.avi")):
        video = read_video(path)[:66]
        write_avi(path, video, 50.0)
        frames[path.stem] = len(video)
    filelist = pl.read_csv(root / "FileList.csv")
    filelist.with_columns(NumberOfFrames=pl.col("FileName").replace_strict(frames, return_dtype=pl.Int64)).write_csv(
        root / "FileList.csv")
    return root


def splits_of(data: Path) -> dict[str, str]:
    filelist = pl.read_csv(data / "FileList.csv")
    return dict(zip(filelist["FileName"], filelist["Split"]))


@pytest.mark.parametrize("protocol", ["echovisionfm", "echonet"])
def test_each_video_is_decoded_once_per_run_and_streaming_gives_the_same_numbers(protocol, short_videos, tmp_path,
                                                                                 monkeypatch):
    """Held in memory, kept on disk over the budget (memory-mapped) and streamed: the same predictions;
    held or on disk, every file is decoded once."""
    monkeypatch.delenv("ECHOBENCH_DECODE_BUDGET", raising=False)
    held, held_preds = counted_run(short_videos, tmp_path / "held", protocol, monkeypatch)
    split = splits_of(short_videos)
    assert set(held) == set(split) and set(held.values()) == {1}, held

    monkeypatch.setenv("ECHOBENCH_DECODE_BUDGET", "0")  # nothing fits in memory: kept on disk instead
    monkeypatch.setenv("ECHOBENCH_SPILL_DIR", str(tmp_path / "spill"))
    (tmp_path / "spill").mkdir()
    spilled, spill_preds = counted_run(short_videos, tmp_path / "spilled", protocol, monkeypatch)
    assert set(spilled.values()) == {1}, spilled  # still decoded once, read back memory-mapped
    assert not any((tmp_path / "spill").iterdir())  # nothing left behind
    log = next((tmp_path / "spilled" / "runs").glob("*/log.txt")).read_text()
    assert "over the decode budget" in log and "memory-mapped" in log

    monkeypatch.setenv("ECHOBENCH_SPILL_DIR", "off")  # nor on disk: the documented stream fallback
    streamed, stream_preds = counted_run(short_videos, tmp_path / "streamed", protocol, monkeypatch)
    epochs = 1
    uses = ({"TRAIN": 1, "VAL": 1, "TEST": 3} if protocol == "echovisionfm"  # pass; + beats and robustness on TEST
            else {"TRAIN": 1 + epochs, "VAL": 1 + epochs + 2, "TEST": 1 + 4})  # + per-epoch clips, predict, all clips, beats, robustness
    assert streamed == {name: uses[s] for name, s in split.items()}
    key = ["split", "clips", "FileName"]
    a, b, c = held_preds.sort(key), stream_preds.sort(key), spill_preds.sort(key)
    assert a.select(key).equals(b.select(key)) and a.select(key).equals(c.select(key))
    np.testing.assert_allclose(a["prediction"].to_numpy(), b["prediction"].to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a["prediction"].to_numpy(), c["prediction"].to_numpy())  # the same frames


@pytest.mark.parametrize("text, expected", [("0", 0), ("123", 123), ("4K", 4096), ("1.5M", 3 << 19), ("2g", 2 << 30)])
def test_decode_budget_reads_sizes(text, expected, monkeypatch):
    from echobench.data.clips import decode_budget

    monkeypatch.setenv("ECHOBENCH_DECODE_BUDGET", text)
    assert decode_budget() == expected


def test_decode_budget_that_is_not_a_size_is_a_one_line_error(monkeypatch):
    from echobench.data.clips import decode_budget

    monkeypatch.setenv("ECHOBENCH_DECODE_BUDGET", "lots")
    with pytest.raises(ConfigError, match=r"^ECHOBENCH_DECODE_BUDGET='lots': expected a size in bytes"):
        decode_budget()
