"""The shard store (issue 15 item 1): `prepare shards` writes WebDataset tar shards of uint8 frames
(one channel for grey) with the manifest's provenance; its clips equal the AVI loader's for the same
keys; two ranks see disjoint samples whose union is the store, in an order fixed by the seed; a
reader stopped mid-epoch (its DataLoader workers killed) and restarted from the saved step
continues the same order; `pretrain` reads a store and gives the AVI path's loss."""

from __future__ import annotations

import json
import shutil
import tarfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.data.pretrain_clips import PretrainClipDataset, StepBatches, list_pretrain_videos
from echobench.data.shards import ShardClipDataset, is_shard_store, open_store, write_shards
from echobench.errors import DataError


@pytest.fixture(scope="module")
def store(small_clips, tmp_path_factory):
    """The 8 small grey clips (plus one broken file, skipped) as a store of 1 MiB shards, via the CLI."""
    src = tmp_path_factory.mktemp("with_broken")
    for path in small_clips.glob("*.avi"):
        shutil.copy(path, src / path.name)
    (src / "ZZ_broken.avi").write_bytes(b"RIFF\x00\x00 not a video")
    out = tmp_path_factory.mktemp("store") / "store"
    result = CliRunner().invoke(app, ["prepare", "shards", str(src), str(out), "--shard-mb", "1"])
    assert result.exit_code == 0, result.output
    assert "8 clips in" in result.output and "skipped 1: not decodable" in result.output
    return out


def _loader(store_or_paths, *, seed=0, rank=0, world=1, start=0, total=2, batch=4, workers=0):
    if isinstance(store_or_paths, list):
        dataset = PretrainClipDataset(store_or_paths, frames=16, stride=2)
        n = len(store_or_paths)
    else:
        dataset = ShardClipDataset(open_store(store_or_paths), frames=16, stride=2)
        n = len(dataset)
    steps = StepBatches(n_videos=n, seed=seed, global_batch=batch, rank=rank, world_size=world, start_step=start,
                        total_steps=total)
    return DataLoader(dataset, batch_sampler=steps, num_workers=workers)


def test_store_layout_is_webdataset_with_provenance_and_one_grey_channel(store, small_clips):
    assert is_shard_store(store)
    info = json.loads((store / "store.json").read_text())
    assert info["samples"] == 8 and info["channels"] == 1 and info["shards"] == len(list(store.glob("shard-*.tar")))
    shard = sorted(store.glob("shard-*.tar"))[0]
    with tarfile.open(shard) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile("000000000.json").read())
    assert sorted(names[:2]) == ["000000000.json", "000000000.u8"]  # WebDataset: <key>.<ext>, a sample's members together
    assert meta["shape"][-1] == 1 and meta["manifest"]["clip"] == sorted(p.name for p in small_clips.glob("*.avi"))[0]


def test_store_clips_equal_the_avi_loaders_for_the_same_keys(store, small_clips):
    paths = list_pretrain_videos(small_clips).paths
    ours = [b for b in _loader(store, total=4)]
    avi = [b for b in _loader(paths, total=4)]
    for a, b in zip(ours, avi):
        assert a["clip"].shape[-1] == 1 and b["clip"].shape[-1] == 3  # grey travels as one channel
        assert torch.equal(a["clip"].expand_as(b["clip"]), b["clip"])
        assert torch.equal(a["frame_indices"], b["frame_indices"]) and torch.equal(a["short"], b["short"])


def test_two_ranks_see_disjoint_samples_whose_union_is_the_store_in_a_seeded_order(store):
    epoch = {r: [v for b in _loader(store, rank=r, world=2, workers=2 if r == 0 else 0) for v in b["video"].tolist()]
             for r in (0, 1)}
    assert not set(epoch[0]) & set(epoch[1]) and sorted(epoch[0] + epoch[1]) == list(range(8))
    again = [v for b in _loader(store, rank=0, world=2) for v in b["video"].tolist()]
    other = [v for b in _loader(store, seed=1, rank=0, world=2) for v in b["video"].tolist()]
    assert again == epoch[0] and other != epoch[0]


def test_a_reader_killed_mid_epoch_resumes_the_same_order(store):
    whole = [b["clip"] for b in _loader(store, total=6, workers=2)]
    loader = iter(_loader(store, total=6, workers=2))
    first = [next(loader)["clip"] for _ in range(2)]
    loader._shutdown_workers()  # the workers are gone mid-epoch; the saved position is step 2
    del loader
    rest = [b["clip"] for b in _loader(store, start=2, total=6, workers=2)]
    assert len(first + rest) == len(whole) and all(torch.equal(a, b) for a, b in zip(first + rest, whole))


