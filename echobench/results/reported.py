"""Published reference numbers (DESIGN §5), as leaderboard rows marked ``source = "reported"``.

They are shown next to, never ranked with, rows measured by echobench: each keeps its own split
(the EchoVisionFM v1 tables were computed on VAL), protocol version ``"paper"`` and units. The
EchoVisionFM tables give EF as EF/100; here EF MAE/RMSE are converted to EF points (x100; R² is
unit-free). The paper's volume tables are in ln(mL) and stay in ``"ln mL"`` units, never mixed with
mL rows. Its MSE columns are omitted (echobench reports RMSE).

Sources: EchoVisionFM v1 (Zhang et al., 2024) Tables 1, 2, 4; EchoNet-Dynamic (Ouyang et al.,
Nature 2020); later TEST-split anchors (Echo-Vision-FM journal version, EchoCardMAE, CoReEcho) in
their own block, each naming its protocol and test-time clips.
"""

from __future__ import annotations

import polars as pl

from echobench.results.records import RECORD_SCHEMA

_EVFM = "EchoVisionFM v1 (Zhang et al., 2024)"
_ECHONET = "EchoNet-Dynamic (Ouyang et al., Nature 2020)"

# model label -> (backbone, head)
_PAPER_MODELS = {
    "Echo-VideoMAE + STFF-Net": ("echo-videomae", "stff-released"),
    "Echo-VideoMAE + max pooling": ("echo-videomae", "maxpool"),
    "vanilla VideoMAE": ("videomae", "-"),
    "Video ResNet (R3D-18)": ("video-resnet", "-"),
    "ViViT": ("vivit", "-"),
}
# Table 2, EF in EF/100: MAE, RMSE, R²  (MSE omitted)
_TABLE2 = {
    "Echo-VideoMAE + STFF-Net": (0.0418, 0.0547, 0.8022),
    "Echo-VideoMAE + max pooling": (0.0481, 0.0635, 0.7304),
    "vanilla VideoMAE": (0.0505, 0.0671, 0.6986),
    "Video ResNet (R3D-18)": (0.0544, 0.0741, 0.6323),
    "ViViT": (0.0668, 0.0906, 0.4510),
}
# Table 1, EF < 50 %, normal EF positive: accuracy, F1, AUROC
_TABLE1 = {
    "Echo-VideoMAE + STFF-Net": (0.8912, 0.9323, 0.9364),
    "Echo-VideoMAE + max pooling": (0.8896, 0.9311, 0.9330),
    "vanilla VideoMAE": (0.8768, 0.9228, 0.9136),
    "Video ResNet (R3D-18)": (0.8747, 0.9223, 0.8975),
    "ViViT": (0.8371, 0.9013, 0.8540),
}
# Table 4, EDV in ln(mL): MAE, RMSE, R²
_TABLE4 = {
    "Echo-VideoMAE + STFF-Net": (0.1796, 0.2325, 0.7296),
    "Echo-VideoMAE + max pooling": (0.1977, 0.2526, 0.6806),
    "vanilla VideoMAE": (0.2252, 0.2856, 0.5918),
    "Video ResNet (R3D-18)": (0.2009, 0.2596, 0.6626),
    "ViViT": (0.2732, 0.3491, 0.3901),
}


def _row(model: str, backbone: str, head: str, task: str, split: str, protocol: str, units: str,
         metric: str, value: float, dataset_note: str) -> dict:
    row = {c: None for c in RECORD_SCHEMA}
    row.update(source="reported", run_id=f"reported:{dataset_note}", model=model, backbone=backbone, head=head,
               preset="published", weights=dataset_note, task=task, task_version="paper", trained_on=task,
               protocol=protocol, protocol_version="paper", split=split, clips="one", metric=metric,
               value=float(value), ci_low=float("nan"), ci_high=float("nan"), units=units,
               dataset="EchoNet-Dynamic", dataset_hash="published", synthetic=False, precision="-")
    return row


