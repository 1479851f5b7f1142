"""The robustness track (:data:`~echobench.evaluation.tracks.ROBUSTNESS`): TEST scored under every
perturbation x severity of :mod:`echobench.evaluation.perturbations`, one clip per video (the
protocol's test clip), with absolute and relative degradation from the clean score and their 95 %
paired-bootstrap intervals (the same resampled videos for clean and perturbed; relative alone hides
a weak model's floor effect, so both are reported).

The score is MAE in the task's units for regression and accuracy for binary tasks. Rows per
perturbation ``p`` and severity ``s``: ``<score>[p:s]``, ``Δ<score>[p:s]`` (perturbed - clean; MAE
rises, accuracy falls when a model degrades) and ``relΔ<score>[p:s]`` (Δ / clean, a fraction).
"""

from __future__ import annotations

import numpy as np
import torch

from echobench.evaluation.perturbations import PERTURBATIONS, SEVERITIES, perturb
from echobench.metrics import bootstrap_report


def _loss_terms(task, outputs: np.ndarray, labels: np.ndarray) -> tuple[str, np.ndarray]:
    if task.kind == "binary":
        positive = np.asarray(labels, np.float64) < float(task.threshold)
        return "ACC", ((np.asarray(outputs) >= 0.5) == positive).astype(np.float64)
    return "MAE", np.abs(np.asarray(outputs, np.float64) - np.asarray(labels, np.float64))


def degradation_scores(task, clean: np.ndarray, perturbed: dict[tuple[str, int], np.ndarray], labels: np.ndarray,
                       *, n_boot: int = 1000, seed: int = 0) -> list:
    """Rows of the robustness track from ``clean (N,)`` and perturbed ``(N,)`` outputs per
    ``(perturbation, severity)`` (natural units, or P(positive)), against ``labels (N,)``.

    Returns :class:`echobench.evaluation.Score` s (module docstring for names and units).
    """
    from echobench.evaluation import Score
    from echobench.evaluation.tracks import ROBUSTNESS

    name, base = _loss_terms(task, clean, labels)
    n = base.size
    units = "" if task.kind == "binary" else task.units
    rows = []
    for (p, s), out in perturbed.items():
        _, terms = _loss_terms(task, out, labels)
        pair = torch.from_numpy(np.stack([base, terms], axis=1))  # (N, 2)
        key = f"[{p}:{s}]"
        c0, c1 = float(base.mean()), float(terms.mean())

        def batched(w: torch.Tensor, pair=pair, key=key) -> dict[str, torch.Tensor]:
            clean_b, pert_b = (w @ pair / n).unbind(dim=1)
            rel = torch.where(clean_b != 0, (pert_b - clean_b) / clean_b, float("nan"))
            return {name + key: pert_b, "Δ" + name + key: pert_b - clean_b, "relΔ" + name + key: rel}

        points = {name + key: c1, "Δ" + name + key: c1 - c0,
                  "relΔ" + name + key: (c1 - c0) / c0 if c0 != 0 else float("nan")}
        for metric, est in bootstrap_report(points, batched, n, n_boot, seed).items():
            rows.append(Score(task.name, metric, est, track=ROBUSTNESS.tag, units="" if metric.startswith("rel") else units))
    return rows


def check_perturbed(perturbed: dict[tuple[str, int], np.ndarray], *, log=None) -> None:
    """:func:`echobench.evaluation.check_finite` of the outputs under each perturbation x severity
    (``"TEST (<perturbation>, severity <s>)"``); ``log``: the run's log line writer.

    Raises:
        TrainingError: an output under a perturbation is not finite.
    """
    from echobench.evaluation import check_finite

    for (p, s), out in perturbed.items():
        check_finite(out, f"TEST ({p}, severity {s})", log=log)


def predict_perturbed(fabric, model, records, protocol, *, objective, batch_size: int, stats=None, seed: int = 0,
                      advance=None, frame_size: tuple[int, int] | None = None,
                      videos=None) -> dict[tuple[str, int], np.ndarray]:
    """Outputs ``(N,)`` (natural units, or P(positive)) of the protocol's test clip of every video of
    ``records`` under each perturbation x severity (:func:`~echobench.evaluation.perturbations.perturb`
    with ``seed``). ``advance(1)`` after each video. ``frame_size``: the run's common frame size
    (:func:`echobench.data.clips.fit_frame_size`), applied before the perturbation. ``videos``: one
    loader per record returning its ``(N, H, W, C)`` uint8 frames at that size (the run's decoded frame
    source); None decodes each file here.

    Raises:
        DataError: a video cannot be decoded.
    """
    from echobench.data.clips import fit_frame_size
    from echobench.data.video import read_video
    from echobench.engine.loop import predict_clips

    out = {(p, s): np.full(len(records), np.nan) for p in PERTURBATIONS for s in SEVERITIES}
    for v, record in enumerate(records):
        video = videos[v]() if videos is not None else fit_frame_size(read_video(record.path), frame_size)
        for (p, s), values in out.items():
            moved = perturb(video, p, s, seed=seed)
            raw = predict_clips(fabric, model, moved, [protocol.frame_indices(len(moved), start=0)], protocol,
                                batch_size=batch_size, stats=stats)
            values[v] = float(objective.outputs(raw)[0])
        if advance:
            advance(1)
    return out
