"""What a dataset plugin hands core: one :class:`VideoRecord` per usable video, and a :class:`DataReport`
that counts every row or file not used (DESIGN §2, §6; issue 14 item 3).

A dataset plugin registers a :class:`~echobench.contract.specs.DatasetSpec` whose reader turns a
folder into a :class:`DatasetRecords`. Core never knows a dataset's layout: it trains, evaluates and
scores on records. Labels are a mapping from a label column (``"EF"``, ``"ESV"``, ``"GLS"``...) to a
value in the dataset's declared units (NaN when absent), so a task can name a column core has never
heard of; subgroup columns (vendor, sex, age band, image quality...) are strings used for strata.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("TRAIN", "VAL", "TEST")
MESSAGES_PER_REASON = 200  # stored message lines per reason; the counters are never capped


@dataclass(frozen=True)
class VideoRecord:
    """One usable video of a dataset (for EchoNet-Dynamic: one FileList row).

    Attributes:
        file_name: the video's id within its dataset (EchoNet: the FileList stem, without ``.avi``).
        path: the frame source actually present (a video file PyAV decodes; a dataset may also point
            at another frame source core can read, e.g. a NIfTI sequence).
        split: ``"TRAIN"``, ``"VAL"`` or ``"TEST"``.
        fps: frames/s (EchoNet: FileList's; the container's only when FileList has none).
        num_frames: frames actually in the file (FileList's NumberOfFrames when not probed).
        frame_height, frame_width: pixels.
        traced_frames: sorted distinct traced frame indices (may be empty).
        ed_frame, es_frame: the end-diastolic and end-systolic frames (EchoNet: the traced frames with
            the largest and the smallest method-of-discs volume, :mod:`echobench.data.discs`, whatever
            their order or number, EchoNet-Dynamic issue #74); None when unknown. Use these, not
            ``traced_frames[0]``/``[-1]``, wherever ED/ES frames are needed.
        labels: label column -> value in the dataset's declared units (EF in %, volumes in mL);
            NaN (or absent) when the row has none.
        subgroups: subgroup column -> value (e.g. ``{"sex": "F", "image_quality": "good"}``).
        dataset: the registered name of the dataset the record came from.
    """

    file_name: str
    path: Path
    split: str
    fps: float
    num_frames: int
    frame_height: int
    frame_width: int
    traced_frames: tuple[int, ...] = ()
    ed_frame: int | None = None
    es_frame: int | None = None
    labels: Mapping[str, float] = field(default_factory=dict, hash=False)
    subgroups: Mapping[str, str] = field(default_factory=dict, hash=False)
    dataset: str = "echonet-dynamic"

    def label(self, column: str) -> float:
        """The value of label ``column`` (NaN when the record has none)."""
        value = self.labels.get(column)
        return math.nan if value is None else float(value)

    @property
    def ef(self) -> float:
        """Ejection fraction in % (NaN when absent)."""
        return self.label("EF")

    @property
    def esv(self) -> float:
        """End-systolic volume in mL (NaN when absent)."""
        return self.label("ESV")

    @property
    def edv(self) -> float:
        """End-diastolic volume in mL (NaN when absent)."""
        return self.label("EDV")


@dataclass
class DataReport:
    """What a dataset reader found: counts by reason, plus one message line per event and the
    names of the first :data:`MESSAGES_PER_REASON` rows or files of each reason (:attr:`names`)."""

    root: Path
    rows: int = 0
    rows_per_split: dict[str, int] = field(default_factory=dict)
    skipped: collections.Counter[str] = field(default_factory=collections.Counter)
    notes: collections.Counter[str] = field(default_factory=collections.Counter)
    messages: list[str] = field(default_factory=list)
    missing_videos: list[str] = field(default_factory=list)
    entries_skipped: collections.Counter[str] = field(default_factory=collections.Counter)
    unlisted_videos: list[str] = field(default_factory=list)
    tracings_for_unlisted: int = 0
    traced_frames_hist: dict[int, int] = field(default_factory=dict)
    label_ranges: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)  # per reason, the first names (as messages)

    def usable(self) -> int:
        """Number of rows kept (summed over splits)."""
        return sum(self.rows_per_split.values())

    def _log(self, counter: collections.Counter[str], kind: str, reason: str, name: str, detail: str) -> None:
        counter[reason] += 1
        if counter[reason] <= MESSAGES_PER_REASON:
            self.names.setdefault(reason, []).append(name)
            message = f"{kind}: {name}: {reason}" + (f": {detail}" if detail else "")
            # names and cells come from the CSVs: escape control characters (CR, NUL...) so one
            # event stays one line
            self.messages.append("".join(c if c.isprintable() else repr(c)[1:-1] for c in message))
        elif counter[reason] == MESSAGES_PER_REASON + 1:
            self.messages.append(f"{kind}: ...: further '{reason}' messages not stored (see the count)")

    def skip(self, reason: str, name: str, detail: str) -> None:
        """Count a row not used under ``reason`` and store a message naming ``name``."""
        self._log(self.skipped, "skipped", reason, name, detail)

    def skip_entry(self, reason: str, name: str, detail: str) -> None:
        """Count a ``Videos/`` entry that cannot be used (a FIFO, a symlink loop...) under ``reason``."""
        self._log(self.entries_skipped, "skipped file", reason, name, detail)

    def note(self, reason: str, name: str, detail: str) -> None:
        """Count a row used but adjusted/odd under ``reason`` and store a message naming ``name``."""
        self._log(self.notes, "note", reason, name, detail)

    def summarise(self, records: list[VideoRecord], labels: tuple[str, ...]) -> None:
        """Fill :attr:`rows_per_split`, :attr:`traced_frames_hist` and :attr:`label_ranges` (min, mean,
        max of each of ``labels`` over the finite values) from the usable ``records``."""
        self.rows_per_split = {s: sum(r.split == s for r in records) for s in SPLITS}
        self.traced_frames_hist = dict(sorted(collections.Counter(len(r.traced_frames) for r in records).items()))
        for label in labels:
            values = [v for v in (r.label(label) for r in records) if math.isfinite(v)]
            if values:
                self.label_ranges[label] = (min(values), sum(values) / len(values), max(values))

    def skip_counts(self) -> str:
        """The skip counts as one phrase, most common first (``"3 video missing, 1 EF missing"``), for a
        reader's "no usable rows" error; ``"none"`` without skips."""
        return ", ".join(f"{n} {r}" for r, n in self.skipped.most_common()) or "none"


@dataclass
class DatasetRecords:
    """Usable records of a dataset folder and the report of how they were read (what a dataset
    plugin's reader returns)."""

    root: Path
    records: list[VideoRecord]
    report: DataReport

    def split(self, name: str) -> list[VideoRecord]:
        """Records of one split (``"train"``/``"TRAIN"``...). Raises ValueError for another name."""
        key = name.upper()
        if key not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return [r for r in self.records if r.split == key]


EchoNetData = DatasetRecords  # the name this type had when EchoNet-Dynamic was the only layout
