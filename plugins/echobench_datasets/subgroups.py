"""Subgroup values shared by the dataset readers: age bands and sex (strata; issue 16 item 4).

Age bands are declared here, once per population, so every record and strata table names the same
bands:

- :data:`PEDIATRIC_AGE_BANDS` (years): infant ``<1``, preschool ``1-5``, school age ``6-12``,
  adolescent ``13-18`` (``>18`` for the few older patients a paediatric clinic sees);
- :data:`ADULT_AGE_BANDS` (years): ``<40``, ``40-59``, ``60-79``, ``>=80``.

A missing or unreadable age is ``"unknown"``.
"""

from __future__ import annotations

import math

PEDIATRIC_AGE_BANDS = ((1.0, "<1"), (6.0, "1-5"), (13.0, "6-12"), (19.0, "13-18"), (math.inf, ">18"))
"""``(upper bound in years, exclusive; label)`` pairs, in order."""
ADULT_AGE_BANDS = ((40.0, "<40"), (60.0, "40-59"), (80.0, "60-79"), (math.inf, ">=80"))
"""``(upper bound in years, exclusive; label)`` pairs, in order."""
UNKNOWN = "unknown"


def age_band(age: float | None, bands: tuple[tuple[float, str], ...]) -> str:
    """The label of the band holding ``age`` (years), or ``"unknown"`` for None, NaN or a negative age."""
    if age is None or not math.isfinite(age) or age < 0:
        return UNKNOWN
    return next(label for upper, label in bands if age < upper)


def sex(value: str | None) -> str:
    """``"M"`` or ``"F"`` from a cell (``m``, ``Male``, ``F``, ``female``...), else ``"unknown"``."""
    text = (value or "").strip().upper()
    return text[0] if text[:1] in ("M", "F") and text in ("M", "F", "MALE", "FEMALE") else UNKNOWN
