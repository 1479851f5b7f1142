"""A tiny hand-made EchoNet-Dynamic-format directory for reader tests (no synthetic generator).

``make_echonet(n=6)`` writes FileList.csv (FileName without ``.avi``, as in the official release),
VolumeTracings.csv (FileName with ``.avi``, two traced frames of 4 chords each) and ``n`` random
112x112 AVIs of 40 frames at 50 fps. Tests edit ``d.rows`` / ``d.tracings`` and call ``d.write()``;
``d.names[i]`` is row i's stem.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from echobench.data.video import write_avi

SPLITS = ["TRAIN", "TRAIN", "TRAIN", "VAL", "VAL", "TEST", "TRAIN", "TEST"]  # 6 rows: 3 / 2 / 1
FRAMES, FPS = 40, 50.0
TRACED = (5, 20)


def stem(i: int) -> str:
    return f"0XTEST{i:04d}"


@dataclass
class EchoNetDir:
    root: Path
    rows: list[dict[str, str]]
    tracings: list[dict[str, str]]
    index_column: bool = False
    header: list[str] = field(default_factory=list)
    frames: int = FRAMES

    @property
    def names(self) -> list[str]:
        """Stems of the rows as first written (``0XTEST0000``...)."""
        return [stem(i) for i in range(len(self.rows))]

    @staticmethod
    def tracing_rows(name: str, frames=TRACED) -> list[dict[str, str]]:
        return tracing_rows(name, frames)

    @property
    def filelist(self) -> Path:
        return self.root / "FileList.csv"

    def video(self, name: str) -> Path:
        return self.root / "Videos" / f"{name}.avi"

    def write(self) -> EchoNetDir:
        """(Re)write both CSVs from ``rows`` and ``tracings``."""
        header = self.header or list(self.rows[0])
        with self.filelist.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(([""] if self.index_column else []) + header)
            for k, row in enumerate(self.rows):
                writer.writerow(([str(k)] if self.index_column else []) + [row.get(h, "") for h in header])
        with (self.root / "VolumeTracings.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["FileName", "X1", "Y1", "X2", "Y2", "Frame"])
            writer.writeheader()
            writer.writerows(self.tracings)
        return self


def tracing_rows(name: str, frames=TRACED) -> list[dict[str, str]]:
    """Long axis plus three disc chords per frame; each later frame's chords are shorter (the first
    frame has the largest method-of-discs volume: ED; the last the smallest: ES)."""
    rows = []
    for j, frame in enumerate(frames):
        for k in range(4):  # the long axis, then three disc chords
            shrink = 2 * j if k else 0
            rows.append({"FileName": name, "X1": f"{40 + k + shrink}", "Y1": f"{20 + 10 * k}",
                         "X2": f"{70 - k - shrink}", "Y2": f"{22 + 10 * k}", "Frame": str(frame)})
    return rows


@pytest.fixture(scope="session")
def _template_videos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("echonet_videos")
    rng = np.random.default_rng(0)
    for i in range(len(SPLITS)):
        write_avi(folder / f"{stem(i)}.avi", rng.integers(0, 256, (FRAMES, 112, 112), dtype=np.uint8), FPS)
    return folder


@pytest.fixture
def make_echonet(tmp_path, _template_videos):
    """Factory: ``make_echonet(n=6)`` -> :class:`EchoNetDir` already written under ``tmp_path``."""

    def make(n: int = 6) -> EchoNetDir:
        root = tmp_path / "echonet"
        (root / "Videos").mkdir(parents=True)
        rows, tracings = [], []
        for i in range(n):
            name = stem(i)
            shutil.copyfile(_template_videos / f"{name}.avi", root / "Videos" / f"{name}.avi")
            edv = 100.0 + 5 * i
            ef = 40.0 + 4 * i
            rows.append({"FileName": name, "EF": f"{ef:.2f}", "ESV": f"{edv * (1 - ef / 100):.2f}",
                         "EDV": f"{edv:.2f}", "FrameHeight": "112", "FrameWidth": "112", "FPS": "50",
                         "NumberOfFrames": str(FRAMES), "Split": SPLITS[i]})
            tracings += tracing_rows(f"{name}.avi")
        return EchoNetDir(root, rows, tracings).write()

    return make
