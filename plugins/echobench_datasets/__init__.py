"""First-party dataset layouts (DESIGN §6; issue 14 item 3).

Datasets are data, not code: each registers a :class:`~echobench.DatasetSpec` whose reader turns a
folder into records. How records are trained, evaluated and scored is core code (STYLE rule 2).
"""

from echobench import DatasetSpec, hookimpl

_ECHONET = "EchoNet-Dynamic (Ouyang et al., Nature 2020); github.com/echonet/dynamic"


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="echonet-dynamic", summary="EchoNet-Dynamic: 10,030 A4C videos, 112x112, FileList.csv + VolumeTracings.csv",
        factory="echobench.data.echonet:read_echonet", labels={"EF": "%", "ESV": "mL", "EDV": "mL"},
        markers=("FileList.csv",), synth="echobench.data.synth:synthesize", masks="echobench.data.masks:echonet_masks",
        views=("A4C",),
        split_rule="FileList's Split column (TRAIN/VAL/TEST), as released", version="1", citation=_ECHONET,
        licence="Stanford EchoNet-Dynamic research use agreement (users download it themselves)"))
