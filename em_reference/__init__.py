"""Hand-coded EM in NumPy and SciPy (plus one Numba-compiled loop for large Gaussian
mixtures, tested against the slide-like steps): the reference twin of every scenario.
Never imports PyMC."""

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