def reported_rows() -> pl.DataFrame:
    """Every published reference number as a row of the record schema (``source = "reported"``)."""
    rows = []
    for model, (mae, rmse, r2) in _TABLE2.items():
        b, h = _PAPER_MODELS[model]
        for metric, value in (("MAE", mae * 100), ("RMSE", rmse * 100), ("R2", r2)):
            rows.append(_row(model, b, h, "ef", "VAL", "echovisionfm", "%", metric, value, _EVFM))
    for model, (acc, f1, auc) in _TABLE1.items():
        b, h = _PAPER_MODELS[model]
        for metric, value in (("ACC", acc), ("F1[normal+]", f1), ("AUROC[normal+]", auc)):
            rows.append(_row(model, b, h, "ef50", "VAL", "echovisionfm", "", metric, value, _EVFM))
    for model, (mae, rmse, r2) in _TABLE4.items():
        b, h = _PAPER_MODELS[model]
        for metric, value in (("MAE", mae), ("RMSE", rmse), ("R2", r2)):
            rows.append(_row(model, b, h, "edv", "VAL", "echovisionfm", "ln mL", metric, value, _EVFM))
    rows.append(_row("Echo-VideoMAE + STFF-Net", "echo-videomae", "stff-released", "esv", "VAL", "echovisionfm",
                     "ln mL", "R2", 0.8006, _EVFM))
    for model, values in (("EchoNet-Dynamic R(2+1)D, beat-to-beat", (4.05, 5.32, 0.81)),
                          ("EchoNet-Dynamic R(2+1)D, one clip", (4.22, 5.56, 0.79))):
        for metric, value in zip(("MAE", "RMSE", "R2"), values):
            rows.append(_row(model, "video-resnet", "-", "ef", "TEST", "echonet", "%", metric, value, _ECHONET))
    rows.append(_row("EchoNet-Dynamic R(2+1)D, beat-to-beat", "video-resnet", "-", "ef50", "TEST", "echonet", "",
                     "AUROC", 0.97, _ECHONET))
    rows += _later_anchor_rows()
    return pl.DataFrame(rows, schema=RECORD_SCHEMA)


# --- later TEST-split anchors (DESIGN §5; added by the evaluation-tracks work) -------------------------
# (model, backbone, task, units, protocol, clips, source, metric, value); EF in EF points, volumes' R² unit-free
_LATER_ANCHORS = [
    *(("Echo-Vision-FM (journal)", "echo-videomae", task, units, "echovisionfm", "one",
       "Echo-Vision-FM journal version (one clip, 16 frames linspace, 224 px)", metric, value)
      for task, units, metric, value in (("ef", "%", "MAE", 3.87), ("ef", "%", "R2", 0.825),
                                         ("ef50", "", "AUROC", 0.931), ("esv", "mL", "R2", 0.782),
                                         ("edv", "mL", "R2", 0.742))),
    ("EchoCardMAE ViT-S/8", "-", "ef", "%", "echocardmae", "5 uniform",
     "EchoCardMAE (MICCAI 2025; 112 px, 5 uniform clips averaged)", "MAE", 3.78),
    *(("CoReEcho", "-", "ef", "%", "coreecho", "see source", "CoReEcho (Maani et al., 2024)", metric, value)
      for metric, value in (("MAE", 3.90), ("RMSE", 5.13), ("R2", 0.824))),
]


def _later_anchor_rows() -> list[dict]:
    """The later published EchoNet-Dynamic TEST-split numbers, each with its own protocol, test-time
    clips and source (DESIGN §5): Echo-Vision-FM journal version, EchoCardMAE, CoReEcho."""
    rows = []
    for model, backbone, task, units, protocol, clips, source, metric, value in _LATER_ANCHORS:
        row = _row(model, backbone, "-", task, "TEST", protocol, units, metric, value, source)
        row["clips"] = clips
        rows.append(row)
    return rows
