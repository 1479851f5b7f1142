"""CAMUS reader: its synthetic copy, a hand-written folder in the 2023 NIfTI layout, the bad-input
battery (every skip counted with its reason, one line per event), masks, and `data check`."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel
import numpy as np
import pytest

from echobench.data.video import read_video
from echobench.errors import DataError
from tests.helpers import one_line_data_error
from echobench_datasets import CAMUS_SPLIT_RULE
from echobench_datasets.camus import SPLIT_RULE, _hashed_split, camus_masks, read_camus, synthesize_camus

T, H, W = 6, 24, 32  # half sequences of the hand-written folder: non-square frames


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return synthesize_camus(tmp_path_factory.mktemp("camus") / "CAMUS_public", videos=4, seed=2)


def test_synthetic_copy_reads_with_labels_subgroups_frames_and_masks(synthetic):
    data = read_camus(synthetic)
    report = data.report
    assert report.rows == 8 and not report.skipped and not report.notes
    assert report.rows_per_split == {"TRAIN": 4, "VAL": 2, "TEST": 2}
    by_patient = {}
    for r in data.records:
        by_patient.setdefault(r.file_name.split("_")[0], set()).add(r.split)
        assert r.dataset == "camus" and 30 <= r.fps <= 60  # the header's time step (synth's frame rates)
        assert r.ed_frame == 0 and r.es_frame == r.num_frames - 1 and r.traced_frames == (0, r.num_frames - 1)
        assert abs(r.ef - 100 * (r.edv - r.esv) / r.edv) < 0.1
        assert set(r.subgroups) == {"sex", "age_band", "image_quality", "view"}
        assert read_video(r.path).shape == (r.num_frames, 112, 112, 3)
        masks = camus_masks(r)
        assert masks[r.ed_frame].sum() > masks[r.es_frame].sum() > 50
    assert all(len(splits) == 1 for splits in by_patient.values())  # both views of a patient in one split
    assert {r.subgroups["view"] for r in data.records} == {"A2C", "A4C"}
    assert SPLIT_RULE == CAMUS_SPLIT_RULE


def save(path: Path, frames_thw: np.ndarray) -> None:
    """NIfTI as released: voxel axes (x, y[, t])."""
    data = np.asarray(frames_thw, np.uint8)
    data = data.T if data.ndim == 2 else data.transpose(2, 1, 0)
    nibabel.save(nibabel.Nifti1Image(np.ascontiguousarray(data), np.eye(4)), str(path))


def cfg(ed=1, es=T, nb=T, ef="55.0", esv="45.0", edv="100.0", quality="Good", extra=()) -> str:
    lines = [f"ED: {ed}", f"ES: {es}", f"NbFrame: {nb}", "Sex: M", "Age: 67", f"ImageQuality: {quality}",
             f"LVedv: {edv}", f"LVesv: {esv}", f"LVef: {ef}", *extra]
    return "\n".join(lines) + "\n"


def make_patient(folder: Path, name: str, *, gt_scale: int = 1) -> None:
    """One patient with both views; LV label 1 on rows 4-11, columns 8-19 at ED (smaller at ES)."""
    patient = folder / name
    patient.mkdir(parents=True)
    rng = np.random.default_rng(len(name))
    for view in ("2CH", "4CH"):
        stem = patient / f"{name}_{view}"
        seq = rng.integers(0, 255, (T, H, W), np.uint8)
        save(Path(f"{stem}_half_sequence.nii.gz"), seq)
        for phase, box in (("ED", (4, 12, 8, 20)), ("ES", (6, 10, 10, 18))):
            labels = np.zeros((H, W), np.uint8)
            labels[box[0]:box[1], box[2]:box[3]] = 1
            labels[box[0] - 2:box[0], box[2]:box[3]] = 2  # myocardium
            labels[box[1]:box[1] + 3, box[2]:box[3]] = 3  # left atrium
            save(Path(f"{stem}_{phase}.nii.gz"), seq[0 if phase == "ED" else -1])
            save(Path(f"{stem}_{phase}_gt.nii.gz"), np.kron(labels, np.ones((gt_scale, gt_scale), np.uint8)))
        (patient / f"Info_{view}.cfg").write_text(cfg())


@pytest.fixture
def camus(tmp_path) -> Path:
    """``CAMUS_public/`` with 5 patients and the official lists (3 training, 1 validation, 1 testing)."""
    root = tmp_path / "CAMUS_public"
    for i in range(1, 6):
        make_patient(root / "database_nifti", f"patient{i:04d}", gt_scale=2 if i == 5 else 1)
    (root / "database_split").mkdir()
    for name, ids in (("training", (1, 2, 3)), ("validation", (4,)), ("testing", (5,))):
        (root / "database_split" / f"subgroup_{name}.txt").write_text("".join(f"patient{i:04d}\n" for i in ids))
    return root


def only_message(report, name: str, *words: str) -> str:
    found = [m for m in report.messages if name in m and all(w in m for w in words)]
    assert len(found) == 1, report.messages
    assert "\n" not in found[0]
    return found[0]


def test_hand_written_folder_in_the_release_layout(camus):
    data = read_camus(camus)
    report = data.report
    assert report.rows == 10 and not report.skipped
    assert report.rows_per_split == {"TRAIN": 6, "VAL": 2, "TEST": 2}
    r = data.records[0]
    assert (r.file_name, r.split, r.num_frames, r.frame_height, r.frame_width) == ("patient0001_2CH", "TRAIN", T, H, W)
    assert (r.ed_frame, r.es_frame, r.traced_frames) == (0, T - 1, (0, T - 1))  # cfg ED/ES are 1-based
    assert r.labels == {"EF": 55.0, "ESV": 45.0, "EDV": 100.0}
    assert r.subgroups == {"sex": "M", "age_band": "60-79", "image_quality": "good", "view": "A2C"}
    assert r.fps == 25.0 and report.notes == {"frame rate not given (assumed)": 10}
    masks = camus_masks(r)
    assert masks[0].sum() == 8 * 12 and masks[0][4:12, 8:20].all() and masks[T - 1].sum() == 4 * 8
    bigger = next(x for x in data.records if x.file_name == "patient0005_4CH")  # _gt at twice the frame size
    assert (camus_masks(bigger)[0] == masks[0]).all()
    again = read_camus(camus / "database_nifti")  # the patient folders as the root: no lists, the hashed rule
    splits = {}
    for x in again.records:
        splits.setdefault(x.file_name.split("_")[0], set()).add(x.split)
    assert splits == {p: {_hashed_split(p)} for p in splits} and len(splits) == 5  # one split per patient
    assert [_hashed_split(f"patient{i:04d}") for i in range(1, 21)].count("TRAIN") > 10


def test_bad_views_and_patients_are_counted_skips_and_the_rest_is_kept(camus):
    nifti = camus / "database_nifti"
    (nifti / "patient0001" / "Info_2CH.cfg").unlink()                                            # missing file
    (nifti / "patient0001" / "patient0001_4CH_half_sequence.nii.gz").unlink()                    # missing file
    (nifti / "patient0002" / "Info_2CH.cfg").write_text(cfg(ef="n/a"))                          # bad label
    (nifti / "patient0002" / "Info_4CH.cfg").write_text(cfg(esv="-3"))                          # bad label
    (nifti / "patient0003" / "patient0003_2CH_half_sequence.nii.gz").write_bytes(b"\x1f\x8b junk")  # unreadable
    (nifti / "patient0003" / "Info_4CH.cfg").write_text(cfg(nb=T + 4, ed=T, es=1))              # wrong size, reversed
    shutil.copytree(nifti / "patient0004", nifti / "Patient0004")                                # duplicated id
    (camus / "database_split" / "subgroup_testing.txt").write_text("patient0005\npatient0001\n")  # in two lists
    data = read_camus(camus)
    report = data.report
    assert report.skipped == {"patient in several split lists": 2, "LVef missing or outside 0-100": 1,
                              "LVesv/LVedv non-numeric or negative": 1, "half sequence unreadable": 1,
                              "patient folder names differ only in case": 4}
    assert report.rows == 12 and report.usable() + sum(report.skipped.values()) == report.rows
    assert [r.file_name for r in data.records] == ["patient0003_4CH", "patient0005_2CH", "patient0005_4CH"]
    assert "'n/a'" in only_message(report, "patient0002_2CH", "skipped", "LVef")
    assert "patient0003_2CH_half_sequence.nii.gz" in only_message(report, "patient0003_2CH", "skipped")
    assert "lists: TRAIN, TEST" in only_message(report, "patient0001_2CH", "several")
    assert report.notes["NbFrame differs from the file"] == 1 and report.notes["ES before ED in the sequence"] == 1
    r = data.records[0]
    assert (r.ed_frame, r.es_frame) == (T - 1, 0)
    (camus / "database_split" / "subgroup_testing.txt").unlink()  # patient0005 now in no list
    (camus / "database_split" / "subgroup_validation.txt").write_text("patient0003\n")  # patient0003 in two
    with pytest.raises(DataError) as err:  # nothing usable is left: one line with every count
        read_camus(camus)
    assert "\n" not in str(err.value)
    for counted in ("2 patient in several split lists", "2 patient not in the split lists", "1 Info cfg missing",
                    "1 half sequence missing", "4 patient folder names differ only in case"):
        assert counted in str(err.value)


def test_folders_that_cannot_be_used_are_one_line_errors(camus, tmp_path):
    def error(root) -> str:
        return one_line_data_error(read_camus, root)

    assert "data directory not found" in error(tmp_path / "nowhere")
    assert "no patientNNNN folders (not a CAMUS-format directory)" in error(tmp_path)
    for patient in (camus / "database_nifti").iterdir():
        for view in ("2CH", "4CH"):
            (patient / f"Info_{view}.cfg").write_text(cfg(ef="120"))
    assert "no usable patient views (10 LVef missing or outside 0-100)" in error(camus)


def test_data_check_reads_a_synthetic_camus_folder(synthetic):
    """`echobench data check DIR` on a CAMUS folder (detected by its markers; needs core's
    dataset resolution, issue 14 item 3, to route `data check` through the registry)."""
    pytest.importorskip("echobench.data.resolve", reason="data check reads through resolve_dataset once it lands")
    import typer
    from typer.testing import CliRunner

    from echobench.cli.data import app

    root = typer.Typer()
    root.add_typer(app, name="data")
    result = CliRunner().invoke(root, ["data", "check", str(synthetic)])
    assert result.exit_code == 0, result.output
    assert "8 usable" in result.output and "Traceback" not in result.output


def test_report_of_a_synthetic_camus_folder_renders(synthetic):
    """The report `data check` prints, for CAMUS records read through the registered spec."""
    import io

    from rich.console import Console

    from echobench.data.check import render_report
    from echobench.registry import get_registry

    spec = get_registry().get("dataset", "camus")
    data = spec.load()(synthetic, probe=True, progress=None)
    console = Console(file=io.StringIO(), width=120)
    render_report(data.report, console)
    text = console.file.getvalue()
    assert "8 usable" in text and "TRAIN" in text and "EF (%)" in text


def test_camus_records_feed_the_clip_loader_unchanged(synthetic):
    """Core's clip decoding reads NIfTI half sequences like videos, under every protocol."""
    from echobench.data.clips import decode_clips
    from echobench.protocols import PROTOCOLS, get_protocol

    records = read_camus(synthetic).records[:2]
    for name in PROTOCOLS:
        decoded = decode_clips(records, get_protocol(name))
        assert not decoded.skipped and decoded.frame_size == (112, 112) and len(decoded.records) == 2
