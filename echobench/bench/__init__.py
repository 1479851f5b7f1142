"""Throughput benchmarks (issue 6): what ``echobench bench`` and ``benchmarks/`` measure.

- :mod:`echobench.bench.peak`: the matrix-multiply peak of the device and dtype, measured in the run;
- :mod:`echobench.bench.flops`: parameters and FLOPs per clip, counted with ``torch.utils.flop_counter``;
- :mod:`echobench.bench.models`: inference / training-step clips/s, peak memory and utilization of
  a registered backbone x head;
- :mod:`echobench.bench.peers`: our VideoMAE and ViViT encoders against Hugging Face
  ``VideoMAEModel`` / ``VivitModel`` with the same configuration and weights;
- :mod:`echobench.bench.loader`: our clip loader against an EchoNet-Dynamic-style whole-video
  OpenCV loader, on the same files;
- :mod:`echobench.bench.timing`, :mod:`echobench.bench.memory`: interleaved repeated timing
  (medians) and peak-memory probes;
- :mod:`echobench.bench.run`: one ``echobench bench`` invocation -> rows of a throughput record
  (:mod:`echobench.results.throughput`).

Every figure is a median over repetitions, and every ratio (utilization, ours vs a peer) is taken
per repetition from two measurements made back to back, then the median of those ratios is
reported, so a machine shared with other work still gives comparable ratios.
"""
