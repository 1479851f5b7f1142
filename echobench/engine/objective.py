"""What a task trains and selects on: the training target, the loss, and the VAL score (core code).

A task is data (:class:`echobench.contract.specs.TaskSpec`); how it is trained is decided here, once, for
every model, so rows stay comparable (STYLE rule 2):

- ``regression`` (``ef``, ``esv``, ``edv``): MSE on the protocol-encoded target (EF/100 or ln mL
  under ``echovisionfm``, natural units under ``echonet``); outputs are decoded back to natural
  units; the checkpoint is picked by VAL MAE in natural units.
- ``binary`` (``ef50``): the positive class is ``label < threshold`` (reduced EF, EF < 50 %);
  binary cross-entropy on one logit; outputs are probabilities of the positive class; the
  checkpoint is picked by VAL binary cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from echobench.metrics import regression_metrics
from echobench.protocols import Protocol
from echobench.contract.specs import TaskSpec


@dataclass(frozen=True)
class Objective:
    """Training objective of one (task, protocol) pair."""

    task: TaskSpec
    protocol: Protocol

    @property
    def binary(self) -> bool:
        return self.task.kind == "binary"

    def targets(self, labels: np.ndarray) -> np.ndarray:
        """Natural-unit labels ``(N,)`` -> training targets ``(N,)`` float64 (0/1 for binary tasks)."""
        labels = np.asarray(labels, dtype=np.float64)
        if self.binary:
            return (labels < float(self.task.threshold)).astype(np.float64)
        return self.protocol.encode_target(labels, self.task.units)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss of model outputs ``(B,)`` against training targets ``(B,)`` (float32)."""
        if self.binary:
            return torch.nn.functional.binary_cross_entropy_with_logits(output.float(), target.float())
        return torch.nn.functional.mse_loss(output.float(), target.float())

    def outputs(self, raw: np.ndarray) -> np.ndarray:
        """Raw model outputs ``(N,)`` -> natural-unit predictions, or P(positive) for binary tasks."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.binary:
            return 1.0 / (1.0 + np.exp(-raw))
        return self.protocol.decode_target(raw, self.task.units)

    def initial_output(self, train_labels: np.ndarray) -> float:
        """Starting value of the output bias: the TRAIN mean target, or the logit of the TRAIN prevalence."""
        target = self.targets(train_labels)
        if self.binary:
            p = float(np.clip(target.mean(), 1e-3, 1 - 1e-3))
            return float(np.log(p / (1 - p)))
        return float(target.mean())

    def val_score(self, outputs: np.ndarray, labels: np.ndarray) -> float:
        """Checkpoint-selection score on VAL (lower is better): MAE in natural units, or BCE;
        ``inf`` when any output is not finite (a diverged epoch is never selected)."""
        if not np.isfinite(np.asarray(outputs, dtype=np.float64)).all():
            return float("inf")
        if self.binary:
            y = self.targets(labels)
            p = np.clip(np.asarray(outputs, dtype=np.float64), 1e-7, 1 - 1e-7)
            return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        return regression_metrics(outputs, labels)["MAE"]

    @property
    def val_score_name(self) -> str:
        return "VAL BCE" if self.binary else "VAL MAE"
