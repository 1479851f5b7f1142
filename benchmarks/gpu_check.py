"""GPU acceptance check (issue 15, item 6): does echobench's GPU path work, and how fast is it?

Run on a CUDA machine (one command, under 5 minutes on one H100/H200-class GPU)::

    benchmarks/gpu_check.sh                      # or: python benchmarks/gpu_check.py [--json out.json]

On a machine without CUDA (or with ``--cpu``) the same steps run on the CPU with the ``tiny`` preset
and small inputs, and the CUDA-only steps are reported as SKIP with the reason; the test suite runs
it that way (``tests/benchmarks/test_gpu_check.py``), so the script cannot rot.

Steps, each reported as PASS / FAIL / SKIP with one line of detail (exit status 1 if any FAIL):

1. ``data``: 12 synthetic EchoNet-format videos (:func:`echobench.data.synth.synthesize`; TRAIN 8,
   VAL 2, TEST 2).
2. ``run``: ``echobench run`` as a library call (:func:`echobench.runner.run_experiment`),
   echo-videomae + STFF, task ``ef``, protocol ``echovisionfm`` (16x224x224), one epoch, in bf16
   mixed precision on CUDA (fp32 on the CPU); every TEST metric must be finite and the record written.
3. ``pretrain``: ``echobench pretrain echo-videomae`` (:func:`echobench.engine.pretrain_loop.pretrain`),
   a few steps on the synthetic videos; the losses must be finite and the encoder written.
4. ``bf16-vs-fp32``: on a fixed batch (the evaluation clips of all 12 videos on CUDA; of 4, resized
   to 32 px, in CPU mode) a seeded random-init
   echo-videomae + STFF model (its output adapter left at its random init, not zeroed as a run
   starts, so the output depends on the clip) is evaluated by the engine's own
   :func:`echobench.engine.loop.predict` under a ``32-true`` and a ``bf16-mixed`` Fabric, and scored
   with :func:`echobench.evaluation.score_outputs`. Tolerance (stated, tested): every metric within
   ``BF16_METRIC_RTOL`` (2 %) of its fp32 value plus ``BF16_METRIC_ATOL`` (0.05 natural units: EF %),
   and every prediction within ``BF16_OUTPUT_TOL`` (5 %) of the fp32 predictions' spread (std).
   bf16 keeps an 8-bit significand (relative rounding 2^-9 = 0.2 % per operation); through 12
   transformer blocks errors of ~1 % of the output scale are expected. On CUDA the fp32 reference runs
   with TF32 off. Runs on the CPU too (bf16 autocast), so it is checked in CI.
5. ``ddp``: with two or more CUDA GPUs, a 2-process DDP ``echobench pretrain --gpus 2`` (its own
   launcher, a subprocess); it must finish with ``world_size`` 2 and a finite loss. SKIP otherwise,
   unless ``--cpu-ddp`` runs it as 2 gloo CPU processes (``--cpu-processes 2``).
6. ``finetune-throughput``: :func:`echobench.bench.models.bench_model` on ViT-B (echo-videomae
   ``base``) + STFF at 16x224x224 in bf16: training-step clips/s, peak memory, and
   ``MFU = 3 x forward FLOPs per clip x clips/s / peak``, the bf16 ``torch.mm`` peak measured in the
   same interleaved rounds (:mod:`echobench.bench.peak`); the utilization of the counted
   forward + backward FLOPs (``train util``) is printed next to it.
7. ``mae-throughput``: one MAE pre-training step of the ``echo-videomae`` pretrainer (``base``,
   16x224x224, tube mask 0.9: forward of the visible tokens and the decoder, normalised-pixel MSE,
   backward, AdamW step) timed interleaved with the same peak; MFU with the step's forward FLOPs
   (counted with ``torch.utils.flop_counter`` on one clip). Inputs are device-resident (no loader):
   these are model-side figures; step 3 prints the end-to-end ``pretrain`` rate with its loader.

Targets (issue 15, reported, not asserted): ViT-B MAE >= 300 clips/s per H100/H200-class GPU;
ViT-B + STFF fine-tuning >= 40 % bf16 MFU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

BF16_METRIC_RTOL = 0.02
BF16_METRIC_ATOL = 0.05  # natural units of the task (EF %)
BF16_OUTPUT_TOL = 0.05  # fraction of the fp32 predictions' std
WHOLE_BATCH_METRICS = ("MAE", "RMSE", "R2", "r")  # over all clips (EF-band MAEs may have no clip in a band)
VIDEOS = 12
BACKBONE, HEAD, TASK, PROTOCOL, PRETRAINER = "echo-videomae", "stff", "ef", "echovisionfm", "echo-videomae"


@dataclass(frozen=True)
class Mode:
    """What one invocation measures: ``device`` (``"cuda"`` or ``"cpu"``) and the work per step."""

    device: str
    preset: str  # encoder preset of every step
    size: int  # frame size (px) of the throughput and pre-training steps
    frames: int
    finetune_batch: int
    mae_batch: int
    pretrain_steps: int
    pretrain_batch: int
    repeats: int
    min_seconds: float
    dtype: str  # compute dtype of the throughput steps
    precision: str  # Fabric precision of the ``run`` step
    workers: int | None  # DataLoader workers of ``run`` and ``pretrain`` (None: echobench's default)
    bf16_clips: int  # clips in the fixed batch of the bf16-vs-fp32 step
    peak_n: int  # matrix side of the matmul peak

    @staticmethod
    def for_device(cuda: bool) -> "Mode":
        if cuda:
            return Mode(device="cuda", preset="base", size=224, frames=16, finetune_batch=32, mae_batch=64,
                        pretrain_steps=6, pretrain_batch=8, repeats=5, min_seconds=0.5, dtype="bfloat16",
                        precision="bf16-mixed", workers=None, bf16_clips=VIDEOS, peak_n=8192)
        return Mode(device="cpu", preset="tiny", size=32, frames=16, finetune_batch=2, mae_batch=2,
                    pretrain_steps=2, pretrain_batch=2, repeats=1, min_seconds=0.0, dtype="float32",
                    precision="32-true", workers=0, bf16_clips=4, peak_n=256)


@dataclass
class Check:
    """One step's outcome: ``status`` PASS / FAIL / SKIP, a one-line ``detail``, and its numbers."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0
    numbers: dict[str, Any] = field(default_factory=dict)


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


