"""Deprecated location: moved to :mod:`echobench.contract.hookspecs` (import from ``echobench``
instead). This path keeps working for one release and emits a ``FutureWarning``."""

import warnings

warnings.warn("echobench.hookspecs is deprecated and will be removed in the next release; import from `echobench` "
              "(e.g. `from echobench import hookimpl`) or echobench.contract.hookspecs", FutureWarning, stacklevel=2)

from echobench.contract.hookspecs import *  # noqa: E402,F401,F403
from echobench.contract.hookspecs import (  # noqa: E402,F401
    hookimpl, hookspec, register_backbones, register_heads, register_pretrainers, register_tasks)
