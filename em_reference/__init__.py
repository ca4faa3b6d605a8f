"""Hand-coded EM, NumPy and SciPy only: the reference twin of every scenario."""

from .driver import (
    EMConvergenceWarning,
    EMResult,
    LocalMaximum,
    SymmetricFixedPointWarning,
    run_em,
    run_em_multistart,
)

__all__ = [
    "EMConvergenceWarning",
    "EMResult",
    "LocalMaximum",
    "SymmetricFixedPointWarning",
    "run_em",
    "run_em_multistart",
]