# --- steps ----------------------------------------------------------------------------------------

def step_data(work: Path) -> tuple[Check, Path]:
    from echobench.data.synth import synthesize

    root = work / "data"
    synthesize(root, videos=VIDEOS, seed=0)
    return Check("data", "PASS", f"{VIDEOS} synthetic EchoNet-format videos in {root}"), root


def step_run(mode: Mode, work: Path, prepared, registry) -> Check:
    from echobench.runner import RunConfig, run_experiment

    cfg = RunConfig(backbone=BACKBONE, head=HEAD, task=TASK, data=prepared.root, protocol=PROTOCOL, preset=mode.preset,
                    epochs=1, batch_size=4, n_boot=10, gpus=1 if mode.device == "cuda" else 0,
                    precision=mode.precision, num_workers=mode.workers, results=work / "leaderboard",
                    runs=work / "runs")
    result = run_experiment(cfg, registry=registry, prepared=prepared)
    test = result.metrics["TEST"]
    bad = [k for k in WHOLE_BATCH_METRICS if not math.isfinite(test.get(k, math.nan))]
    if bad or not result.record.is_file():
        return Check("run", "FAIL", f"TEST metrics missing or not finite: {bad}" if bad else "no record written")
    shown = ", ".join(f"{k} {test[k]:.2f}" for k in WHOLE_BATCH_METRICS)
    return Check("run", "PASS", f"{BACKBONE}({mode.preset})+{HEAD} {PROTOCOL} 1 epoch, {mode.precision}: TEST {shown}",
                 numbers={"test": test})


