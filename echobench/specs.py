"""Deprecated location: moved to :mod:`echobench.contract.specs` (import from ``echobench`` instead). This path keeps
working for one release and emits a ``FutureWarning``."""

import warnings

warnings.warn("echobench.specs is deprecated and will be removed in the next release; import from `echobench` "
              "(e.g. `from echobench import BackboneSpec`) or echobench.contract.specs", FutureWarning, stacklevel=2)

from echobench.contract.specs import *  # noqa: E402,F401,F403
from echobench.contract.specs import SPEC_TYPES, Kind, _Spec, load_factory  # noqa: E402,F401
