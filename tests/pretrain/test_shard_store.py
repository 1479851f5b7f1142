"""The shard store (issue 15 item 1): `prepare shards` writes WebDataset tar shards of uint8 frames
(one channel for grey) with the manifest's provenance; its clips equal the AVI loader's for the same
keys; two ranks see disjoint samples whose union is the store, in an order fixed by the seed; a
reader stopped mid-epoch (its DataLoader workers killed) and restarted from the saved step
continues the same order; `pretrain` reads a store and gives the AVI path's loss."""

from __future__ import annotations

import json
import os
import shutil
import tarfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.data.pretrain_clips import PretrainClipDataset, StepBatches, collate_clips, list_pretrain_videos
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
    return DataLoader(dataset, batch_sampler=steps, num_workers=workers, collate_fn=collate_clips)


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


def _stored_frames(store_root, index):
    """Sample ``index``'s frames ``(T, H, W, C)`` as its tar member holds them (the reference reader)."""
    store = open_store(store_root)
    with tarfile.open(store.root / store.shard[index]) as tar:
        data = tar.extractfile(f"{index:09d}.u8").read()
    return np.frombuffer(data, np.uint8).reshape(*store.shape[index])


@pytest.mark.parametrize("workers", [0, 1])
def test_a_batch_is_read_straight_into_one_buffer_with_the_drawn_frames(store, monkeypatch, workers):
    """`__getitems__` reads each clip with vectored reads (here at most 3 frames a call, so a span takes
    many calls) into the batch: the frames the keys draw, the short clip's last frame repeated, in a
    DataLoader worker too; one item is the batch's row."""
    import echobench.data.shards as shards

    monkeypatch.setattr(shards, "_IOV_MAX", 3)
    keys = [(0, 11, 0), (3, 12, 1), (5, 13, 2), (0, 14, 3)]  # video 0 is shorter than 16 frames x stride 2
    dataset = ShardClipDataset(open_store(store), frames=16, stride=2)
    batch = next(iter(DataLoader(dataset, batch_sampler=[keys], num_workers=workers, collate_fn=collate_clips)))
    assert batch["clip"].shape == (4, 16, 56, 56, 1) and batch["short"].tolist() == [True, False, False, True]
    for row, (video, _, _) in enumerate(keys):
        expected = _stored_frames(store, video)[batch["frame_indices"][row].numpy()]
        assert np.array_equal(batch["clip"][row].numpy(), expected)
    assert batch["frame_indices"][0].tolist()[-3:] == [19, 19, 19]
    item = dataset[keys[1]]
    assert torch.equal(item["clip"], batch["clip"][1]) and item["video"] == 3 and item["failed"] == "[]"
    for indices in ([9, 2, 2, 30], list(range(3, 13))):  # unsorted with a repeat; a run of 10 frames (4 calls)
        assert np.array_equal(dataset.read_clip(2, np.array(indices)), _stored_frames(store, 2)[indices])
    monkeypatch.delattr(os, "preadv")  # the plain-pread path (no preadv on this OS) gives the same
    assert torch.equal(dataset.__getitems__(keys)["clip"], batch["clip"])


def test_flips_are_drawn_from_the_sample_seed_and_applied_on_the_device(store, small_clips):
    """The loader sends the stored frames and each clip's (horizontal, vertical) flips; the device input
    equals the old CPU path's (flip the uint8 frames, then prepare) bit for bit, and the draws follow
    the sample seed (the same on the AVI and store paths)."""
    from echobench.data.pretrain_clips import flip_flags
    from echobench.data.transforms import prepare_clips
    from echobench.protocols import Protocol

    draws = np.array([flip_flags(seed, True) for seed in range(200)])
    assert 0.35 < draws.mean() < 0.65 and (draws[:, 0] != draws[:, 1]).any()
    assert flip_flags(5, False) == (False, False) and flip_flags(5, True) == flip_flags(5, True)
    batch = next(iter(_loader(store, total=1, batch=8)))
    assert batch["flips"].shape == (8, 2) and batch["flips"].any() and not batch["flips"].all()
    flipped = batch["clip"].clone()
    for row, (h, v) in enumerate(batch["flips"].tolist()):
        flipped[row] = flipped[row].flip(2) if h else flipped[row]
        flipped[row] = flipped[row].flip(1) if v else flipped[row]
    for size in (56, 80, 36):  # as stored, and resized up and down on the device
        protocol = Protocol(name="pretrain", version="-", frames=16, period=2, size=size, normalization="unit",
                            train_flips=False, scaled_targets=False, summary="pre-training clips")
        device = prepare_clips(batch["clip"], protocol, train=False, flips=batch["flips"])
        assert torch.equal(device, prepare_clips(flipped, protocol, train=False)), size
    avi = next(iter(_loader(list_pretrain_videos(small_clips).paths, total=1, batch=8)))
    assert torch.equal(avi["flips"], batch["flips"])


def test_a_colour_store_gives_grey_and_other_size_samples_the_batch_shape(tmp_path):
    """A store of a 40x48 colour clip, a 40x48 grey clip and a 20x24 grey clip, read with the colour
    clip's frame size: the grey one becomes three equal channels, the small one is resized and marked."""
    from echobench.data.clips import fit_frame_size
    from echobench.data.video import write_avi

    rng = np.random.default_rng(0)
    folder = tmp_path / "clips"
    folder.mkdir()
    colour = rng.integers(0, 255, (12, 40, 48, 3), dtype=np.uint8)
    grey = np.repeat(rng.integers(0, 255, (12, 40, 48, 1), dtype=np.uint8), 3, axis=-1)
    write_avi(folder / "a_colour.avi", colour, 30.0)
    write_avi(folder / "b_grey.avi", grey, 30.0)
    write_avi(folder / "c_small.avi", grey[:, ::2, ::2], 30.0)
    write_shards(folder, tmp_path / "store")
    dataset = ShardClipDataset(open_store(tmp_path / "store"), frames=4, stride=2, flips=False, frame_size=(40, 48))
    assert dataset.store.channels == 3
    batch = dataset.__getitems__([(0, 1, 0), (1, 2, 1), (2, 3, 2)])
    assert batch["clip"].shape == (3, 4, 40, 48, 3) and batch["resized"].tolist() == [False, False, True]
    for row in range(3):
        stored = _stored_frames(tmp_path / "store", row)[batch["frame_indices"][row].numpy()]
        expected = fit_frame_size(np.repeat(stored, 3 // stored.shape[-1], axis=-1), (40, 48))
        assert np.array_equal(batch["clip"][row].numpy(), expected)
    assert not batch["flips"].any()