def step_pretrain(mode: Mode, work: Path, videos: Path, registry, *, gpus: int, cpu_processes: int = 1,
                  name: str = "pretrain") -> Check:
    """In this process for one process; as the CLI in a subprocess for several (Fabric relaunches it)."""
    out = work / name
    options = {"preset": mode.preset, "size": mode.size}
    if gpus > 1 or cpu_processes > 1:
        command = [sys.executable, "-m", "echobench", "pretrain", PRETRAINER, str(videos), "--out", str(out),
                   "--steps", str(mode.pretrain_steps), "--batch-size", str(mode.pretrain_batch * max(gpus, cpu_processes)),
                   "--preset", mode.preset, "--size", str(mode.size), "--gpus", str(gpus),
                   "--cpu-processes", str(cpu_processes)]
        if mode.workers is not None:
            command += ["--num-workers", str(mode.workers)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=240)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            return Check(name, "FAIL", f"exit {done.returncode}: {tail[0][:300]}")
        record = json.loads((out / "pretrain.json").read_text())
        world = record.get("environment", {}).get("world_size")
        loss = record.get("final_loss")
        if world != max(gpus, cpu_processes) or loss is None or not math.isfinite(loss):
            return Check(name, "FAIL", f"world_size {world}, final loss {loss}")
        return Check(name, "PASS", f"{world} processes ({'CUDA' if gpus else 'gloo CPU'}), "
                                   f"{mode.pretrain_steps} steps, final loss {loss:.4f}", numbers={"final_loss": loss})
    from echobench.engine.pretrain_loop import PretrainConfig, pretrain

    cfg = PretrainConfig(method=PRETRAINER, data=videos, out=out, options=options, steps=mode.pretrain_steps,
                         batch_size=mode.pretrain_batch, gpus=gpus, num_workers=mode.workers, save_every=10_000)
    result = pretrain(cfg, registry=registry)
    if not result.losses or not all(math.isfinite(v) for v in result.losses) or not (out / "encoder.safetensors").is_file():
        return Check(name, "FAIL", f"losses {result.losses}; encoder written: {(out / 'encoder.safetensors').is_file()}")
    seconds = [json.loads(line)["seconds"] for line in (out / "log.jsonl").read_text().splitlines()]
    later = seconds[1:] or seconds  # the first step includes start-up (workers, kernels)
    rate = mode.pretrain_batch * len(later) / max(1e-9, sum(later))
    return Check(name, "PASS", f"{PRETRAINER}({mode.preset}) {mode.frames}x{mode.size}x{mode.size}, "
                               f"{len(result.losses)} steps, {result.precision}: loss {result.losses[0]:.4f} -> "
                               f"{result.losses[-1]:.4f}; end to end with loader {rate:.1f} clips/s",
                 numbers={"losses": result.losses, "end_to_end_clips_per_s": rate})


