"""First-party heads: token pooling (DESIGN §4).

Registered through the ``echobench`` entry-point group like any third-party plugin. This entry
module does not import torch; the implementations live in :mod:`echobench_heads.pooling`,
:mod:`echobench_heads.stff` and :mod:`echobench_heads.probe`.
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
    register(HeadSpec(
        name="stff",
        summary="STFF-Net: joint 3D + disjoint per-frame paths, gated attention -> (B, 2D) (correct grid reshape)",
        factory="echobench_heads.stff:STFFHead",
        citation="EchoVisionFM (Zhang et al., 2024) §3.2; gated attention: Ilse et al., ICML 2018",
        licence="MIT",
    ))
    register(HeadSpec(
        name="stff-released",
        summary="STFF-Net with the released code's un-permuted reshape (scrambled positions; for paper parity)",
        factory="echobench_heads.stff:STFFHead",
        defaults={"released_reshape": True},
        citation="EchoVisionFM (Zhang et al., 2024) §3.2, released code",
        licence="MIT",
    ))
    register(HeadSpec(
        name="attentive-probe",
        summary="one learnable query cross-attends over all tokens, then LayerNorm -> (B, D)",
        factory="echobench_heads.probe:AttentiveProbeHead",
        citation="V-JEPA (Bardes et al., 2024) attentive probe",
        licence="MIT",
    ))
