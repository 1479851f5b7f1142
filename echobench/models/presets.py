"""Deprecated location: moved to :mod:`echobench.contract.presets` (import from ``echobench`` instead). This path keeps
working for one release and emits a ``FutureWarning``."""

import warnings

warnings.warn("echobench.models.presets is deprecated and will be removed in the next release; import from "
              "`echobench` (e.g. `from echobench import preset_options`) or echobench.contract.presets", FutureWarning,
              stacklevel=2)

from echobench.contract.presets import *  # noqa: E402,F401,F403