def step_bf16(mode: Mode, prepared, registry) -> Check:
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from echobench.data.clips import ClipDataset
    from echobench.engine.devices import make_fabric
    from echobench.engine.loop import predict
    from echobench.engine.model import build_model
    from echobench.engine.objective import Objective
    from echobench.evaluation import score_outputs
    from echobench.protocols import get_protocol

    task = registry.get("task", TASK)
    protocol = dataclasses.replace(get_protocol(PROTOCOL), size=mode.size)  # CPU mode: clips resized to 32 px
    objective = Objective(task, protocol)
    splits, n = ("TEST", "VAL", "TRAIN"), mode.bf16_clips
    records = [r for s in splits for r in prepared.records[s]][:n]
    labels = np.concatenate([prepared.labels[s] for s in splits])[:n]
    ef = np.concatenate([prepared.ef[s] for s in splits])[:n]
    cached = prepared.clips["TEST"] is not None
    dataset = ClipDataset(records, objective.targets(labels), protocol, train=False,
                          clips=[c for s in splits for c in prepared.clips[s]][:n] if cached else None,
                          frame_indices=[c for s in splits for c in prepared.frame_indices[s]][:n] if cached else None)
    torch.manual_seed(0)
    model = build_model(registry, backbone=BACKBONE, head=HEAD, preset=mode.preset,
                        clip_shape=(protocol.frames, protocol.size, protocol.size),
                        unit_input=protocol.normalization == "unit")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    gpus = 1 if mode.device == "cuda" else 0
    outputs, scores = {}, {}
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # a true fp32 reference on CUDA
    try:
        for precision in ("32-true", "bf16-mixed"):
            fabric = make_fabric(gpus=gpus, precision=precision)
            model.load_state_dict(state)
            module = fabric.setup_module(model)
            loader = fabric.setup_dataloaders(DataLoader(dataset, batch_size=len(dataset), shuffle=False),
                                              use_distributed_sampler=False)
            outputs[precision] = objective.outputs(predict(fabric, module, loader, protocol, stats=prepared.stats))
            scores[precision] = {s.metric: s.estimate.value
                                 for s in score_outputs(task, outputs[precision], labels, ef, n_boot=10, seed=0)
                                 if s.task == task.name and s.metric in WHOLE_BATCH_METRICS}
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    ref, low = outputs["32-true"], outputs["bf16-mixed"]
    spread = float(np.std(ref))
    out_dev = float(np.max(np.abs(low - ref)) / spread) if spread > 0 else math.inf
    worst, worst_metric, fails = 0.0, "-", []
    for metric, value in scores["32-true"].items():
        other = scores["bf16-mixed"][metric]
        if not (math.isfinite(value) and math.isfinite(other)):
            fails.append(f"{metric} not finite")
            continue
        allowed = BF16_METRIC_RTOL * abs(value) + BF16_METRIC_ATOL
        if abs(other - value) / allowed > worst:
            worst, worst_metric = abs(other - value) / allowed, metric
        if abs(other - value) > allowed:
            fails.append(f"{metric} {value:.4f} (fp32) vs {other:.4f} (bf16)")
    if out_dev > BF16_OUTPUT_TOL:
        fails.append(f"max |prediction difference| {out_dev:.3f} x std > {BF16_OUTPUT_TOL}")
    numbers = {"fp32": scores["32-true"], "bf16": scores["bf16-mixed"], "max_output_diff_over_std": out_dev,
               "prediction_std": spread}
    detail = (f"{len(dataset)} clips: max |bf16 - fp32| prediction = {out_dev:.4f} x std ({spread:.3f}); "
              f"worst metric {worst_metric} at {worst:.2f} of its tolerance "
              f"(rtol {BF16_METRIC_RTOL}, atol {BF16_METRIC_ATOL})")
    return Check("bf16-vs-fp32", "FAIL" if fails else "PASS", "; ".join(fails) if fails else detail, numbers=numbers)


def step_finetune_throughput(mode: Mode, registry) -> Check:
    import statistics

    from echobench.bench.models import BenchSettings, bench_model

    settings = BenchSettings(frames=mode.frames, size=mode.size, batch=mode.finetune_batch, device=mode.device,
                             dtype=mode.dtype, repeats=mode.repeats, min_seconds=mode.min_seconds, peak_n=mode.peak_n)
    result = bench_model(registry, backbone=BACKBONE, head=HEAD, preset=mode.preset, settings=settings)
    if result.skipped:
        return Check("finetune-throughput", "FAIL", result.skipped)
    peak = statistics.median(result.peak_gflops)
    mfu = 3 * result.cost.forward_flops * result.train_clips_per_s / (peak * 1e9)
    numbers = {"clips_per_s": result.train_clips_per_s, "mfu": mfu, "train_utilization": result.train_utilization,
               "peak_mib": result.train_peak_mib, "forward_gflop_per_clip": result.cost.forward_flops / 1e9,
               "peak_gflops": peak, "batch": mode.finetune_batch}
    return Check("finetune-throughput", "PASS",
                 f"ViT-{mode.preset}+{HEAD} {settings.input_label} batch {mode.finetune_batch} {mode.dtype}: "
                 f"{result.train_clips_per_s:.1f} clips/s, MFU {100 * mfu:.1f} % (train util "
                 f"{100 * result.train_utilization:.1f} %), peak memory {result.train_peak_mib:.0f} MiB, "
                 f"{result.cost.forward_flops / 1e9:.1f} GFLOP forward/clip, peak {peak / 1e3:.1f} TFLOP/s",
                 numbers=numbers)


