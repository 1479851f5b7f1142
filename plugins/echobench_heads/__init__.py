"""First-party heads: token pooling (DESIGN §4).

Registered through the ``echobench`` entry-point group like any third-party plugin. This entry
module does not import torch; the implementations live in :mod:`echobench_heads.pooling`,
:mod:`echobench_heads.stff`, :mod:`echobench_heads.probe` and the dense heads
of :mod:`echobench_heads.dense` (segmentation masks, ED/ES frames).
"""

from echobench import HeadSpec, Option, hookimpl


_STFF_OPTIONS = (
    Option("attn_dim", int, 1024, "hidden width of both gated attentions (released code: 1024)"),
    Option("bottleneck_ratio", int, 2, "residual bottleneck width = dim / ratio"),
)


@hookimpl
def register_heads(register):
    register(HeadSpec(
        name="maxpool",
        summary="max over all t*h*w tokens -> (B, D) (EchoVisionFM 'Echo VideoMAE with max pooling')",
        factory="echobench_heads.pooling:MaxPoolHead",
        inputs=(),
        citation="EchoVisionFM (Zhang et al., 2024), Table 2 max-pool baseline",
        licence="MIT",
    ))
    register(HeadSpec(
        name="meanpool",
        summary="mean over all t*h*w tokens, then LayerNorm -> (B, D) (VideoMAE fine-tuning head)",
        factory="echobench_heads.pooling:MeanPoolHead",
        inputs=(),
        citation="VideoMAE (Tong et al., NeurIPS 2022), modeling_finetune.py fc_norm",
        licence="MIT",
    ))
    register(HeadSpec(
        name="stff",
        summary="STFF-Net: joint 3D + disjoint per-frame paths, gated attention -> (B, 2D) (correct grid reshape)",
        factory="echobench_heads.stff:STFFHead",
        inputs=("grid",),
        options=_STFF_OPTIONS,
        citation="EchoVisionFM (Zhang et al., 2024) §3.2; gated attention: Ilse et al., ICML 2018",
        licence="MIT",
    ))
    register(HeadSpec(
        name="stff-released",
        summary="STFF-Net with the released code's un-permuted reshape (scrambled positions; for paper parity)",
        factory="echobench_heads.stff:STFFHead",
        defaults={"released_reshape": True},
        inputs=("grid",),
        options=_STFF_OPTIONS,
        citation="EchoVisionFM (Zhang et al., 2024) §3.2, released code",
        licence="MIT",
    ))
    register(HeadSpec(
        name="attentive-probe",
        summary="one learnable query cross-attends over all tokens, then LayerNorm -> (B, D)",
        factory="echobench_heads.probe:AttentiveProbeHead",
        inputs=(),
        options=(Option("num_heads", int, None, "attention heads of the query (default: from dim)"),
                 Option("blocks", int, 1, "attention blocks: blocks - 1 self-attention, then the query's "
                                          "cross-attention (V-JEPA 2 probe: 4)")),
        citation="V-JEPA (Bardes et al., 2024) attentive probe",
        licence="MIT",
    ))
    register(HeadSpec(
        name="seg-upsample",
        summary="dense: per-token linear on the token grid, upsampled to (B, T, H, W) LV mask logits",
        factory="echobench_heads.dense:SegUpsampleHead",
        inputs=("grid", "clip_shape"), output="masks",
        options=(Option("channels", int, 32, "decoder width"),),
        citation="linear decoder of SETR (Zheng et al., CVPR 2021) / Segmenter (Strudel et al., ICCV 2021)",
        licence="MIT",
    ))
    register(HeadSpec(
        name="frames-upsample",
        summary="dense: per-token linear, mean over space, upsampled in time to (B, T, 2) ED/ES frame logits",
        factory="echobench_heads.dense:FramesUpsampleHead",
        inputs=("clip_shape",), output="frames",
        options=(Option("channels", int, 64, "decoder width"),),
        citation="temporal analogue of the SETR / Segmenter linear decoder",
        licence="MIT",
    ))
