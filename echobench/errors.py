"""echobench's own error types.

Every error a user can cause (a bad file, a bad directory, an unknown plugin name, a missing
weights file) is raised as a subclass of :class:`EchobenchError` whose ``str()`` is ONE line that
names the file or name at fault and the problem. The CLI prints that line and exits non-zero; it
never shows a traceback for these.
"""

from __future__ import annotations


class EchobenchError(Exception):
    """Base class: a user-facing problem whose message is one clear line."""

    exit_code: int = 2

    def __str__(self) -> str:  # keep messages on one line whatever the caller passed
        return " ".join(super().__str__().split())


class DataError(EchobenchError):
    """An input file or directory cannot be used (names the file and the problem)."""


class PluginError(EchobenchError):
    """A plugin could not be loaded, or two plugins registered the same name."""


class UnknownNameError(PluginError):
    """A backbone/head/task/pretrainer/protocol name that no plugin registered."""


class ConfigError(EchobenchError):
    """Options that do not fit together (e.g. more GPUs than the machine has)."""


class TrainingError(EchobenchError):
    """Training produced no usable model (e.g. the loss diverged)."""


class WeightsError(EchobenchError):
    """A weights file is missing, unsafe, or does not match the model."""


class WriteError(EchobenchError, OSError):
    """An output file could not be written (disk full, file too large, permissions): names the file
    and what is kept. Also an ``OSError``, so code that handles failed writes as such still does.

    ``kept`` is set when the message already says what good state is kept (e.g. the last checkpoint)."""

    kept: bool = False