def mae_step(mode: Mode, registry) -> tuple[Callable[[], Any], int, Callable[[], Any]]:
    """One MAE training step of the pretrainer on a device-resident batch, its forward FLOPs per clip,
    and a forward-only call on one clip (for counting)."""
    import torch

    from echobench.bench.models import autocast

    spec = registry.get("pretrainer", PRETRAINER)
    trainer = spec.load()(**{**spec.defaults, "preset": mode.preset, "size": mode.size, "mask_ratio": 0.9,
                             "masking": "tube"})
    torch.manual_seed(0)
    model = trainer.build().to(mode.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(0)
    clip = torch.rand((mode.mae_batch, 3, trainer.frames, mode.size, mode.size), generator=gen).to(mode.device)
    seeds = list(range(mode.mae_batch))
    counter = iter(range(1 << 62))

    def step() -> Any:
        model.train()
        with autocast(mode.device, mode.dtype):
            loss = trainer.loss(model, clip, seeds, next(counter))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    def forward_one() -> Any:
        model.eval()
        with torch.no_grad():
            return trainer.loss(model, clip[:1], seeds[:1], 0)

    return step, mode.mae_batch, forward_one


def step_mae_throughput(mode: Mode, registry) -> Check:
    import torch

    from echobench.bench.flops import count_flops
    from echobench.bench.memory import PeakMemory
    from echobench.bench.models import torch_dtype
    from echobench.bench.peak import matmul_work
    from echobench.bench.timing import interleaved, median, median_ratio

    memory = PeakMemory(mode.device)
    memory.baseline()
    try:
        step, batch, forward_one = mae_step(mode, registry)
        forward_flops = count_flops(forward_one)
        peak, peak_flops = matmul_work(mode.peak_n, mode.device, torch_dtype(mode.dtype))
        peak()
        step()  # warm-up: optimizer state, kernels
        memory.start()
        step()
        peak_mib = memory.stop()
        samples = interleaved({"mae": step, "peak": peak}, repeats=mode.repeats, device=mode.device, warmup=0,
                              min_seconds=mode.min_seconds)
    except torch.cuda.OutOfMemoryError as exc:
        return Check("mae-throughput", "FAIL", f"out of memory at batch {mode.mae_batch}: {_first_line(exc)}")
    finally:
        if mode.device == "cuda":
            torch.cuda.empty_cache()
    rate = [peak_flops / s for s in samples["peak"]]
    clips_per_s = batch / median(samples["mae"])
    mfu = median_ratio([3 * forward_flops * batch / s for s in samples["mae"]], rate)
    peak_gflops = median(rate) / 1e9
    numbers = {"clips_per_s": clips_per_s, "mfu": mfu, "peak_mib": peak_mib,
               "forward_gflop_per_clip": forward_flops / 1e9, "peak_gflops": peak_gflops, "batch": batch}
    return Check("mae-throughput", "PASS",
                 f"MAE ViT-{mode.preset} {mode.frames}x{mode.size}x{mode.size} mask 0.9 batch {batch} {mode.dtype}: "
                 f"{clips_per_s:.1f} clips/s, MFU {100 * mfu:.1f} %, peak memory {peak_mib:.0f} MiB, "
                 f"{forward_flops / 1e9:.2f} GFLOP forward/clip, peak {peak_gflops / 1e3:.1f} TFLOP/s",
                 numbers=numbers)


# --- driver ---------------------------------------------------------------------------------------

def run_checks(*, cpu: bool = False, work: Path | None = None, cpu_ddp: bool = False,
               log: Callable[[str], None] = print) -> list[Check]:
    """Run every step (see the module docstring) and return their outcomes, in order.

    A step that raises is a FAIL with the exception's first line; later steps still run (those that
    need its output are SKIPped).
    """
    import torch

    from echobench.protocols import get_protocol
    from echobench.registry import get_registry
    from echobench.runner import prepare_data

    cuda = torch.cuda.is_available() and not cpu
    gpus = torch.cuda.device_count() if cuda else 0
    mode = Mode.for_device(cuda)
    registry = get_registry()
    if cuda:
        log(f"CUDA mode: {torch.cuda.get_device_name(0)} x {gpus}, torch {torch.__version__}")
    else:
        why = "--cpu given" if cpu else "no CUDA device"
        log(f"CPU mode ({why}): preset {mode.preset}, {mode.frames}x{mode.size}x{mode.size}; "
            f"CUDA-only parts are skipped, the rest runs as on a GPU")
    checks: list[Check] = []

    def attempt(name: str, fn: Callable[[], Check]) -> Check | None:
        start = time.perf_counter()
        try:
            check = fn()
        except Exception as exc:  # one failed step never hides the others
            check = Check(name, "FAIL", _first_line(exc))
        check.seconds = time.perf_counter() - start
        checks.append(check)
        log(f"{check.status:4}  {check.name:20} {check.detail}  [{check.seconds:.1f} s]")
        return check

    with tempfile.TemporaryDirectory(prefix="echobench-gpu-check-") as tmp:
        work = Path(work) if work is not None else Path(tmp)
        holder: dict[str, Any] = {}

        def data() -> Check:
            check, holder["root"] = step_data(work)
            holder["prepared"] = prepare_data(holder["root"], registry.get("task", TASK), get_protocol(PROTOCOL))
            return check

        ok = attempt("data", data).status == "PASS"
        for name, fn in (("run", lambda: step_run(mode, work, holder["prepared"], registry)),
                         ("pretrain", lambda: step_pretrain(mode, work, holder["root"] / "Videos", registry,
                                                            gpus=1 if cuda else 0)),
                         ("bf16-vs-fp32", lambda: step_bf16(mode, holder["prepared"], registry))):
            if ok:
                attempt(name, fn)
            else:
                checks.append(Check(name, "SKIP", "no data (the data step failed)"))
        if gpus >= 2:
            attempt("ddp", lambda: step_pretrain(mode, work, holder["root"] / "Videos", registry, gpus=2, name="ddp"))
        elif cpu_ddp and ok:
            attempt("ddp", lambda: step_pretrain(mode, work, holder["root"] / "Videos", registry, gpus=0,
                                                 cpu_processes=2, name="ddp"))
        else:
            reason = (f"needs 2 CUDA GPUs, this machine has {gpus}" if cuda else
                      "needs 2 CUDA GPUs (CPU mode; --cpu-ddp runs it as 2 gloo processes)")
            checks.append(Check("ddp", "SKIP", reason))
            log(f"SKIP  {'ddp':20} {reason}")
        attempt("finetune-throughput", lambda: step_finetune_throughput(mode, registry))
        attempt("mae-throughput", lambda: step_mae_throughput(mode, registry))
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="CPU mode even when CUDA is present (tiny preset).")
    parser.add_argument("--cpu-ddp", action="store_true", help="without 2 GPUs, run the DDP step as 2 gloo CPU processes.")
    parser.add_argument("--json", type=Path, help="also write the outcomes and numbers to this JSON file.")
    parser.add_argument("--work", type=Path, help="keep the synthetic data, runs and checkpoints here (default: a temporary folder).")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    checks = run_checks(cpu=args.cpu, work=args.work, cpu_ddp=args.cpu_ddp)
    total = time.perf_counter() - start
    failed = [c.name for c in checks if c.status == "FAIL"]
    print(f"{len(checks) - len(failed)}/{len(checks)} steps passed or skipped in {total:.0f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    print("MFU = 3 x forward FLOPs per clip x clips/s / bf16 (CPU mode: fp32) torch.mm peak measured in the same run")
    if args.json:
        args.json.write_text(json.dumps({"seconds": total, "checks": [asdict(c) for c in checks]}, indent=2,
                                        default=float))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
