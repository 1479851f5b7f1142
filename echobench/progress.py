"""The one progress type of echobench's library functions (issue 14 item 6).

A long library call (a run, pre-training, ``prepare dicom``, a dataset scan) takes an optional
``progress: ProgressFactory``. It calls ``progress(description, total)`` once per stage (``total``:
the number of items, ``None`` when unknown) and gets back an :data:`Advance`, which it calls with the
number of items just finished. The CLI passes :class:`echobench.cli.common.Bars` (rich bars on
stderr); a library caller passes nothing, or its own callable of the same shape. A function with
one stage only takes the :data:`Advance` itself.
"""

from __future__ import annotations

from typing import Callable, Optional

#: ``advance(n)``: ``n`` more items of the current stage are done.
Advance = Callable[[int], None]

#: ``progress(description, total) -> advance``: starts the bar of one stage.
ProgressFactory = Callable[[str, Optional[int]], Advance]

__all__ = ["Advance", "ProgressFactory"]
