"""MAE pre-training of the VideoMAE encoder: the ``echo-videomae`` pretrainer.

- :mod:`.masking`: tube masking (VideoMAE's default), plain random masking, and the EchoVisionFM
  release's masking, each a function of a seed;
- :mod:`.decoder`: the lightweight decoder and its presets per encoder size;
- :mod:`.mae`: encoder + decoder + normalised-pixel MSE on masked tokens, and the reconstruction
  picture;
- :mod:`.trainer`: what the core pre-training loop (:mod:`echobench.engine.pretrain_loop`) drives.

The loop, data order, checkpoints and devices are core code; this package only says *what* is
trained. Nothing here is imported by the plugin's entry module.
"""
