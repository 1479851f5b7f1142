"""Run fuzz targets in a separate worker process, so a hang or a hard crash is caught and reported.

A Hypothesis ``deadline`` only measures time after a call returns, and ``signal.alarm`` cannot
interrupt FFmpeg or polars while they are busy in C code. So every fuzz example runs in a *spawned*
worker process (a fresh interpreter, no forked threads): the test waits at most ``timeout_s`` for
the answer, then kills the worker, starts a new one for the next example, and fails with the input
named. A worker that dies (segfault, abort) fails the test too. The worker's address space is
capped (where ``RLIMIT_AS`` exists: ``MEMORY_HEADROOM`` above what it holds once the ``preload``
modules are imported), so a decoder fooled into allocating gigabytes raises ``MemoryError`` inside
the worker (an unhandled exception, so the test fails) instead of exhausting the CI machine.

Targets are module-level functions (they are pickled by reference and imported in the worker);
they return small picklable summaries, never big arrays.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from dataclasses import dataclass
from typing import Any, Callable

MEMORY_HEADROOM = 3 << 30  # bytes of address space a target may add on top of its imports


@dataclass(frozen=True)
class Outcome:
    """What one call in the worker gave: ``value`` when it returned, else the exception it raised.

    Attributes:
        value: the target's return value (``None`` when it raised).
        error_type: fully qualified name of the exception class (``""`` when it returned).
        error_chain: qualified names of that class and its bases (to test ``isinstance`` remotely).
        message: ``str()`` of the exception.
        trace: the formatted traceback (for the failure report).
    """

    value: Any = None
    error_type: str = ""
    error_chain: tuple[str, ...] = ()
    message: str = ""
    trace: str = ""

    @property
    def raised(self) -> bool:
        return bool(self.error_type)

    def is_error(self, cls: type[BaseException]) -> bool:
        """True when the call raised ``cls`` or a subclass of it."""
        return _qualname(cls) in self.error_chain


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _limit_memory() -> None:
    try:
        import resource

        with open("/proc/self/statm") as fh:
            used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (used + MEMORY_HEADROOM, resource.RLIM_INFINITY))
    except (ImportError, OSError, ValueError):
        pass  # no /proc or no rlimits on this platform: run without the cap


def _serve(conn, preload: tuple[str, ...]) -> None:
    """Worker loop: import ``preload``, cap memory, then receive ``(fn, args)``, run, send an Outcome."""
    import importlib

    for module in preload:
        importlib.import_module(module)
    _limit_memory()
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        fn, args = message
        try:
            outcome = Outcome(value=fn(*args))
        except BaseException as exc:  # everything is reported; the test decides what is allowed
            chain = tuple(_qualname(c) for c in type(exc).__mro__)
            outcome = Outcome(error_type=chain[0], error_chain=chain, message=str(exc),
                              trace="".join(traceback.format_exception(exc)))
        conn.send(outcome)


class Worker:
    """A spawned process that runs one target call at a time with a wall-clock limit.

    Args:
        timeout_s: seconds one call may take before it counts as a hang.
        preload: modules the worker imports before its memory is capped (every heavy library the
            targets use, e.g. ``av``, ``torch``, ``polars``: their mappings are large).
    """

    def __init__(self, timeout_s: float = 30.0, preload: tuple[str, ...] = ()) -> None:
        self.timeout_s = timeout_s
        self.preload = tuple(preload)
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._conn = None

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")  # inherited by the child
        try:
            self._process = self._context.Process(target=_serve, args=(child, self.preload), daemon=True)
            self._process.start()
        finally:
            for key, value in env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        child.close()
        self._conn = parent

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
            self._conn.close()
        self._process = self._conn = None

    def call(self, fn: Callable[..., Any], *args: Any, timeout_s: float | None = None) -> Outcome:
        """Run ``fn(*args)`` in the worker and return its :class:`Outcome`.

        Raises:
            AssertionError: the call did not finish within the limit (a hang), or the worker
                process died (a crash in native code); the worker is replaced for the next call.
        """
        if self._process is None or not self._process.is_alive():
            self._kill()
            self._start()
        limit = self.timeout_s if timeout_s is None else timeout_s
        self._conn.send((fn, args))
        try:
            ready = self._conn.poll(limit)
            if ready:
                return self._conn.recv()
        except (EOFError, ConnectionError):
            self._process.join(5)
            code = self._process.exitcode
            self._kill()
            raise AssertionError(f"worker process died (exit code {code}) in {fn.__name__}{args!r}") from None
        self._kill()
        raise AssertionError(f"hang: {fn.__name__}{args!r} took more than {limit:g} s")

    def close(self) -> None:
        """Stop the worker (it holds no state worth a polite shutdown)."""
        self._kill()
