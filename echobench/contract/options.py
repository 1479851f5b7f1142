"""Declared plugin options: the schema a spec publishes and the one parser every CLI flag uses.

A spec lists its options as :class:`Option` entries (name, type, default, choices, help), like
lm-evaluation-harness task configs or timm's ``PretrainedCfg``: core reads the declaration, never the
factory's signature. ``echobench run --backbone-option KEY=VALUE``, ``--head-option`` and ``echobench
pretrain --option`` are parsed by :func:`parse_options`; the Python API checks a mapping with
:func:`check_options`. Unknown names and choices get a did-you-mean. Imports no torch.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from echobench.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_TYPES = (str, int, float, bool)


def did_you_mean(value: str, known: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known``, else ``"; choose from a, b"``."""
    near = difflib.get_close_matches(value, list(known), n=1, cutoff=0.5)
    if near:
        return f"; did you mean {near[0]!r}?"
    return f"; choose from {', '.join(known)}" if known else "; it declares no options"


@dataclass(frozen=True)
class Option:
    """One option a plugin's factory accepts.

    Attributes:
        name: the keyword argument the factory receives (``KEY`` in ``KEY=VALUE``).
        type: ``str``, ``int``, ``float`` or ``bool``; ``KEY=VALUE`` text is converted to it.
        default: the value when the option is not given (documentation; the factory's own default
            applies, so ``None`` means "the factory decides").
        help: one line for ``echobench list`` and error messages.
        choices: allowed values (empty: any value of ``type``).
    """

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"Option {self.name!r}: type must be one of str, int, float, bool")

    def convert(self, text: str, *, owner: str) -> Any:
        """Convert ``KEY=VALUE`` text to :attr:`type` and check :attr:`choices`.

        Raises:
            ConfigError: not a value of the type, or not one of the choices (with a did-you-mean).
        """
        if self.type is bool:
            low = text.strip().lower()
            if low not in _TRUE | _FALSE:
                raise ConfigError(f"{owner} option {self.name}={text!r}: expected true or false")
            value: Any = low in _TRUE
        else:
            try:
                value = self.type(text)
            except ValueError:
                raise ConfigError(f"{owner} option {self.name}={text!r}: expected {self.type.__name__}") from None
        return self.check(value, owner=owner)

    def check(self, value: Any, *, owner: str, label: str | None = None) -> Any:
        """Return ``value`` if it is one of :attr:`choices` (or there are none).

        ``label`` names the option in the message (e.g. ``"--masking"`` for a CLI shortcut flag;
        default ``"<owner> option <name>"``).

        Raises:
            ConfigError: not one of the choices (with a did-you-mean).
        """
        if self.choices and value not in self.choices:
            hint = did_you_mean(str(value), [str(c) for c in self.choices])
            raise ConfigError(f"unknown {label or f'{owner} option {self.name}'} {value!r}{hint}")
        return value


def _lookup(name: str, options: Sequence[Option], *, owner: str, flag: str) -> Option:
    table = {o.name: o for o in options}
    if name not in table:
        raise ConfigError(f"{flag} {name}: {owner} has no option {name!r}{did_you_mean(name, list(table))}")
    return table[name]


def parse_options(pairs: Sequence[str], options: Sequence[Option], *, owner: str, flag: str) -> dict[str, Any]:
    """Parse repeated ``KEY=VALUE`` flags against a declared schema.

    Args:
        pairs: the flag values, e.g. ``["variant=r2plus1d_18", "preset=18"]``.
        options: the spec's declared :class:`Option` entries.
        owner: what the options belong to, for messages (e.g. ``"backbone 'video-resnet'"``).
        flag: the flag name for messages (e.g. ``"--backbone-option"``).
    Returns:
        ``{name: converted value}``; a later pair for the same key wins.
    Raises:
        ConfigError: a pair without ``=``, an unknown key or choice (did-you-mean), or a bad value.
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{flag} {pair!r}: expected KEY=VALUE")
        values[key] = _lookup(key, options, owner=owner, flag=flag).convert(text.strip(), owner=owner)
    return values


def check_options(values: Mapping[str, Any], options: Sequence[Option], *, owner: str, flag: str = "option",
                  labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Check a mapping of already-typed option values against a declared schema (``labels``: how to
    name an option in messages, e.g. ``{"masking": "--masking"}`` for CLI shortcut flags).

    Raises:
        ConfigError: an unknown key (did-you-mean) or a value outside the declared choices.
    """
    labels = labels or {}
    return {k: _lookup(k, options, owner=owner, flag=flag).check(v, owner=owner, label=labels.get(k))
            for k, v in values.items()}


__all__ = ["Option", "parse_options", "check_options", "did_you_mean"]
