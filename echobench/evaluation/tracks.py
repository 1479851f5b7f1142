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
ROBUSTNESS = Track("robustness", "1", "TEST under perturbations (echobench.evaluation.perturbations v1) x 3 "
                   "severities: score, absolute and relative degradation with paired-bootstrap intervals")
STRATA = Track("strata", "1", "every main metric within EF category and TEST tertiles of FPS, frame count, "
               "brightness and contrast, and per value of each subgroup column the dataset declares (vendor, "
               "sex...), with n; strata below n = 30 shown, not ranked")
PROBE = Track("probe", "1", "frozen backbone, features cached once; a grid of probes x learning rates x weight "
              "decays trained side by side, selected on VAL, reported on TEST per clip sampler (echobench.probing)")
TRACKS: dict[str, Track] = {t.name: t for t in (CALIBRATION, AGREEMENT, BEATS, ROBUSTNESS, STRATA, PROBE)}

MIN_N = 30  # a stratum with fewer videos is shown but not ranked (evaluation.strata)
