"""``echobench prepare dicom``: a folder of echo DICOMs -> square clips + a manifest, resumably.

Walks SRC (a MIMIC-IV-ECHO tree ``files/pNN/pNNNNNNNN/sNNNNNNNN/NNNNNNNN_NNNN.dcm`` or any folder: every
regular file counts as an input, hidden files and folders and OUT itself excepted), reads each file
with :func:`echobench.data.dicom.read_dicom_cine` (pydicom decoder plugins; YBR -> RGB, palette LUTs),
crops it to the ultrasound region (header region, else the sector estimate), masks burnt-in text
outside the scan sector (``burned_in``, :func:`echobench.data.dicom.framing`), resamples it in time to
``fps`` and resizes it to ``size`` x ``size`` (:func:`echobench.data.dicom.cine_to_clip`), and writes

- ``OUT/clips/<source path relative to SRC, .dcm replaced by .avi>`` (MJPEG via
  :func:`echobench.data.video.write_avi`; other names get ``.avi`` appended);
- ``OUT/manifest.parquet``: one row per input file, schema :data:`MANIFEST_SCHEMA`;
- ``OUT/prepare.json``: settings and counts by status and reason.

Status: ``ok`` (clip written), ``skipped`` (deliberately not converted: not DICOM, no pixel data, a
still, not ultrasound), ``failed`` (could not be read or decoded). A non-ok row has ``clip`` null,
``frames`` 0 and ``fps`` null; ``reason`` says why (null for ok). A loop without frame timing keeps
its frames one for one and is written at ``fps`` with ``source_fps`` null.

Crash safety: each finished file's row is written at once, atomically, as a small JSON part under
``OUT/.prepare/parts/`` named by a hash of its source path (so a file has at most one part); the parts
are merged into ``manifest.parquet`` (atomically) at the end of a run, then deleted. A rerun -- after
a finished run, an error or a SIGKILL -- reads the manifest and the parts, skips every file already
recorded (an ``ok`` row whose clip is gone is redone; ``failed`` rows only with ``retry_failed``) and
ends with each input exactly once. Clips are written under ``OUT/.prepare/tmp`` and renamed into
place, so nothing under ``OUT/clips`` is ever half-written. A rerun must use the same settings.

Sharding: with a :class:`Shard` ``K/N`` only the inputs whose path hashes to piece K are converted
(the OUT of each piece is an ordinary, resumable prepare output of those rows);
:func:`echobench.data.prepare_merge.merge_prepared` joins the N pieces into what one unsharded run
writes.

No header value reaches the outputs: rows hold relative paths, numbers and the header-free
``DicomError.reason``. Workers are separate processes (``spawn``), so a decoder crash costs only the
file that caused it (it is retried alone and then recorded as failed); they die with the parent
(:func:`die_with_parent`), so a SIGKILLed run leaves no worker writing clips.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from echobench.atomic import atomic_write_parquet, atomic_write_text
from echobench.data.dicom import BURNED_IN, CROPS, DicomError, cine_to_clip, framing, read_dicom_cine
from echobench.data.manifest import MANIFEST, MANIFEST_SCHEMA, manifest_frame, read_manifest
from echobench.errors import ConfigError, DataError
from echobench.progress import ProgressFactory as Progress  # the one progress type (was defined here)

STATE = ".prepare"  # OUT/.prepare: settings.json, lock, parts/, tmp/
SUMMARY = "prepare.json"
STATUSES = ("ok", "skipped", "failed")
FORMAT = 3  # bump when the clip or manifest layout changes (2: fan mask, region/mask/notes columns;
# 3: the decode setting, JPEG frames decoded at reduced size and uint8 resizing by default)
DECODES = ("fast", "exact")



@dataclass(frozen=True)
class PrepareSettings:
    """What every clip of one OUT folder shares (a rerun must use the same).

    Attributes:
        fps: output frame rate, frames/s (> 0).
        size: output height = width, pixels (>= 8).
        min_frames: fewest source frames kept (>= 1); fewer is ``skipped``.
        crop: ``"region"`` (ultrasound region, else sector estimate) or ``"none"`` (whole frame).
        modality: only files of this DICOM Modality are converted; others are ``skipped``.
        burned_in: ``"mask"`` (zero every pixel outside the scan sector, estimated from the loop's
            pixels), ``"skip"`` (files flagged BurnedInAnnotation YES are ``skipped``; the rest are
            masked), ``"keep"`` (no mask). See :func:`echobench.data.dicom.framing`.
        decode: ``"fast"`` (JPEG frames decoded at 1/2 or 1/4 size when the clip is that much
            smaller than the ultrasound region, ``reduce_to`` of
            :func:`echobench.data.dicom.read_dicom_cine`, and resized in uint8, ``fast`` of
            :func:`echobench.data.dicom.square_resize`; within the bounds tested in
            tests/data/test_dicom_jpeg.py) or ``"exact"`` (full-size decode, float32 resize: the clips of
            format 2).
    """

    fps: float = 30.0
    size: int = 224
    min_frames: int = 2
    crop: str = "region"
    modality: str = "US"
    burned_in: str = "mask"
    decode: str = "fast"

    def __post_init__(self) -> None:
        if not (isinstance(self.fps, (int, float)) and 0 < self.fps <= 1000):
            raise ConfigError(f"--fps must be a frame rate in (0, 1000] frames/s, got {self.fps}")
        if not 8 <= self.size <= 4096:
            raise ConfigError(f"--size must be between 8 and 4096 pixels, got {self.size}")
        if self.min_frames < 1:
            raise ConfigError(f"--min-frames must be >= 1, got {self.min_frames}")
        if self.crop not in CROPS:
            raise ConfigError(f"--crop must be one of {', '.join(CROPS)}, got {self.crop!r}")
        if self.burned_in not in BURNED_IN:
            raise ConfigError(f"--burned-in must be one of {', '.join(BURNED_IN)}, got {self.burned_in!r}")
        if self.decode not in DECODES:
            raise ConfigError(f"--decode must be one of {', '.join(DECODES)}, got {self.decode!r}")


@dataclass(frozen=True)
class Shard:
    """Piece ``index`` of ``count`` (``K/N``, 0 <= K < N) of a deterministic partition of the inputs:
    a file belongs to the piece ``sha1(path relative to SRC) mod N`` (:meth:`owns`), so N runs on N
    machines (a SLURM array, any scheduler) convert every file exactly once, whatever order they run
    in, and adding files never moves the others."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (isinstance(self.count, int) and isinstance(self.index, int) and 0 <= self.index < self.count):
            raise ConfigError(f"--shard must be K/N with 0 <= K < N, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"K/N"`` -> Shard. Raises ConfigError for anything else."""
        try:
            index, count = (int(part) for part in text.strip().split("/"))
        except ValueError:
            raise ConfigError(f"--shard must be K/N (e.g. 0/4), got {text!r}") from None
        return cls(index, count)

    def owns(self, rel: str) -> bool:
        digest = hashlib.sha1(rel.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class PrepareSummary:
    """What :func:`prepare_dicom` did.

    Attributes:
        inputs: files under SRC (= manifest rows).
        processed: files read (and converted or rejected) by this run.
        reused: rows carried over from earlier runs.
        counts: status -> rows.
        reasons: status -> reason -> rows (skipped and failed only).
        without_timing: ``ok`` rows whose source had no frame timing (kept frame for frame).
        dropped: rows of earlier runs whose source file is no longer under SRC (removed).
        manifest: path of ``manifest.parquet``.
        settings: the settings used.
        shard: the piece of the inputs this OUT holds (None: all of them).
    """

    inputs: int
    processed: int
    reused: int
    counts: dict[str, int]
    reasons: dict[str, dict[str, int]]
    without_timing: int
    dropped: int
    manifest: Path
    settings: PrepareSettings = field(default_factory=PrepareSettings)
    shard: Shard | None = None


@dataclass(frozen=True)
class _Job:
    """One input file for a worker (picklable)."""

    source: Path  # absolute
    rel: str  # relative to SRC, POSIX
    clip: str  # relative to OUT
    out: Path
    settings: PrepareSettings


# --- one file --------------------------------------------------------------------------------------


def convert_file(source: str | os.PathLike, clip: str | os.PathLike, settings: PrepareSettings, *,
                 tmp_dir: str | os.PathLike | None = None) -> dict:
    """Convert one DICOM cine loop to a clip at ``clip`` (MJPEG AVI, written atomically).

    Returns the manifest fields ``frames, fps, source_frames, source_fps, height, width, region,
    mask, mask_kept, notes`` (output ``(frames, size, size, 3)`` at ``fps`` frames/s; source frames and
    header frames/s; where the crop box came from and the burnt-in-text mask, see
    :func:`echobench.data.dicom.framing`).

    Raises:
        DicomError: (a ``DataError``) the file is not converted; ``.reason`` and ``.skip`` say why.
        OSError: the clip cannot be written (a problem of OUT, not of the file).
    """
    from echobench.data.video import write_avi

    fast = settings.decode == "fast"
    cine = read_dicom_cine(source, min_frames=settings.min_frames, modality=settings.modality,
                           refuse_burned_in=settings.burned_in == "skip", reduce_to=settings.size if fast else None,
                           crop=settings.crop)
    chosen = framing(cine, crop=settings.crop, burned_in=settings.burned_in)
    if chosen.mask is None and settings.burned_in != "keep" and cine.burned_in == "YES":
        raise DicomError(str(source), "burnt-in annotation and no scan sector found to mask", skip=True)
    frames = cine_to_clip(cine, size=settings.size, fps=settings.fps, chosen=chosen, fast=fast)
    if tmp_dir is not None:
        Path(tmp_dir).mkdir(parents=True, exist_ok=True)
    write_avi(clip, frames, settings.fps, tmp_dir=tmp_dir)  # atomic: temporary file, fsync, rename
    return {"frames": len(frames), "fps": float(settings.fps), "source_frames": len(cine.frames),
            "source_fps": cine.fps, "height": settings.size, "width": settings.size,
            "region": chosen.box_source, "mask": chosen.mask_source, "mask_kept": round(chosen.kept_fraction, 4),
            "notes": "; ".join(chosen.notes) or None}


def _row(source: str, status: str, reason: str | None = None, **fields) -> dict:
    row = dict.fromkeys(MANIFEST_SCHEMA)
    row.update(source=source, status=status, reason=reason, frames=0)
    row.update(fields)
    return row


def _run_job(job: _Job) -> dict:
    """A worker's task: convert one file and return its manifest row. Problems of the file become
    the row's status and reason; an OSError (writing OUT) propagates and stops the batch."""
    if _THREADS:
        import torch

        torch.set_num_threads(_THREADS.pop())
    try:
        fields = convert_file(job.source, job.out / job.clip, job.settings, tmp_dir=job.out / STATE / "tmp")
    except DicomError as exc:
        return _row(job.rel, "skipped" if exc.skip else "failed", exc.reason)
    except DataError as exc:
        return _row(job.rel, "failed", f"unreadable ({type(exc).__name__})")
    except OSError:
        raise
    except Exception as exc:  # a bug: record it (type only: a message might quote a header value)
        return _row(job.rel, "failed", f"internal error ({type(exc).__name__})")
    return _row(job.rel, "ok", clip=job.clip, **fields)


_THREADS: list[int] = []  # torch threads for this worker process (set by _init_worker)


def _init_worker(threads: int, parent: int | None = None) -> None:
    """Worker start-up: CPUs are shared by the workers (torch is imported by the first conversion),
    and the worker dies with ``parent`` (:func:`die_with_parent`)."""
    _THREADS[:] = [threads]
    if parent is not None:
        die_with_parent(parent)


def die_with_parent(parent: int, *, interval: float = 0.5) -> None:
    """End this process when process ``parent`` ends, also by SIGKILL (when nothing can clean up).

    On Linux the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``, set through
    ctypes; the pool's processes are started by the parent's main thread, whose end is the process's
    end). Everywhere, a daemon thread checks every ``interval`` s that the parent is still this
    process's parent (``os.getppid()``: an orphan is re-parented) and calls ``os._exit`` otherwise.
    Call it in the child, with the parent's pid taken before the child started.
    """
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG (linux/prctl.h)
        except (OSError, AttributeError):  # no libc prctl: the watchdog below still works
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


# --- the batch -------------------------------------------------------------------------------------


def find_inputs(src: Path, out: Path) -> list[str]:
    """Every regular file under ``src`` as a sorted POSIX path relative to it, skipping hidden files
    and folders (name starting with ``.``), folder links, and ``out`` when it lies inside ``src``."""
    src, skip = src.resolve(), out.resolve()
    found = []
    for folder, dirs, files in os.walk(src):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip]
        found += [(here / f).relative_to(src).as_posix() for f in files
                  if not f.startswith(".") and (here / f).is_file()]
    return sorted(found)


def clip_name(rel: str) -> str:
    """``OUT``-relative clip path of a source: ``clips/<rel>`` with a final ``.dcm`` (any case) replaced
    by ``.avi``, else ``.avi`` appended (``1.2.840.5`` -> ``1.2.840.5.avi``)."""
    stem = rel[:-4] if rel.lower().endswith(".dcm") else rel
    return f"clips/{stem}.avi"


def _part_path(out: Path, rel: str) -> Path:
    digest = hashlib.sha1(rel.encode("utf-8", "surrogateescape")).hexdigest()
    return out / STATE / "parts" / digest[:2] / f"{digest}.json"


def _read_parts(out: Path) -> dict[str, dict]:
    rows = {}
    for path in sorted((out / STATE / "parts").glob("*/*.json")):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
            rows[row["source"]] = {key: row.get(key) for key in MANIFEST_SCHEMA}
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # cannot happen with atomic writes; the file is redone
    return rows


def _read_manifest(out: Path) -> dict[str, dict]:
    path = out / MANIFEST
    if not path.is_file():
        return {}
    frame = read_manifest(path, hint="delete it to convert everything again")
    if set(frame.columns) != set(MANIFEST_SCHEMA):
        raise DataError(f"{path}: not an echobench prepare manifest (columns {', '.join(frame.columns)})")
    return {row["source"]: row for row in frame.iter_rows(named=True)}


def _check_settings(out: Path, settings: PrepareSettings, shard: Shard | None = None) -> None:
    """Refuse to mix clips made with other settings (or another shard) into one OUT; record these."""
    mine = {"format": FORMAT, **asdict(settings), **({"shard": str(shard)} if shard else {})}
    for path in (out / STATE / "settings.json", out / SUMMARY):
        try:
            earlier = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: unreadable ({type(exc).__name__}); delete OUT to start over") from exc
        earlier = earlier.get("settings", earlier)
        differ = [key for key in {**mine, **earlier} if earlier.get(key) != mine.get(key)]
        if differ:
            was = ", ".join(f"{key} {earlier.get(key)}" for key in differ)
            now = ", ".join(f"{key} {mine.get(key)}" for key in differ)
            raise ConfigError(f"{out}: was prepared with {was}, this run asks for {now} "
                              "(use the same settings, or another OUT)")
        break
    atomic_write_text(out / STATE / "settings.json", json.dumps(mine, indent=1) + "\n")


def _lock(out: Path):
    """An exclusive lock on OUT for this run (POSIX); returns the open lock file, or None."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        return None
    handle = open(out / STATE / "lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise DataError(f"{out}: another echobench prepare is writing to this folder") from None
    return handle


def _sweep(out: Path) -> None:
    """Delete the temporary files a killed run may have left (only ever ours: hidden ``*.tmp`` names
    of the atomic writes, and everything in ``OUT/.prepare/tmp``)."""
    stale = [*(out / STATE / "tmp").iterdir(), *(out / STATE / "parts").glob("*/.*.tmp"),
             *(out / STATE).glob(".settings.json.*.tmp"), *out.glob(f".{MANIFEST}.*.tmp"),
             *out.glob(f".{SUMMARY}.*.tmp")]
    for path in stale:
        path.unlink(missing_ok=True)


def _cpus() -> int:
    from echobench.engine.devices import available_cores

    return available_cores()


WORKER_MEMORY = 1 << 30
"""Memory to plan per ``prepare`` worker (bytes): a 120-frame 480x640 loop peaks at ~625 MiB."""


_MEMORY_FILES = (("/proc/meminfo", "MemAvailable:"), ("/sys/fs/cgroup/memory.max", None),
                 ("/sys/fs/cgroup/memory/memory.limit_in_bytes", None))


def _memory() -> int | None:
    """Bytes this process may use: the smallest of the memory available now (``MemAvailable``), the
    cgroup limit (v2 ``memory.max`` or v1 ``memory.limit_in_bytes``: containers, SLURM jobs) and the
    physical memory; None when none can be read."""
    found: list[int] = []
    for path, key in _MEMORY_FILES:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        if key is not None:
            line = next((x for x in text.splitlines() if x.startswith(key)), "")
            value = line.split()[1] if len(line.split()) > 1 else ""
            if value.isdigit():
                found.append(int(value) * 1024)  # kB
        elif text.strip().isdigit():  # "max" (no limit) is skipped
            found.append(int(text.strip()))
    try:
        found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        pass
    return min(found) if found else None


def default_workers() -> int:
    """One worker per CPU available to this process (issue 15 item 5: a 64-core box runs 64, not 4),
    fewer when the memory it may use (:func:`_memory`: available now, cgroup limit) holds fewer than
    that many :data:`WORKER_MEMORY` workers."""
    memory = _memory()
    by_memory = max(1, memory // WORKER_MEMORY) if memory else _cpus()
    return max(1, min(_cpus(), by_memory))


def _run_pool(jobs: list, workers: int, record: Callable[[dict], None], *,
              task: Callable = _run_job, crashed: Callable[[object], dict] | None = None) -> None:
    """Run ``task(job)`` for every job in ``workers`` spawned processes, ``record``-ing each result as
    it finishes (at most ``2 * workers`` jobs in flight). When a worker dies (a decoder crash, the
    out-of-memory killer), each job that was in flight is retried alone in a fresh process; one that
    kills it again is recorded as ``crashed(job)``. An exception raised by ``task`` stops the batch."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")
    cpus = _cpus()
    crashed = crashed or (lambda job: _row(job.rel, "failed", "worker process died (decoder crash or out of memory)"))

    def pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(n, mp_context=context, initializer=_init_worker,
                                   initargs=(max(1, cpus // n), os.getpid()))

    queue = deque(jobs)
    while queue:
        broken = []
        with pool(workers) as executor:
            inflight: dict = {}
            try:
                while queue or inflight:
                    while queue and len(inflight) < 2 * workers:
                        job = queue.popleft()
                        inflight[executor.submit(task, job)] = job
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for future in done:
                        job = inflight.pop(future)
                        try:
                            record(future.result())
                        except BrokenProcessPool:
                            broken.append(job)
                    if broken:
                        broken += inflight.values()
                        break
            except BaseException:
                executor.shutdown(wait=False, cancel_futures=True)
                raise
        for job in broken:  # which one killed the worker? each alone
            with pool(1) as solo:
                try:
                    record(solo.submit(task, job).result())
                except BrokenProcessPool:
                    record(crashed(job))


def prepare_dicom(
    src: str | os.PathLike,
    out: str | os.PathLike,
    settings: PrepareSettings | None = None,
    *,
    workers: int | None = None,
    retry_failed: bool = False,
    progress: Progress | None = None,
    shard: Shard | None = None,
) -> PrepareSummary:
    """Convert every DICOM cine loop under ``src`` to a clip under ``out`` (see the module docstring).

    Args:
        src: folder to walk (e.g. MIMIC-IV-ECHO's ``files/``).
        out: output folder (created); may hold an earlier run's output, which is resumed.
        settings: output rate, size, minimum frames, crop (defaults: 30 frames/s, 224 px, 2, region).
        workers: worker processes (default :func:`default_workers`); 0 runs in this process.
        retry_failed: read again the files an earlier run recorded as ``failed``.
        progress: ``make(description, total) -> advance(n)``, e.g. ``echobench.cli.common.progress_factory``.
        shard: convert only this piece of the inputs (:class:`Shard`); OUT then holds that piece's
            rows, and :func:`merge_prepared` joins the N pieces' OUT folders into one.

    Returns:
        :class:`PrepareSummary`.

    Raises:
        DataError: SRC is not a folder or holds no files; OUT is a file, is SRC, is in use by another
            run, or holds an unreadable manifest.
        ConfigError: bad settings, or OUT was prepared with other settings.
        OSError: OUT cannot be written (the files finished so far stay recorded for a rerun).
    """
    settings = settings or PrepareSettings()
    src, out = Path(src), Path(out)
    workers = default_workers() if workers is None else workers
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    if not src.is_dir():
        raise DataError(f"{src}: source folder not found" if not src.exists() else f"{src}: not a folder")
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: output exists and is not a folder")
    if out.exists() and out.resolve() == src.resolve():
        raise DataError(f"{out}: the output folder must differ from the source folder")
    inputs = find_inputs(src, out)
    if not inputs:
        raise DataError(f"{src}: no files found (hidden files and folders are ignored)")

    (out / STATE / "tmp").mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    try:
        _check_settings(out, settings, shard)
        _sweep(out)
        return _prepare(src, out, inputs, settings, workers, retry_failed, progress, shard)
    finally:
        if lock is not None:
            lock.close()


def _plan(inputs: list[str]) -> tuple[dict[str, str], dict[str, dict]]:
    """Clip paths per source, and the rows decided without reading (undecodable names, clashes)."""
    clips, decided, owner = {}, {}, {}
    for rel in sorted(inputs, key=lambda r: not r.lower().endswith(".dcm")):  # .dcm names first
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            decided[rel] = _row(rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"),
                                "skipped", "file name is not valid UTF-8")
            continue
        clip = clip_name(rel)
        if clip in owner:
            decided[rel] = _row(rel, "skipped", "clip name taken by another input (same name with .dcm)")
            continue
        owner[clip], clips[rel] = rel, clip
    return clips, decided


def _prepare(src, out, inputs, settings, workers, retry_failed, progress, shard) -> PrepareSummary:
    clips, decided = _plan(inputs)  # over every input, so clashes are decided alike in every shard
    if shard is not None:
        inputs = [rel for rel in inputs if shard.owns(rel)]
        clips = {rel: clip for rel, clip in clips.items() if shard.owns(rel)}
        decided = {rel: row for rel, row in decided.items() if shard.owns(rel)}
    wanted = set(inputs) | {row["source"] for row in decided.values()}
    recorded = {**_read_manifest(out), **_read_parts(out)}
    dropped = sum(1 for rel in recorded if rel not in wanted)

    def done(rel: str) -> bool:
        row = recorded.get(rel)
        if row is None or (row["status"] == "failed" and retry_failed):
            return False
        return row["status"] != "ok" or (row["clip"] == clips.get(rel) and (out / row["clip"]).is_file())

    todo = [rel for rel in inputs if rel in clips and not done(rel)]
    reused = sum(1 for rel in inputs if rel in clips and rel not in todo)
    advance = progress("convert DICOM", len(todo)) if progress and todo else None

    def record(row: dict) -> None:
        part = _part_path(out, row["source"])
        part.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(part, json.dumps(row) + "\n")
        recorded[row["source"]] = row
        if advance:
            advance(1)

    jobs = [_Job(src.resolve() / rel, rel, clips[rel], out.resolve(), settings) for rel in todo]
    if workers == 0:
        for job in jobs:
            record(_run_job(job))
    else:
        _run_pool(jobs, min(workers, max(1, len(jobs))), record)
    for row in decided.values():
        recorded[row["source"]] = row
    return _finish(out, inputs, decided, recorded, settings, processed=len(todo), reused=reused, dropped=dropped,
                   shard=shard)


def _finish(out, inputs, decided, recorded, settings, *, processed, reused, dropped, shard) -> PrepareSummary:
    """Merge the parts into ``manifest.parquet`` and write ``prepare.json`` (both atomically), then
    delete the parts."""
    sources = sorted({decided[rel]["source"] if rel in decided else rel for rel in inputs})
    missing = [rel for rel in sources if rel not in recorded]
    if missing:  # every job records a row or raises: this is a bug, never a silent gap
        raise RuntimeError(f"{len(missing)} input(s) have no manifest row, e.g. {missing[0]}")
    summary = _write_outputs(out, [recorded[rel] for rel in sources], settings, processed=processed,
                             reused=reused, dropped=dropped, shard=shard)
    parts = out / STATE / "parts"
    for path in parts.glob("*/*.json"):
        path.unlink(missing_ok=True)
    for shard_dir in parts.glob("*"):
        try:
            shard_dir.rmdir()
        except OSError:
            pass
    return summary


def _write_outputs(out: Path, rows: list[dict], settings: PrepareSettings, *, processed: int, reused: int,
                   dropped: int, shard: Shard | None) -> PrepareSummary:
    """Write ``manifest.parquet`` (rows sorted by source) and ``prepare.json``, both atomically."""
    rows = sorted(rows, key=lambda row: row["source"])
    atomic_write_parquet(manifest_frame(rows), out / MANIFEST)

    counts = Counter(row["status"] for row in rows)
    reasons: dict[str, Counter] = {status: Counter() for status in STATUSES if status != "ok"}
    for row in rows:
        if row["status"] != "ok":
            reasons[row["status"]][row["reason"]] += 1
    summary = PrepareSummary(
        inputs=len(rows), processed=processed, reused=reused,
        counts={status: counts.get(status, 0) for status in STATUSES},
        reasons={status: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for status, c in reasons.items()},
        without_timing=sum(1 for row in rows if row["status"] == "ok" and row["source_fps"] is None),
        dropped=dropped, manifest=out / MANIFEST, settings=settings, shard=shard,
    )
    recorded_settings = {"format": FORMAT, **asdict(settings), **({"shard": str(shard)} if shard else {})}
    record = {"format": FORMAT, "settings": recorded_settings, "inputs": summary.inputs,
              "counts": summary.counts, "reasons": summary.reasons, "processed_this_run": processed,
              "reused": reused, "without_frame_timing": summary.without_timing, "dropped_rows": dropped,
              "manifest": MANIFEST, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_text(out / SUMMARY, json.dumps(record, indent=1) + "\n")
    return summary
