"""Fuzz tests of the file readers and the leaderboard (hypothesis, derandomized: a fixed set of
examples per run, no example database)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def fuzz_settings(max_examples: int, *, checks: tuple[HealthCheck, ...] = (HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large)) -> settings:
    """The settings of one fuzz test: ``max_examples`` generated examples under the ``deep`` profile
    (``HYPOTHESIS_PROFILE=deep``), at most the loaded profile's count otherwise (the ``ci`` profile of
    tests/conftest.py: 20, which README's test command runs). Explicit ``@example`` cases always run.
    No deadline (a loaded machine is slow, not wrong), derandomized, no example database."""
    cap = settings.default.max_examples  # the profile loaded by tests/conftest.py
    return settings(max_examples=min(max_examples, cap), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(checks))
