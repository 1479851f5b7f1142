"""`echobench pretrain echo-videomae` end to end on the CPU: the loss goes down, the encoder loads as a
backbone, checkpoints resume exactly, two gloo processes match one, and user mistakes are one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.data.pretrain_clips import sample_key
from echobench.engine.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from echobench.engine.pretrain_loop import PretrainConfig, pretrain
from echobench.errors import ConfigError

STEPS, EVERY, LR = 8, 3, 2e-3
ARGS = ["--preset", "tiny", "--size", "32", "--batch-size", "4", "--lr", str(LR), "--seed", "0", "--save-every", str(EVERY),
        "--keep", "10"]


def _config(data: Path, out: Path, **changes) -> PretrainConfig:
    base = dict(method="echo-videomae", data=data, out=out, options={"preset": "tiny", "size": 32}, steps=STEPS,
                batch_size=4, lr=LR, seed=0, gpus=0, save_every=EVERY, keep=10, num_workers=0)
    return PretrainConfig(**{**base, **changes})


def _weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(checkpoint).model


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def clips(small_clips, tmp_path_factory) -> Path:
    """The small clips plus one that cannot be decoded."""
    folder = tmp_path_factory.mktemp("clips_and_a_broken_one")
    for path in small_clips.glob("*.avi"):
        (folder / path.name).symlink_to(path)
    (folder / "ZZ_broken.avi").write_bytes(b"RIFF\x00\x00 this is not a video")
    return folder


@pytest.fixture(scope="module")
def reference(clips, tmp_path_factory):
    """An uninterrupted single-process run through the CLI: 8 steps, checkpoints at 3, 6 and 8."""
    out = tmp_path_factory.mktemp("reference")
    result = CliRunner().invoke(app, ["pretrain", "echo-videomae", str(clips), "--out", str(out),
                                      "--steps", str(STEPS), "--gpus", "0", *ARGS])
    assert result.exit_code == 0, result.output
    assert "ZZ_broken.avi" in result.output  # named once, as a note
    return out


def test_run_writes_checkpoints_encoder_pictures_and_log(reference) -> None:
    assert [s for s, _ in list_checkpoints(reference)] == [3, 6, 8]
    log = [json.loads(line) for line in (reference / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, STEPS + 1))
    assert all(r["loss"] > 0 and r["lr"] >= 0 for r in log)
    pngs = sorted(p.name for p in reference.glob("reconstruction-*.png"))
    assert pngs == [f"reconstruction-{s:08d}.png" for s in (3, 6, 8)]
    assert (reference / pngs[-1]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((reference / "pretrain.json").read_text())
    assert record["steps"] == STEPS and record["environment"]["world_size"] == 1
    assert record["counts"] == {"clip shorter than 16x2 frames (indices clamped)": 1,  # the 20-frame clip
                                "clip could not be decoded (replaced by the next clip)": 1}


def test_loss_goes_down(reference, small_clips) -> None:
    """The trained model reconstructs a fixed batch (fixed masks) better than its initialisation."""
    from echobench.data.pretrain_clips import PretrainClipDataset
    from echobench_videomae.pretrain.trainer import EchoVideoMAEPretrainer

    trainer = EchoVideoMAEPretrainer(preset="tiny", size=32)
    torch.manual_seed(0)  # the loop's initialisation for seed 0
    initial = trainer.build().eval()
    trained = trainer.build().eval()
    trained.load_state_dict(_weights(latest_checkpoint(reference)))
    dataset = PretrainClipDataset(sorted(small_clips.glob("*.avi")))
    clips = torch.stack([dataset[(i, 1000 + i, 0)]["clip"] for i in range(8)]).permute(0, 4, 1, 2, 3).float() / 255
    clips = torch.nn.functional.interpolate(clips.flatten(1, 2), size=(32, 32), mode="bilinear").view(8, 3, 16, 32, 32)
    with torch.no_grad():
        before = trainer.loss(initial, clips, list(range(8)), 5).item()
        after = trainer.loss(trained, clips, list(range(8)), 5).item()
    assert after < before - 0.02, (before, after)


def test_encoder_loads_as_echo_videomae_backbone(reference) -> None:
    from echobench.engine.model import build_model
    from echobench.registry import get_registry

    model = build_model(get_registry(), backbone="echo-videomae", head="maxpool", preset="tiny",
                        weights=str(reference / "encoder.safetensors"))
    trained = _weights(latest_checkpoint(reference))
    loaded = model.backbone.state_dict()
    assert loaded.keys() == {k.removeprefix("encoder.") for k in trained if k.startswith("encoder.")}
    assert all(torch.equal(v, trained[f"encoder.{k}"]) for k, v in loaded.items())


def test_resume_after_a_crash_matches_an_uninterrupted_run(small_clips, tmp_path) -> None:
    """Stopped after its step-2 checkpoint (drop-path on, so dropout draws must be per step too)."""
    options = {"preset": "tiny", "size": 32, "drop_path_rate": 0.2}
    whole = pretrain(_config(small_clips, tmp_path / "whole", steps=4, save_every=2, options=options))

    class Crash(Exception):
        pass

    def crashing(description, total):
        done = []

        def advance(n=1):  # called after each step, after that step's checkpoint
            done.append(n)
            if len(done) == 2:
                raise Crash

        return advance

    with pytest.raises(Crash):
        pretrain(_config(small_clips, tmp_path / "cut", steps=4, save_every=2, options=options), progress=crashing)
    resumed = pretrain(_config(small_clips, tmp_path / "cut", steps=4, save_every=2, options=options, resume=True))
    assert resumed.start_step == 2 and resumed.losses == whole.losses[2:]
    assert _max_diff(_weights(whole.checkpoint), _weights(resumed.checkpoint)) == 0.0
    log = [json.loads(line)["step"] for line in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4]


def test_two_gloo_processes_match_one_and_resume_after_sigkill(reference, clips, tmp_path) -> None:
    """Two CPU processes (global batch 4 = 2 x 2) are killed (SIGKILL) after their first checkpoint;
    that checkpoint equals the single-process run's, and resuming (one process) reaches its weights."""
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "echobench", "pretrain", "echo-videomae", str(clips), "--out", str(out),
               "--steps", str(STEPS), "--cpu-processes", "2", "--gpus", "0", "--num-workers", "0", *ARGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while latest_checkpoint(out) is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and its rank-1 child: our own process group
    finally:
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    first = latest_checkpoint(out)
    assert first is not None and load_checkpoint(first).step < STEPS
    assert load_checkpoint(first).meta["world_size"] == 2
    step = load_checkpoint(first).step
    losses = [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()][:step]
    expected = [json.loads(line)["loss"] for line in (reference / "log.jsonl").read_text().splitlines()][:step]
    assert max(abs(a - b) for a, b in zip(losses, expected)) < 1e-5  # same clips, masks and weights
    # float summation order differs (gloo all-reduce); Adam scales a near-zero gradient's noise up to
    # a step of size lr, so weights are compared to within 1 % of the total step size lr * steps
    tolerance = 0.01 * LR
    assert _max_diff(_weights(first), _weights(reference / f"checkpoint-{step:08d}")) < tolerance * step
    result = CliRunner().invoke(app, ["pretrain", "echo-videomae", str(clips), "--out", str(out), "--resume",
                                      "--steps", str(STEPS), "--gpus", "0", *ARGS])
    assert result.exit_code == 0, result.output
    assert _max_diff(_weights(latest_checkpoint(out)), _weights(latest_checkpoint(reference))) < tolerance * STEPS
    # skipped/short clip counts cover the whole run, across the kill and resume
    counts = json.loads((out / "pretrain.json").read_text())["counts"]
    assert counts == json.loads((reference / "pretrain.json").read_text())["counts"]


