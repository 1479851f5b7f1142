"""Which weights a run starts from, as a name and a hash (issue 14 item 2; STYLE rule 5).

A backbone spec may declare named weights (:class:`~echobench.contract.specs.WeightsSpec`), addressed
like timm's pretrained tags as ``arch.tag`` (``echo-videomae.echovisionfm``): the file name, where it
comes from, its licence and sha256. ``--weights arch.tag`` finds the file in the weights folder
(``ECHOBENCH_WEIGHTS``, default ``~/.cache/echobench/weights``; nothing is downloaded) and checks its
hash; ``--weights PATH`` is a user's own file. Either way records store a *name* (``arch.tag``, or the
file's base name) and the file's sha256, never the path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_ENV = "ECHOBENCH_WEIGHTS"
RANDOM_INIT = "random init"


@dataclass(frozen=True)
class ResolvedWeights:
    """``name``: ``arch.tag``, a user file's base name, or ``"random init"``; ``path``: what the
    backbone factory is given (None: random init); ``sha256``: the file's hex digest (None when the file
    is absent: the factory then raises its own one-line error)."""

    name: str
    path: str | None
    sha256: str | None


def weights_dir() -> Path:
    """The folder named weights are looked up in: ``ECHOBENCH_WEIGHTS``, else ``~/.cache/echobench/weights``."""
    return Path(os.environ.get(WEIGHTS_ENV) or Path.home() / ".cache" / "echobench" / "weights")


def resolve_weights(bspec, value: str | None) -> ResolvedWeights:
    """Resolve ``--weights`` for backbone spec ``bspec``: None, a declared ``arch.tag``, or a file path.

    Raises:
        UnknownNameError: ``arch.tag`` with this backbone's name but a tag it does not declare
            (did-you-mean), when no such file exists.
        WeightsError: a declared weights file is not in the weights folder (says where to get it), or
            its sha256 differs from the declared one.
    """
    from echobench.contract.options import did_you_mean
    from echobench.errors import UnknownNameError, WeightsError
    from echobench.provenance import file_sha256

    if value is None:
        return ResolvedWeights(RANDOM_INIT, None, None)
    path = Path(value)
    if path.is_file():
        return ResolvedWeights(path.name, str(value), file_sha256(path, length=64))
    arch, dot, tag = str(value).partition(".")
    declared = {w.tag: w for w in getattr(bspec, "weights", ())}
    if dot and arch == bspec.name and os.sep not in value:
        if tag not in declared:
            names = [f"{bspec.name}.{t}" for t in declared]
            hint = did_you_mean(value, names) if names else "; it declares no named weights"
            raise UnknownNameError(f"--weights {value}: no such file, and backbone {bspec.name!r} declares no "
                                   f"weights of that name{hint}")
        entry = declared[tag]
        file = weights_dir() / entry.file
        if not file.is_file():
            raise WeightsError(f"weights {value}: {file} not found; get {entry.file} from {entry.source} "
                               f"(licence: {entry.licence}) into {weights_dir()} (or set {WEIGHTS_ENV})")
        digest = file_sha256(file, length=64)
        if digest != entry.sha256.lower():
            raise WeightsError(f"weights {value}: {file} has sha256 {digest[:16]}..., the spec declares "
                               f"{entry.sha256[:16]}... (another file, or a damaged download)")
        return ResolvedWeights(value, str(file), digest)
    return ResolvedWeights(path.name, str(value), None)  # missing: the factory says so in one line
