"""Checks of user input, in one table: argument → what it may hold, checked once at each
public entry, one ``ValueError`` shape everywhere:

    seed must be a whole number in [0, 4294967295]; got 3.5.

The model is scikit-learn's declarative parameter constraints (``utils/_param_validation``):
a rule object knows what it allows and how to say so, and a table maps argument names to
rules, so every entry point that takes a ``seed`` or an ``n_starts`` answers the same bad
value with the same sentence. Everything above this box (models, harness, CLI, report)
imports its rules from here: ``em_reference`` never imports PyMC, the others may import it.

What a whole number is, once for the project: a Python or NumPy integer, not a bool. A
float is refused even when it is integral (``seed=3.0``), as NumPy's ``default_rng`` and
PyMC's samplers refuse it; ``None`` is refused for a seed, because every result must be
reproducible from the seed it records. Data counts read from a file (``Whole(floats=True)``)
are the one exception: ``7.0`` heads is a count.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MAX_SEED", "RULES", "OneOf", "Real", "Whole", "check", "float_array"]

# NumPy's default_rng takes any non-negative integer; PyMC's samplers take at most 2**32 − 1.
# One range for every seed, so a seed that works for EM also works for the PyMC twin.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Whole:
    """A whole number in [``low``, ``high``] (``high=None``: no upper bound)."""

    low: int = 0
    high: int | None = None
    floats: bool = False  # accept integral floats (data counts), never for arguments

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, numbers.Integral):
            number = int(value)
        elif self.floats and isinstance(value, numbers.Real) and math.isfinite(value) and value == int(value):
            number = int(value)
        else:
            return False
        return number >= self.low and (self.high is None or number <= self.high)

    def describe(self) -> str:
        if self.high is None:
            return f"a whole number >= {self.low}"
        return f"a whole number in [{self.low}, {self.high}]"

    def convert(self, value: Any) -> int:
        return int(value)


@dataclass(frozen=True)
class Real:
    """A finite real number above ``low`` (or at it, with ``low_closed``) and below ``high``."""

    low: float | None = 0.0
    high: float | None = None
    low_closed: bool = False

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        above = self.low is None or (value >= self.low if self.low_closed else value > self.low)
        return above and (self.high is None or value < self.high)

    def describe(self) -> str:
        if self.low == 0 and self.high is None:
            return "a non-negative finite number" if self.low_closed else "a positive finite number"
        if self.high is None:
            return f"a finite number {'>=' if self.low_closed else '>'} {self.low:g}"
        bracket = "[" if self.low_closed else "("
        return f"a number in {bracket}{self.low:g}, {self.high:g})"

    def convert(self, value: Any) -> float:
        return float(value)


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values (compared with ==)."""

    options: tuple[Any, ...]

    def allows(self, value: Any) -> bool:
        return isinstance(value, type(self.options[0])) and value in self.options

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.options))

    def convert(self, value: Any) -> Any:
        return value


Rule = Whole | Real | OneOf

# The arguments several entry points share; an entry point with its own meaning for a name
# passes its own rule to `check` (a black-box check's n_starts may be 0: no search).
RULES: Mapping[str, Rule] = {
    "seed": Whole(0, MAX_SEED),
    "n_starts": Whole(1),
    "max_iter": Whole(1),
    "tol": Real(0.0),
    "k": Whole(1),
}


def check(argument: str, value: Any, rule: Rule | None = None, meaning: str = "") -> Any:
    """``value`` converted by ``rule`` (default ``RULES[argument]``), or one ``ValueError``:
    ``"{argument} must be {what the rule allows}[ ({meaning})]; got {value!r}."``."""
    rule = RULES[argument] if rule is None else rule
    if not rule.allows(value):
        extra = f" ({meaning})" if meaning else ""
        raise ValueError(f"{argument} must be {rule.describe()}{extra}; got {value!r}.")
    return rule.convert(value)


def float_array(values: Any, argument: str, allowed: str) -> np.ndarray:
    """``values`` as a float array, or a ValueError saying ``allowed`` (e.g. "2 numbers (theta_A, theta_B)")."""
    if isinstance(values, (str, bytes)) or isinstance(values, dict):
        raise ValueError(f"{argument} must hold {allowed}; got {values!r}.")
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{argument} must hold {allowed}; got {values!r}.") from None
