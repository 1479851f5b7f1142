"""Deprecated location: moved to :mod:`echobench.contract.features` (import from ``echobench`` instead). This path keeps
working for one release and emits a ``FutureWarning``."""

import warnings

warnings.warn("echobench.models.features is deprecated and will be removed in the next release; import from "
              "`echobench` (e.g. `from echobench import Features`) or echobench.contract.features", FutureWarning,
              stacklevel=2)

from echobench.contract.features import *  # noqa: E402,F401,F403
