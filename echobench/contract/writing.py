"""What a dataset plugin's synthetic generator writes with (DESIGN §9: each dataset plugin ships a
generator in its real layout): the contract face of :mod:`echobench.atomic` and
:func:`echobench.data.video.write_avi`, the one atomic writer of echobench (STYLE rule 13).

- :func:`atomic_write_text`, :func:`atomic_write_bytes`: a file written whole or not at all (a
  temporary file beside it, fsync, rename); :class:`~echobench.errors.WriteError` when it cannot be;
- :func:`write_avi`: ``(T, H, W)`` grey or ``(T, H, W, 3)`` RGB uint8 frames as an MJPEG AVI (fps in
  frames/s), byte for byte reproducibly and atomically, as EchoNet-Dynamic's videos are stored.
"""

from __future__ import annotations

from echobench.atomic import atomic_write_bytes, atomic_write_text
from echobench.data.video import write_avi

__all__ = ["atomic_write_bytes", "atomic_write_text", "write_avi"]
