"""Atomic file writes: temporary file in the same folder, fsync, rename (DESIGN §8).

A reader never sees a half-written file, and a crash leaves either the old file or the new one.
Every writer here goes through :func:`atomic_target`: the temporary file is removed when writing
fails, and a failed write (disk full, file too large, permissions; whichever library wrote:
``OSError``, safetensors' ``SafetensorError``, polars' ``ComputeError``, torch's ``RuntimeError``)
becomes one :class:`~echobench.errors.WriteError` line naming the file.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from echobench import errors
from echobench.errors import EchobenchError, WriteError, first_line


def write_errors() -> tuple[type[BaseException], ...]:
    """The exception types that writing a file raises when the disk is full or unwritable: ``OSError``,
    torch's ``RuntimeError`` (``torch.save``: "PytorchStreamWriter failed writing file"), safetensors'
    ``SafetensorError`` and polars' ``PolarsError`` (``ComputeError: ... No space left on device``)."""
    kinds: list[type[BaseException]] = [OSError, RuntimeError]
    try:
        from safetensors import SafetensorError

        kinds.append(SafetensorError)
    except ImportError:
        pass
    try:
        from polars.exceptions import PolarsError

        kinds.append(PolarsError)
    except ImportError:
        pass
    return tuple(kinds)


def describe(exc: BaseException) -> str:
    """:func:`echobench.errors.describe` (``Type: first line of the message``), except that an
    ``OSError`` from the system gives its reason without the file names (the temporary file's name
    means nothing to a user)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {first_line(exc.strerror)}"
    return errors.describe(exc)


def write_error(path: str | os.PathLike, exc: BaseException, what: str = "", kept: str = "") -> WriteError:
    """The one-line :class:`WriteError` for ``exc`` raised while writing ``path`` (``what``: e.g.
    "checkpoint"; ``kept``: what good state remains, appended after a semicolon)."""
    error = WriteError(f"{path}: cannot write{' ' + what if what else ''} ({describe(exc)})"
                       f"{'; ' + kept if kept else ''}")
    error.kept = bool(kept)
    return error


def kept_error(exc: WriteError, kept: str) -> WriteError:
    """``exc`` with ``; <kept>`` appended (what good state remains), marked as saying so."""
    error = WriteError(f"{exc}; {kept}")
    error.kept = True
    return error


@contextmanager
def atomic_target(path: str | os.PathLike, publish: Callable[[Path, Path], None] | None = None, *,
                  tmp_dir: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yields a hidden temporary path beside ``path`` (or in ``tmp_dir``, a folder on the same file
    system, e.g. one a restart sweeps clean) to write; on success ``publish(tmp, path)`` runs
    (default :func:`fsync_replace`: fsync, rename over ``path``), on failure the temporary file is
    removed.

    Raises:
        WriteError: writing failed with one of :func:`write_errors` (names ``path``); other
            exceptions (and ``FileExistsError`` from ``publish``) pass unchanged.
    """
    path = Path(path)
    tmp = Path(tmp_dir or path.parent) / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        (publish or fsync_replace)(tmp, path)
    except (EchobenchError, FileExistsError):
        raise
    except BaseException as exc:
        if isinstance(exc, write_errors()):
            raise write_error(path, exc) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` newlines) to ``path`` atomically.

    Raises:
        WriteError: the file cannot be written (disk full, permissions).
    """
    with atomic_target(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a written file's data to disk (a read-only descriptor suffices on POSIX, so this also
    works for a hard link to a read-only file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_replace(tmp: str | os.PathLike, target: str | os.PathLike) -> None:
    """Flush a finished temporary file to disk, then rename it over ``target`` (atomic publish)."""
    fsync_file(tmp)
    os.replace(tmp, target)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` (e.g. an encoded PNG) to ``path`` atomically.

    Raises:
        WriteError: the file cannot be written (disk full, permissions).
    """
    with atomic_target(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_save_safetensors(tensors, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write a dict of tensors to ``path`` with ``safetensors.torch.save_file``, atomically.

    Raises:
        WriteError: the file cannot be written (``SafetensorError: ... No space left on device``).
    """
    from safetensors.torch import save_file

    with atomic_target(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def atomic_write_parquet(frame, target: str | os.PathLike) -> Path:
    """Write a polars DataFrame to ``target``, replacing it if present: temp file, fsync, rename.

    Raises:
        WriteError: the file cannot be written (disk full, permissions).
    """
    with atomic_target(target) as tmp:
        frame.write_parquet(tmp)
    return Path(target)


def atomic_write_new_parquet(frame, target: str | os.PathLike) -> Path:
    """Write a polars DataFrame to ``target`` that must not exist yet: temp file, fsync, rename.

    For append-only record folders: two writers never share a name, so nothing is overwritten and
    a reader sees a whole file or none.

    Raises:
        FileExistsError: ``target`` already exists (records are never overwritten).
        WriteError: the file cannot be written (disk full, permissions).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise FileExistsError(f"{target}: record already exists")
    with atomic_target(target, publish=_publish_new) as tmp:
        frame.write_parquet(tmp)
    return target


def _publish_new(tmp: Path, target: Path) -> None:
    """fsync ``tmp`` and give it the name ``target`` unless that exists (a hard link is atomic and
    never replaces: it fails if another writer got there first)."""
    fsync_file(tmp)
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise FileExistsError(f"{target}: record already exists") from None
    except OSError:  # file systems without hard links
        os.replace(tmp, target)
