"""The MAE reconstruction picture written with every pre-training checkpoint (DESIGN §7).

One PNG, three rows (original, masked input, reconstruction) by up to ``columns`` frames of one
clip, drawn as one mosaic image with matplotlib's object-oriented API on the Agg canvas (no pyplot, no global backend
switch, safe in worker processes and on machines without a display).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from echobench.atomic import atomic_write_bytes

if TYPE_CHECKING:
    import torch

ROWS = ("original", "masked", "reconstructed")


def save_reconstruction_png(path: str | os.PathLike, pictures: Mapping[str, "torch.Tensor"], *, title: str = "",
                            columns: int = 8) -> Path:
    """Write ``path`` (PNG, atomically) from ``pictures[row]`` clips ``(B, 3, T, H, W)`` in [0, 1];
    sample 0 is drawn, ``columns`` frames evenly spaced over ``T``.

    Raises:
        KeyError: a row of :data:`ROWS` is missing. OSError: the file cannot be written.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    clips = {row: pictures[row][0].float().clamp(0, 1).permute(1, 2, 3, 0).cpu().numpy() for row in ROWS}
    t, h, w, _ = clips["original"].shape
    frames = np.unique(np.linspace(0, t - 1, min(columns, t)).round().astype(int))
    gap = max(1, h // 16)
    mosaic = np.ones((len(ROWS) * (h + gap) - gap, len(frames) * (w + gap) - gap, 3), dtype=np.float32)
    for r, row in enumerate(ROWS):  # one image: a single imshow is much cheaper than a grid of axes
        for c, f in enumerate(frames):
            mosaic[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = clips[row][f]
    scale = 1.3 / max(h, w)
    fig = Figure(figsize=(1.2 + len(frames) * (w + gap) * scale, 0.5 + len(ROWS) * (h + gap) * scale), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.9 / fig.get_figwidth(), 0.05, 1 - 1.0 / fig.get_figwidth(), 0.8))
    ax.imshow(mosaic, vmin=0.0, vmax=1.0, interpolation="nearest", aspect="equal")
    ax.axis("off")  # labels as text: cheaper than styled ticks
    for c, f in enumerate(frames):
        ax.text(c * (w + gap) + w / 2, -gap, f"frame {f}", ha="center", va="bottom", fontsize=7)
    for r, row in enumerate(ROWS):
        ax.text(-gap, r * (h + gap) + h / 2, row, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9, y=0.99)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return path

__all__ = ["ROWS", "save_reconstruction_png"]
