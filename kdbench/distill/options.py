"""The one check of every method's options.

A method's options are the fields of its frozen dataclass — their defaults written there, once
— and its ``CHECKS`` (a class attribute: option -> `Real`, `Integral` or `OneOf`) say what
each may hold. `Method.__post_init__` runs `check_fields`, so every way of building a method
(a suite file, ``add-pair``, a plugin, a test) is checked alike. The wording is
scikit-learn's (``InvalidParameterError``): "The 'alpha' parameter of kd must be a float in the
range [0, 1]. Got 1.5 instead." A float option given as an int is stored as a float, so a
method built from ``alpha = 1`` and from ``alpha = 1.0`` is the same method.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from numbers import Integral as _Int
from numbers import Real as _Real
from typing import Any


class InvalidOption(ValueError, TypeError):
    """An option of the wrong type or out of its range (a ValueError and a TypeError, as
    scikit-learn's ``InvalidParameterError``)."""


def _bound(v: float | None, sign: int) -> str:
    return ("inf" if sign > 0 else "-inf") if v is None else f"{v:g}"


@dataclass(frozen=True)
class Real:
    """A finite real number in the interval from ``low`` to ``high`` (None: unbounded),
    ``closed`` at ``"both"``, ``"left"``, ``"right"`` or ``"neither"`` end."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def describe(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        return f"a float in the range {left}{_bound(self.low, -1)}, {_bound(self.high, 1)}{right}"

    def accepts(self, v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, _Real) or not math.isfinite(v):
            return False
        lo_ok = self.low is None or (v >= self.low if self.closed in ("both", "left") else v > self.low)
        hi_ok = self.high is None or (v <= self.high if self.closed in ("both", "right") else v < self.high)
        return lo_ok and hi_ok

    def normalise(self, v: Any) -> float:
        return float(v)


@dataclass(frozen=True)
class Integral:
    """An integer from ``low`` to ``high`` (None: unbounded), both ends included."""

    low: int | None = None
    high: int | None = None

    def describe(self) -> str:
        right = "]" if self.high is not None else ")"
        return f"an int in the range [{_bound(self.low, -1)}, {_bound(self.high, 1)}{right}"

    def accepts(self, v: Any) -> bool:
        return (not isinstance(v, bool) and isinstance(v, _Int)
                and (self.low is None or v >= self.low) and (self.high is None or v <= self.high))

    def normalise(self, v: Any) -> int:
        return int(v)


@dataclass(frozen=True)
class OneOf:
    """One of the strings ``choices``."""

    choices: tuple[str, ...]

    def describe(self) -> str:
        return "a str among {" + ", ".join(repr(c) for c in self.choices) + "}"

    def accepts(self, v: Any) -> bool:
        return isinstance(v, str) and v in self.choices

    def normalise(self, v: Any) -> str:
        return v


def check_option(owner: str, name: str, value: Any, rule: Real | Integral | OneOf) -> Any:
    """``value`` normalised by ``rule``; `InvalidOption` naming ``owner``'s option ``name``,
    what it must be and what it got, when ``rule`` does not accept it."""
    if not rule.accepts(value):
        raise InvalidOption(f"The '{name}' parameter of {owner} must be {rule.describe()}. "
                            f"Got {value!r} instead.")
    return rule.normalise(value)


def check_fields(method: Any) -> None:
    """Check every field of the frozen dataclass ``method`` that its class's ``CHECKS`` name,
    in field order, storing the normalised value; ``NAME`` (the registered name) names it."""
    checks = getattr(type(method), "CHECKS", {})
    owner = getattr(type(method), "NAME", type(method).__name__)
    for f in dataclasses.fields(method):
        if f.name in checks:
            object.__setattr__(method, f.name,
                               check_option(owner, f.name, getattr(method, f.name), checks[f.name]))
