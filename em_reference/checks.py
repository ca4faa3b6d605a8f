"""Checks of user input shared by the scenarios: one ``ValueError`` naming the argument, the
value and what is allowed, raised at the public entry, never a NumPy error from deeper in."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["float_array", "positive_number", "seed_value", "whole_number"]

# NumPy's default_rng takes any non-negative integer; PyMC's samplers take at most 2**32 − 1.
# One range for every seed, so a seed that works for EM also works for the PyMC twin.
MAX_SEED = 2**32 - 1


def whole_number(value: Any, argument: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; bools, strings, NaN and fractions are refused."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = math.isfinite(value) and value == int(value) and value >= minimum
    if not ok:
        raise ValueError(f"{argument} must be a whole number >= {minimum}; got {value!r}.")
    return int(value)


def seed_value(seed: Any, argument: str = "seed") -> int | None:
    """``seed`` as None or an int in [0, 2**32 − 1] (the range PyMC's samplers accept)."""
    if seed is None:
        return None
    ok = isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED
    if not ok:
        raise ValueError(f"{argument} must be None or a whole number from 0 to 2**32 - 1 = {MAX_SEED}; got {seed!r}.")
    return int(seed)


def positive_number(value: Any, argument: str, meaning: str = "") -> float:
    """``value`` as a finite float > 0 (``meaning`` is appended in brackets to the message)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        extra = f" ({meaning})" if meaning else ""
        raise ValueError(f"{argument} must be a positive finite number{extra}; got {value!r}.")
    return float(value)


def float_array(values: Any, argument: str, allowed: str) -> np.ndarray:
    """``values`` as a float array, or a ValueError saying ``allowed`` (e.g. "2 numbers (theta_A, theta_B)")."""
    if isinstance(values, (str, bytes)) or isinstance(values, dict):
        raise ValueError(f"{argument} must hold {allowed}; got {values!r}.")
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{argument} must hold {allowed}; got {values!r}.") from None
