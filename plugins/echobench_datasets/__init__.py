"""First-party dataset layouts (DESIGN §6, §9; issue 14 item 3, issue 17 item 2).

Datasets are data, not code: each registers a :class:`~echobench.DatasetSpec` whose reader turns a
folder into records. How records are trained, evaluated and scored is core code (STYLE rule 2).
The reader modules (:mod:`.pediatric`, :mod:`.camus`, :mod:`.lvh`) are imported only when a spec is used.
"""

from echobench import DatasetSpec, hookimpl

_ECHONET = "EchoNet-Dynamic (Ouyang et al., Nature 2020); github.com/echonet/dynamic"
_PEDIATRIC = ("EchoNet-Pediatric (Reddy et al., J Am Soc Echocardiogr 2023); echonet.github.io/pediatric")
_CAMUS = ("CAMUS (Leclerc et al., IEEE TMI 2019), 2023 NIfTI release; "
          "www.creatis.insa-lyon.fr/Challenge/camus")
_LVH = "EchoNet-LVH (Duffy et al., JAMA Cardiology 2022); echonet.github.io/lvh"
# Split rules, repeated from the reader modules so listing datasets imports no reader (kept equal by a test).
PEDIATRIC_SPLIT_RULE = "FileList's Split column (publisher's folds 0-9): folds 0-7 TRAIN, 8 VAL, 9 TEST (rule v1)"
CAMUS_SPLIT_RULE = ("official CAMUS lists database_split/subgroup_{training,validation,testing}.txt when present; "
                    "else sha256(patient id) mod 10: 0-7 TRAIN, 8 VAL, 9 TEST (patient level; rule v1)")
LVH_SPLIT_RULE = "MeasurementsList's split column (train/val/test), as released (rule v1)"


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="echonet-dynamic", summary="EchoNet-Dynamic: 10,030 A4C videos, 112x112, FileList.csv + VolumeTracings.csv",
        factory="echobench.data.echonet:read_echonet", labels={"EF": "%", "ESV": "mL", "EDV": "mL"},
        markers=("FileList.csv",), synth="echobench.data.synth:synthesize", masks="echobench.data.masks:echonet_masks",
        views=("A4C",),
        split_rule="FileList's Split column (TRAIN/VAL/TEST), as released", version="1", citation=_ECHONET,
        licence="Stanford EchoNet-Dynamic research use agreement (users download it themselves)"))
    register(DatasetSpec(
        name="echonet-pediatric", summary="EchoNet-Pediatric: A4C and PSAX videos (112x112), ten-fold FileList.csv, "
        "outline VolumeTracings.csv", factory="echobench_datasets.pediatric:read_pediatric", labels={"EF": "%"},
        subgroups=("sex", "age_band", "view"), markers=("[AP][4S][CA]*/FileList.csv",),
        synth="echobench_datasets.pediatric:synthesize_pediatric", masks="echobench_datasets.pediatric:pediatric_masks",
        views=("A4C", "PSAX"), split_rule=PEDIATRIC_SPLIT_RULE, version="1", citation=_PEDIATRIC,
        licence="Stanford EchoNet-Pediatric research use agreement (users download it themselves)"))
    register(DatasetSpec(
        name="camus", summary="CAMUS: 500 patients, 2CH and 4CH half sequences (NIfTI), Info_*.cfg, LV/myocardium/LA labels",
        factory="echobench_datasets.camus:read_camus", labels={"EF": "%", "ESV": "mL", "EDV": "mL"},
        subgroups=("sex", "age_band", "image_quality", "view"), markers=("**/patient[0-9]*/Info_[24]CH.cfg",),
        synth="echobench_datasets.camus:synthesize_camus", masks="echobench_datasets.camus:camus_masks",
        views=("A2C", "A4C"), split_rule=CAMUS_SPLIT_RULE, version="1", citation=_CAMUS,
        licence="CAMUS challenge data-use terms of CREATIS (users download it themselves)"))
    register(DatasetSpec(
        name="echonet-lvh", summary="EchoNet-LVH: PLAX videos in Batch1-4/, MeasurementsList.csv key points "
        "(IVS, LVID, LVPW in cm)", factory="echobench_datasets.lvh:read_lvh",
        labels={c: "cm" for c in ("IVSd", "LVIDd", "LVPWd", "IVSs", "LVIDs", "LVPWs")}, subgroups=("view",),
        markers=("MeasurementsList.csv", "Batch*/"), synth="echobench_datasets.lvh:synthesize_lvh", views=("PLAX",),
        split_rule=LVH_SPLIT_RULE, version="1", citation=_LVH,
        licence="Stanford EchoNet-LVH research use agreement (users download it themselves)"))
