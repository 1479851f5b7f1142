"""First-party tasks (DESIGN §5): EchoNet-Dynamic's EF and volumes, EchoNet-LVH's PLAX measurements.

Tasks are data, not code: a label column, a kind, natural units and a version. How a task is
trained, evaluated and scored is core code (STYLE rule 2), so rows stay comparable. Bump a task's
``version`` for any change that can move a score.
"""

from echobench import TaskSpec, hookimpl

_ECHONET = "EchoNet-Dynamic (Ouyang et al., Nature 2020)"
_LVH = "EchoNet-LVH (Duffy et al., JAMA Cardiology 2022)"


@hookimpl
def register_tasks(register):
    register(TaskSpec(name="ef", summary="ejection fraction regression, EF in %", factory="",
                      label="EF", kind="regression", units="%", version="1", derived=("ef50",),
                      citation=_ECHONET))
    register(TaskSpec(name="esv", summary="end-systolic volume regression, mL", factory="",
                      label="ESV", kind="regression", units="mL", version="1", citation=_ECHONET))
    register(TaskSpec(name="edv", summary="end-diastolic volume regression, mL", factory="",
                      label="EDV", kind="regression", units="mL", version="1", citation=_ECHONET))
    register(TaskSpec(name="ef50", summary="reduced EF (EF < 50 %) classification, one logit", factory="",
                      label="EF", kind="binary", units="%", version="1", threshold=50.0, citation=_ECHONET))
    for label, what in (("IVSd", "interventricular septum thickness"), ("LVIDd", "LV internal diameter"),
                        ("LVPWd", "LV posterior wall thickness")):
        register(TaskSpec(name=label.lower(), summary=f"{what} at end-diastole (PLAX), cm", factory="", label=label,
                          kind="regression", units="cm", version="1", citation=_LVH))
    register(TaskSpec(name="lv-seg", summary="LV endocardium segmentation on the traced ED and ES frames; "
                      "Dice/IoU per phase and EF from the masks' method of discs", factory="",
                      label="EF", kind="segmentation", units="%", version="1", citation=_ECHONET))
    register(TaskSpec(name="ed-es-frames", summary="ED/ES frame localisation in a clip holding both traced "
                      "frames; absolute frame error per phase", factory="",
                      label="EF", kind="frames", units="frames", version="1", citation=_ECHONET))
