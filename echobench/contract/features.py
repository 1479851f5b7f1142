"""The tensor contract between backbones and heads (DESIGN §3).

A backbone maps a clip ``(B, 3, T, H, W)`` to :class:`Features`; a head maps :class:`Features` to an
embedding ``(B, E)``; a task adapter maps ``E`` to the task's outputs. Because CNN backbones expose
their last feature map the same way ViTs expose their tokens, every head works with every backbone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Features:
    """Backbone output.

    Attributes:
        tokens: ``(B, L, D)`` float, ``L = t*h*w`` in t-major order (index ``(i*h + j)*w + k`` is
            time step ``i``, row ``j``, column ``k`` of the token grid).
        grid: the token grid ``(t, h, w)``.
        frame_indices: ``(B, T)`` long, the source-video frame index of every input frame (heads
            that encode real time, e.g. STFF-Net's disjoint path, use them).
    """

    tokens: torch.Tensor
    grid: tuple[int, int, int]
    frame_indices: torch.Tensor

    @property
    def dim(self) -> int:
        """Feature dimension ``D``."""
        return int(self.tokens.shape[-1])

    def __post_init__(self) -> None:
        t, h, w = self.grid
        if self.tokens.ndim != 3 or self.tokens.shape[1] != t * h * w:
            raise ValueError(
                f"Features.tokens has shape {tuple(self.tokens.shape)}, expected (B, {t * h * w}, D) "
                f"for grid {self.grid}"
            )
