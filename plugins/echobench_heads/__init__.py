"""First-party heads: token pooling (DESIGN §4).

Registered through the ``echobench`` entry-point group like any third-party plugin. This entry
module does not import torch; the implementations live in :mod:`echobench_heads.pooling`.
"""

from echobench import hookimpl
from echobench.specs import HeadSpec


@hookimpl
def register_heads(register):
    register(HeadSpec(
        name="maxpool",
        summary="max over all t*h*w tokens -> (B, D) (EchoVisionFM 'Echo VideoMAE with max pooling')",
        factory="echobench_heads.pooling:MaxPoolHead",
        citation="EchoVisionFM (Zhang et al., 2024), Table 2 max-pool baseline",
        licence="MIT",
    ))
    register(HeadSpec(
        name="meanpool",
        summary="mean over all t*h*w tokens, then LayerNorm -> (B, D) (VideoMAE fine-tuning head)",
        factory="echobench_heads.pooling:MeanPoolHead",
        citation="VideoMAE (Tong et al., NeurIPS 2022), modeling_finetune.py fc_norm",
        licence="MIT",
    ))
