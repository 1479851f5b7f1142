"""Evaluation tracks: versioned like protocols (:mod:`echobench.protocols`), core code, written next
to every row they produce (record column ``track``, ``name@version``).

A track is a way of scoring beyond the main table (DESIGN §5): calibration and agreement, beat-level
clips, ... Bump a track's ``version`` for any change that can move one of its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Track:
    """A versioned evaluation track: ``name``, ``version`` and a one-line ``summary``."""

    name: str
    version: str
    summary: str

    @property
    def tag(self) -> str:
        """``name@version``, written into the record's ``track`` column."""
        return f"{self.name}@{self.version}"


CALIBRATION = Track("calibration", "1", "binary tasks: ECE (15 equal-width bins), Brier score; reliability diagram")
AGREEMENT = Track("agreement", "1", "regression: Bland-Altman bias and 95 % limits of agreement; EF category "
                  "(<=40, 40-50, >=50) agreement and Cohen's kappa; split-conformal 90 % intervals fitted on VAL")
BEATS = Track("beats", "1", "one clip per detected cardiac cycle (model-free, blood-pool intensity), "
              "averaged per video; all clips where no cycle is found")
TRACKS: dict[str, Track] = {t.name: t for t in (CALIBRATION, AGREEMENT, BEATS)}
