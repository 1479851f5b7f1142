"""Pre-training inputs (echobench/data/pretrain_clips.py): the prepare manifest contract, plain AVI
folders, clip sampling, bad clips, and the (seed, step)-addressed batch stream."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest
import torch

from echobench.data.pretrain_clips import (PretrainClipDataset, StepBatches, clip_indices, list_pretrain_videos,
                                           steps_for_epochs)
from echobench.data.video import probe_video
from echobench.errors import ConfigError, DataError
from tests.helpers import write_mp4


def _manifest_row(clip, status="ok", reason=None, frames=40):
    return {"source": f"files/p10/{clip or 'x'}.dcm", "clip": clip, "status": status, "reason": reason,
            "frames": frames, "fps": 50.0, "source_frames": frames, "source_fps": 50.0, "height": 56, "width": 56}


def test_prepared_folder_uses_ok_rows_and_counts_the_rest(small_clips, tmp_path) -> None:
    names = sorted(p.name for p in small_clips.glob("*.avi"))[:3]
    (tmp_path / "clips").mkdir()
    for name in names[:2]:
        shutil.copy(small_clips / name, tmp_path / "clips" / name)
    rows = [_manifest_row(f"clips/{names[0]}"), _manifest_row(f"clips/{names[1]}"),
            _manifest_row(f"clips/{names[2]}"),  # listed ok but the file is gone
            _manifest_row(None, "skipped", "single frame"), _manifest_row(None, "failed", "unsupported syntax")]
    pl.DataFrame(rows).write_parquet(tmp_path / "manifest.parquet")
    (tmp_path / "stray.avi").write_bytes(b"")  # not in the manifest: ignored
    videos = list_pretrain_videos(tmp_path)
    assert videos.source == "manifest"
    assert [p.name for p in videos.paths] == names[:2] and videos.frames == [40, 40]
    assert videos.skipped == {"clip file missing": 1, "manifest status skipped": 1, "manifest status failed": 1}


def test_manifest_errors_name_the_file(tmp_path) -> None:
    pl.DataFrame([{"source": "a.dcm", "status": "ok"}]).write_parquet(tmp_path / "manifest.parquet")
    with pytest.raises(DataError, match=r"manifest.parquet: manifest lacks column\(s\) clip"):
        list_pretrain_videos(tmp_path)
    pl.DataFrame([_manifest_row(None, "failed", "bad")]).write_parquet(tmp_path / "manifest.parquet")
    with pytest.raises(DataError, match=r"manifest.parquet: no usable clip"):
        list_pretrain_videos(tmp_path)


def test_plain_folder_and_folder_errors(small_clips, tmp_path) -> None:
    videos = list_pretrain_videos(small_clips)
    assert videos.source == "video folder" and len(videos.paths) == 8
    with pytest.raises(DataError, match="data folder not found"):
        list_pretrain_videos(tmp_path / "nope")
    with pytest.raises(DataError, match="no manifest.parquet and no video files"):
        list_pretrain_videos(tmp_path)


def test_clip_indices_stride_and_clamping() -> None:
    rng = np.random.default_rng(0)
    idx, short = clip_indices(100, 16, 2, rng)
    assert not short and np.array_equal(np.diff(idx), np.full(15, 2)) and 0 <= idx[0] <= 69
    idx, short = clip_indices(20, 16, 2, rng)
    assert short and idx.tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 19, 19, 19, 19, 19, 19]


def test_items_short_clips_and_undecodable_clips(small_clips, tmp_path) -> None:
    paths = sorted(small_clips.glob("*.avi"))[:3]
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"RIFF not really an avi")
    dataset = PretrainClipDataset([broken, *paths], frames=16, stride=2)
    item = dataset[(0, 1234, 7)]  # the broken clip is replaced by the next one (the short clip)
    assert item["clip"].shape == (16, 56, 56, 3) and item["clip"].dtype == torch.uint8
    assert int(item["video"]) == 1 and bool(item["short"]) and int(item["position"]) == 7
    failed = __import__("json").loads(item["failed"])
    assert failed[0][0] == 0 and "broken.avi" in failed[0][1]
    again = dataset[(0, 1234, 7)]
    assert torch.equal(item["clip"], again["clip"])  # a function of the key
    other = dataset[(2, 99, 8)]
    assert not bool(other["short"]) and (other["frame_indices"].diff() == 2).all()
    with pytest.raises(DataError, match="none of the 1 clips can be decoded"):
        PretrainClipDataset([broken])[(0, 1, 0)]


def test_step_batches_shard_one_global_batch_and_resume_mid_stream() -> None:
    one = list(StepBatches(n_videos=5, seed=3, global_batch=4, rank=0, world_size=1, start_step=0, total_steps=4))
    two = [list(StepBatches(n_videos=5, seed=3, global_batch=4, rank=r, world_size=2, start_step=0, total_steps=4))
           for r in range(2)]
    assert [a + b for a, b in zip(*two)] == one  # ranks together see the single-process batch
    later = list(StepBatches(n_videos=5, seed=3, global_batch=4, rank=0, world_size=1, start_step=2, total_steps=4))
    assert later == one[2:]
    first_epoch = [key[0] for batch in one for key in batch][:5]
    assert sorted(first_epoch) == list(range(5))  # an epoch visits every clip once
    with pytest.raises(ConfigError, match="divisible"):
        StepBatches(n_videos=5, seed=3, global_batch=3, rank=0, world_size=2, start_step=0, total_steps=1)
    assert steps_for_epochs(2, 5, 4) == 3


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """AVIs at 112x112 and 224x224, MP4s at 64x64 (one in a subfolder, one in upper case), and a text file."""
    from echobench.data.video import write_avi

    root = tmp_path_factory.mktemp("mixed_folder")
    rng = np.random.default_rng(0)
    for i, size in enumerate((112, 112, 224, 224)):
        write_avi(root / f"avi{i}.avi", rng.integers(0, 256, (40, size, size), dtype=np.uint8), 50.0)
    (root / "sub").mkdir()
    write_mp4(root / "sub" / "mp4a.mp4", rng.integers(0, 256, (40, 64, 64), dtype=np.uint8))
    write_mp4(root / "MP4B.MP4", rng.integers(0, 256, (40, 64, 64), dtype=np.uint8))
    (root / "notes.txt").write_text("not a video\n")
    return root


def test_folder_of_several_containers_and_sizes_batches_at_one_size(mixed_folder) -> None:
    from torch.utils.data import default_collate

    videos = list_pretrain_videos(mixed_folder)
    assert videos.source == "video folder"
    assert sorted(p.name for p in videos.paths) == ["MP4B.MP4", "avi0.avi", "avi1.avi", "avi2.avi", "avi3.avi", "mp4a.mp4"]
    assert videos.skipped == {"not a video file (.txt)": 1}
    assert videos.frame_size == (224, 224)  # two videos each at 224, 112 and 64: the larger frame
    dataset = PretrainClipDataset(videos.paths, frames=16, stride=2, frame_size=videos.frame_size)
    items = [dataset[(i, 7, i)] for i in range(len(videos.paths))]
    assert not any(json.loads(item["failed"]) for item in items)
    batch = default_collate(items)  # one frame size (it used to fail here: stack expects equal size)
    assert batch["clip"].shape == (6, 16, 224, 224, 3)
    assert [bool(r) for r in batch["resized"]] == [probe_video(p).height != 224 for p in videos.paths]


def test_folder_of_only_mp4s_is_used(mixed_folder, tmp_path) -> None:
    for path in (mixed_folder / "sub" / "mp4a.mp4", mixed_folder / "MP4B.MP4"):
        shutil.copy(path, tmp_path / path.name)
    videos = list_pretrain_videos(tmp_path)
    assert len(videos.paths) == 2 and not videos.skipped
    item = PretrainClipDataset(videos.paths, frames=8, stride=2)[(0, 1, 0)]
    assert item["clip"].shape == (8, 64, 64, 3) and not json.loads(item["failed"])