def test_an_existing_store_or_a_truncated_shard_is_a_one_line_error(store, small_clips, tmp_path):
    result = CliRunner().invoke(app, ["prepare", "shards", str(small_clips), str(store)])
    assert result.exit_code == 2 and "already holds a shard store" in result.output
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    last = sorted(copy.glob("shard-*.tar"))[-1]
    last.write_bytes(last.read_bytes()[:1000])
    dataset = ShardClipDataset(open_store(copy))
    index = max(i for i, s in enumerate(dataset.store.shard) if s == last.name)
    with pytest.raises(DataError, match=f"{last.name}: sample {index} is truncated"):
        dataset.read_clip(index, np.arange(16))


def test_grey_clips_become_the_avi_paths_model_input_on_the_device(store, small_clips):
    from echobench.data.transforms import prepare_clips
    from echobench.protocols import Protocol

    protocol = Protocol(name="pretrain", version="-", frames=16, period=2, size=32, normalization="unit",
                        train_flips=False, scaled_targets=False, summary="pre-training clips")
    ours = next(iter(_loader(store)))["clip"]
    avi = next(iter(_loader(list_pretrain_videos(small_clips).paths)))["clip"]
    x, y = prepare_clips(ours, protocol, train=False), prepare_clips(avi, protocol, train=False)
    assert x.shape == y.shape == (4, 3, 16, 32, 32) and torch.equal(x, y)


def test_pretrain_reads_a_store(store, tmp_path):
    from echobench.engine.pretrain_loop import PretrainConfig, pretrain

    result = pretrain(PretrainConfig(method="echo-videomae", data=store, out=tmp_path / "run",
                                     options={"preset": "tiny", "size": 32}, steps=1, batch_size=4, lr=1e-3, seed=0,
                                     gpus=0, save_every=1, keep=1, num_workers=0))
    assert len(result.losses) == 1 and np.isfinite(result.losses[0]) and (tmp_path / "run" / "encoder.safetensors").is_file()


def test_stores_written_on_several_machines_merge_into_the_store_of_all_clips(small_clips, store, tmp_path):
    """Two "nodes" each write the store of their half of the clips; `prepare merge-stores` joins them: the
    merged store reads, sample by sample in the order given, the same clips as the one-machine store."""
    halves = [tmp_path / "a", tmp_path / "b"]
    clips = sorted(small_clips.glob("*.avi"))
    for half, part in zip(halves, (clips[:3], clips[3:])):
        half.mkdir()
        for path in part:
            shutil.copy(path, half / path.name)
    parts = [tmp_path / "store_a", tmp_path / "store_b"]
    for half, part in zip(halves, parts):
        assert CliRunner().invoke(app, ["prepare", "shards", str(half), str(part), "--shard-mb", "1"]).exit_code == 0
    merged = tmp_path / "merged"
    result = CliRunner().invoke(app, ["prepare", "merge-stores", *map(str, parts), "--out", str(merged)])
    assert result.exit_code == 0, result.output
    assert "8 clips in" in result.output
    one, joined = open_store(store), open_store(merged)
    assert joined.clips == one.clips and joined.info["samples"] == 8  # same clips, in the order of the stores
    a, b = ShardClipDataset(one, frames=16, stride=2), ShardClipDataset(joined, frames=16, stride=2)
    for i in range(8):
        every = np.arange(int(one.shape[i, 0]))
        assert np.array_equal(a.read_clip(i, every), b.read_clip(i, every))  # every frame, byte for byte
        assert torch.equal(a[(i, 7, 0)]["clip"], b[(i, 7, 0)]["clip"])
    again = CliRunner().invoke(app, ["prepare", "merge-stores", str(parts[0]), str(parts[0]), "--out",
                                     str(tmp_path / "twice")])
    assert again.exit_code != 0 and "also in" in again.output and "Traceback" not in again.output
    (parts[1] / "store.json").unlink()  # a node that did not finish: refused by name, nothing written
    partial = CliRunner().invoke(app, ["prepare", "merge-stores", *map(str, parts), "--out", str(tmp_path / "p")])
    assert partial.exit_code != 0 and "store_b" in partial.output and "Traceback" not in partial.output
    assert not (tmp_path / "p").exists()
