"""Regression metrics in natural units (EF points, mL), through torchmetrics (DESIGN §5).

R² is the sklearn definition (1 - SS_res / SS_tot, torchmetrics ``R2Score``), not Pearson r².
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional import mean_absolute_error, mean_squared_error, r2_score

def regression_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² of ``pred`` against ``true`` (both ``(N,)``, same natural units).

    R² is NaN when fewer than two samples are given.
    """
    p = torch.as_tensor(np.asarray(pred, dtype=np.float64))
    t = torch.as_tensor(np.asarray(true, dtype=np.float64))
    out = {
        "MAE": float(mean_absolute_error(p, t)),
        "RMSE": float(mean_squared_error(p, t, squared=False)),
        "R2": float(r2_score(p, t)) if len(t) >= 2 else float("nan"),
    }
    return out
