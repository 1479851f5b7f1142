"""``echobench pretrain METHOD DATA --out DIR``: thin wrapper over :func:`echobench.engine.pretrain_loop.pretrain`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from echobench import defaults
from echobench.cli.common import err, out, progress_factory, stop_on_signals, user_errors


def pretrainer_options(method: str, pairs: list[str], flags: dict) -> dict:
    """The options for pretrainer ``method``: the shortcut flags given, then ``--option KEY=VALUE``
    pairs, each checked against the options its spec declares (did-you-mean).

    Raises:
        UnknownNameError: unknown pretrainer. ConfigError: an undeclared option or a bad value.
    """
    from echobench.contract.options import check_options, parse_options
    from echobench.registry import get_registry

    spec = get_registry().get("pretrainer", method)
    owner = f"pretrainer {method!r}"
    labels = {k: "--" + k.replace("_", "-") for k in flags}
    options = (check_options(flags, spec.options, owner=owner, flag="--option", labels=labels)
               if spec.options else dict(flags))
    options.update(parse_options(pairs, spec.options, owner=owner, flag="--option"))
    return options


def _log(message: str) -> None:
    err.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)


@user_errors
def pretrain(
    method: Annotated[str, typer.Argument(help="Pretrainer name (see `echobench list pretrainer`), e.g. echo-videomae.")],
    data: Annotated[Path, typer.Argument(help="Folder from `echobench prepare dicom` (manifest.parquet), a shard store from `echobench prepare shards`, or a folder of .avi clips.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder: checkpoints, encoder.safetensors, pictures, log.")],
    preset: Annotated[Optional[str], typer.Option(help="Shortcut for --option preset=...: encoder size (echo-videomae: tiny, small, base, large; default base).")] = None,
    steps: Annotated[Optional[int], typer.Option(min=1, help="Optimizer steps (default: one epoch).")] = None,
    epochs: Annotated[Optional[float], typer.Option(min=0.0, help="Passes over the clips (instead of --steps).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="GLOBAL batch, split over all processes.")
                          ] = defaults.PRETRAIN_BATCH_SIZE,
    lr: Annotated[float, typer.Option(min=1e-9, help="Peak AdamW learning rate.")] = defaults.PRETRAIN_LR,
    mask_ratio: Annotated[Optional[float], typer.Option(help="Shortcut for --option mask_ratio=...: fraction of tokens masked (echo-videomae: 0.9).")] = None,
    masking: Annotated[Optional[str], typer.Option(help="Shortcut for --option masking=...: tube (VideoMAE), random, or released (EchoVisionFM code).")] = None,
    size: Annotated[Optional[int], typer.Option(min=16, help="Shortcut for --option size=...: frame size in pixels (echo-videomae: 224, a multiple of 16).")] = None,
    init: Annotated[Optional[str], typer.Option(help="Shortcut for --option init=...: start from local weights (HF VideoMAEForPreTraining, MCG-NJU, or an encoder file).")] = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", help="KEY=VALUE option the pretrainer declares (repeatable; e.g. frames=8, flips=false); see `echobench list pretrainer`.")] = None,
    gpus: Annotated[Optional[int], typer.Option(help="CUDA devices per node (0 = CPU; default: 1 if present).")] = None,
    nodes: Annotated[int, typer.Option(min=1, help="Nodes (multi-node DDP; launch one command per node).")] = 1,
    cpu_processes: Annotated[int, typer.Option(min=1, hidden=True, help="CPU processes with gloo (tests).")] = 1,
    precision: Annotated[Optional[str], typer.Option(help="Fabric precision (default bf16-mixed on GPU, 32-true on CPU).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed (data order, masks, init).")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the latest checkpoint in --out.")] = False,
    save_every: Annotated[int, typer.Option(min=1, help="Steps between checkpoints (and at the end).")] = 1000,
    keep: Annotated[int, typer.Option(min=1, help="Checkpoints kept (latest).")] = 2,
    num_workers: Annotated[Optional[int], typer.Option(min=0, help="Decoding worker processes per device (default: 0 on CPU; on GPU the available cores per process).")] = None,
) -> None:
    """Self-supervised pre-training (e.g. VideoMAE MAE on echo clips); the encoder is written to
    DIR/encoder.safetensors for `echobench run --backbone echo-videomae --weights`."""
    from echobench.engine.pretrain_loop import PretrainConfig
    from echobench.engine.pretrain_loop import pretrain as run_pretrain

    flags = {"preset": preset, "mask_ratio": mask_ratio, "masking": masking, "size": size, "init": init}
    options = pretrainer_options(method, option or [], {k: v for k, v in flags.items() if v is not None})
    cfg = PretrainConfig(method=method, data=data, out=out_dir, options=options, steps=steps, epochs=epochs,
                         batch_size=batch_size, lr=lr, seed=seed, gpus=gpus, nodes=nodes, cpu_processes=cpu_processes,
                         precision=precision, resume=resume, save_every=save_every, keep=keep,
                         num_workers=num_workers)
    from echobench.engine.loop import Interrupted

    with progress_factory() as make, stop_on_signals() as stop:
        try:
            result = run_pretrain(cfg, progress=make, log=_log, stop=stop)
        except Interrupted as exc:
            err.print(f"[yellow]interrupted:[/] {escape(str(exc))}; rerun the same command with --resume")
            raise typer.Exit(130) from None
    if not result.is_main:
        return  # the other DDP processes print nothing
    from echobench.engine.checkpoint import latest_checkpoint

    if result.start_step >= result.steps:
        out.print(f"nothing to do: {escape(str(result.out))} is already at step {result.steps}", soft_wrap=True)
    else:
        last = f"{result.losses[-1]:.4f}" if result.losses else "-"
        out.print(f"pre-trained {escape(method)} to step {result.steps} ({result.world_size} process(es), "
                  f"{escape(result.device)}, {result.precision}); last loss {last}", soft_wrap=True)
    if result.skipped:
        out.print("counted: " + escape(", ".join(f"{k}: {v}" for k, v in sorted(result.skipped.items()))),
                  soft_wrap=True)
    out.print(f"encoder:    {escape(str(result.out / 'encoder.safetensors'))}\n"
              f"checkpoint: {escape(str(latest_checkpoint(result.out)))}", soft_wrap=True)