def test_skip_counts_survive_a_resume(clips, tmp_path) -> None:
    """One epoch in 3 steps of 3 clips; the broken clip is drawn at step 1 only. A run resumed from
    the step-1 checkpoint never decodes it, yet counts it (from the checkpoint), as the whole run does."""
    names = sorted(p.name for p in clips.glob("*.avi"))
    broken, n = names.index("ZZ_broken.avi"), len(names)
    assert n == 9
    seed = next(s for s in range(100) if broken in [sample_key(s, p, n)[0] for p in range(3)])
    whole = pretrain(_config(clips, tmp_path / "whole", steps=3, save_every=1, batch_size=3, seed=seed))
    decoded = "clip could not be decoded (replaced by the next clip)"
    assert whole.skipped.get(decoded) == 1
    assert load_checkpoint(tmp_path / "whole" / "checkpoint-00000001").meta["failed_videos"] == [broken]
    (tmp_path / "cut").mkdir()
    shutil.copytree(tmp_path / "whole" / "checkpoint-00000001", tmp_path / "cut" / "checkpoint-00000001")
    resumed = pretrain(_config(clips, tmp_path / "cut", steps=3, save_every=1, batch_size=3, seed=seed, resume=True))
    assert resumed.start_step == 1 and resumed.skipped == whole.skipped


