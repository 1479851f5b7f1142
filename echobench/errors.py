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


def first_line(exc: BaseException | str, limit: int = 200) -> str:
    """The first line of ``str(exc)`` (an exception or a message), stripped and cut to ``limit``
    characters (``""`` for an empty message): how a library's possibly multi-line message is quoted
    inside a one-line error."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else ""


def describe(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message`` (:func:`first_line`; just ``Type`` for an empty message),
    e.g. ``ComputeError: found more fields than defined in 'Schema'``."""
    first = first_line(exc, limit)
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
