"""Training defaults, defined once (issue 14 item 6): the library's config dataclasses
(:class:`echobench.engine.loop.TrainSettings`, :class:`echobench.runner.RunConfig`,
:class:`echobench.engine.pretrain_loop.PretrainConfig`) and the CLI options of ``run`` and
``pretrain`` all take their defaults from here, so a library caller and a CLI user get the same run.
Changing one changes the numbers of a default run: say so in README. Torch-free (the CLI imports it).
"""

from __future__ import annotations

# Fine-tuning (`echobench run`): AdamW, cosine schedule after a linear warm-up.
EPOCHS = 8  # passes over TRAIN; the checkpoint is picked on VAL after each
BATCH_SIZE = 8  # clips per (global) training step
LR = 3e-4  # peak learning rate
WEIGHT_DECAY = 0.05
WARMUP_FRACTION = 0.1  # of all steps
N_BOOT = 1000  # bootstrap resamples for every 95 % interval

# MAE pre-training (`echobench pretrain`; VideoMAE, Tong et al. 2022, scaled to the global batch).
PRETRAIN_BATCH_SIZE = 8
PRETRAIN_LR = 1.5e-4
PRETRAIN_WEIGHT_DECAY = 0.05
PRETRAIN_WARMUP_FRACTION = 0.05