def test_resume_refuses_other_settings_and_out_needs_resume(reference, clips, small_clips) -> None:
    with pytest.raises(ConfigError, match=r"cannot resume with different settings \(batch_size"):
        pretrain(_config(clips, reference, batch_size=8, resume=True))
    with pytest.raises(ConfigError, match=r"different settings \(videos, videos_hash\)"):
        pretrain(_config(small_clips, reference, resume=True))  # other data: another order
    with pytest.raises(ConfigError, match="already holds checkpoints; pass --resume"):
        pretrain(_config(clips, reference))


@pytest.mark.parametrize(("args", "message"), [
    (["MISSING", "--out", "OUT"], "MISSING: data folder not found"),
    (["EMPTY", "--out", "OUT"], "EMPTY: no manifest.parquet and no video files"),
    (["CLIPS", "--out", "OUT", "--gpus", "8"], "--gpus 8 requested but this machine has"),
    (["CLIPS", "--out", "OUT", "--masking", "cube"], "unknown --masking 'cube'"),
])
def test_user_mistakes_are_one_line_errors(args, message, small_clips, tmp_path) -> None:
    if torch.cuda.device_count() >= 8 and "--gpus" in args:
        pytest.skip("this machine has 8 GPUs")
    (tmp_path / "empty").mkdir()
    paths = {"MISSING": str(tmp_path / "missing"), "EMPTY": str(tmp_path / "empty"), "CLIPS": str(small_clips),
             "OUT": str(tmp_path / "out")}
    result = CliRunner().invoke(app, ["pretrain", "echo-videomae", *[paths.get(a, a) for a in args], "--preset", "tiny"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert message.replace("MISSING", paths["MISSING"]).replace("EMPTY", paths["EMPTY"]) in " ".join(result.output.split())
    assert not list_checkpoints(tmp_path / "out")


def test_stop_request_saves_a_checkpoint_off_schedule(small_clips, tmp_path) -> None:
    """What SIGINT/SIGTERM do: the step in flight finishes, a checkpoint is written even between
    --save-every boundaries, and --resume continues from it."""
    from echobench.engine.checkpoint import latest_checkpoint
    from echobench.engine.loop import Interrupted

    polls = []
    with pytest.raises(Interrupted, match="step 1"):
        pretrain(_config(small_clips, tmp_path, steps=2, save_every=5), stop=lambda: polls.append(1) or True)
    assert load_checkpoint(latest_checkpoint(tmp_path)).step == 1
    resumed = pretrain(_config(small_clips, tmp_path, steps=2, save_every=5, resume=True))
    assert resumed.start_step == 1 and load_checkpoint(latest_checkpoint(tmp_path)).step == 2


def test_pretrain_on_a_folder_of_mixed_sizes_and_containers(tmp_path) -> None:
    """224x224 and 112x112 AVIs plus MP4s, `--size 112`: trains (it used to die in default_collate) and
    counts what was resized and what was not a video."""
    import av
    import numpy as np

    from echobench.data.video import write_avi

    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for i, size in enumerate((112, 224, 224, 112)):
        write_avi(data / f"v{i}.avi", rng.integers(0, 256, (40, size, size), dtype=np.uint8), 50.0)
    with av.open(str(data / "v4.mp4"), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = stream.height = 96
        for image in rng.integers(0, 256, (40, 96, 96, 3), dtype=np.uint8):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    (data / "README.txt").write_text("where these came from\n")
    result = CliRunner().invoke(app, ["pretrain", "echo-videomae", str(data), "--out", str(tmp_path / "out"),
                                      "--preset", "tiny", "--size", "112", "--steps", "2", "--batch-size", "5",
                                      "--gpus", "0"])
    assert result.exit_code == 0, result.output
    counted = next(line for line in result.output.splitlines() if line.startswith("counted:"))
    assert "clip frames not the folder's common 224x224 (resized to it): 3" in counted  # 2 at 112, 1 at 96
    assert "video folder: not a video file (.txt): 1" in counted
