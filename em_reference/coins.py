"""Two coins of unknown bias, each set of tosses made with one of them, chosen by a fair pick.

This is Do & Batzoglou (2008), "What is the expectation maximization algorithm?",
Nature Biotechnology 26:897, Figure 1b: five sets of ten tosses, start θ_A = 0.6,
θ_B = 0.5; one EM step gives θ_A ≈ 0.71, θ_B ≈ 0.58, and EM settles at θ_A ≈ 0.80,
θ_B ≈ 0.52. The lecture's interleaved tosses are the same model with sets of one toss.

Parameters are ``{"theta": array([θ_A, θ_B])}``: column 0 is coin A, column 1 coin B.
Log-likelihoods are of the head *counts* (they include log C(n, h)), the quantity a
Binomial likelihood in PyMC reports, so the two twins' numbers can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammaln, logsumexp, xlog1py, xlogy

from .checks import check, float_array
from .components import order_components, warn_if_tied
from .driver import EMResult, Params, run_em_multistart

__all__ = [
    "DO_BATZOGLOU_SETS",
    "TossSets",
    "e_step",
    "fit",
    "labelled_mle",
    "log_likelihood",
    "m_step",
]

# Figure 1 of Do & Batzoglou (2008); the coins that made them were B, A, A, B, A.
DO_BATZOGLOU_SETS = ("HTTTHHTHTH", "HHHHTHHHHH", "HTHHHHHTHH", "HTHTTTHHTT", "THHHTHHHTH")
COINS = ("A", "B")
# A fair pick of the coin for every set: Pr(A) = Pr(B) = 1/2.
LOG_PICK = np.log(0.5)


@dataclass(frozen=True)
class TossSets:
    """Head counts of sets of tosses.

    Attributes
    ----------
    heads : ndarray of int, shape (n_sets,)
    tosses : ndarray of int, shape (n_sets,)
        Set sizes; sets may differ in size.
    """

    heads: np.ndarray
    tosses: np.ndarray

    def __post_init__(self) -> None:
        # Built directly (TossSets(heads, tosses)) the data get the checks from_counts makes.
        heads, tosses = _checked_counts(self.heads, self.tosses, argument="heads")
        object.__setattr__(self, "heads", heads)
        object.__setattr__(self, "tosses", tosses)

    @property
    def tails(self) -> np.ndarray:
        return self.tosses - self.heads

    @property
    def n_sets(self) -> int:
        return len(self.heads)

    @classmethod
    def from_strings(cls, sets: Sequence[str], *, argument: str = "sets") -> TossSets:
        """Sets written as strings of ``H`` and ``T`` (case-insensitive), e.g. ``"HTTH"``."""
        if isinstance(sets, str):
            raise ValueError(
                f"{argument} must be a list of strings of H and T, one per set; got the single "
                f"string {sets!r}. Wrap it in a list, e.g. [{sets!r}]."
            )
        try:
            sets = list(sets)
        except TypeError:
            raise ValueError(
                f"{argument} must be a list of strings of H and T, one per set, e.g. ['HTTH', 'HHHT']; got {sets!r}."
            ) from None
        if not sets:
            raise ValueError(f"{argument} is empty; give at least one set of tosses, e.g. ['HTTH'].")
        for i, s in enumerate(sets):
            if not isinstance(s, str):
                raise ValueError(f"{argument}[{i}] must be a string of H and T; got {s!r}.")
            if not s:
                raise ValueError(f"{argument}[{i}] is an empty set of tosses; every set needs at least one toss.")
            bad = sorted(set(s.upper()) - {"H", "T"})
            if bad:
                raise ValueError(
                    f"{argument}[{i}] = {s!r} contains {', '.join(map(repr, bad))}; "
                    "only H (heads) and T (tails) are allowed."
                )
        heads = [s.upper().count("H") for s in sets]
        return cls(np.array(heads, dtype=np.int64), np.array([len(s) for s in sets], dtype=np.int64))

    @classmethod
    def from_counts(
        cls, heads: Sequence[int], tosses: int | Sequence[int], *, argument: str = "heads"
    ) -> TossSets:
        """Sets given as head counts and set sizes (one size for all, or one per set)."""
        return cls(*_checked_counts(heads, tosses, argument=argument))


def _checked_counts(heads: Any, tosses: Any, *, argument: str) -> tuple[np.ndarray, np.ndarray]:
    """Head counts and set sizes as int64 arrays of shape (n_sets,), or a ValueError."""
    heads_arr = np.asarray(heads)
    if heads_arr.ndim != 1 or heads_arr.size == 0:
        raise ValueError(
            f"{argument} must be a non-empty 1-D list of head counts; got shape {heads_arr.shape}."
        )
    tosses_arr = np.broadcast_to(np.asarray(tosses), heads_arr.shape) if np.ndim(tosses) == 0 else np.asarray(tosses)
    if tosses_arr.shape != heads_arr.shape:
        raise ValueError(
            f"tosses must be one set size or one per set ({heads_arr.size}); got {tosses_arr.size} sizes."
        )
    for name, arr in ((argument, heads_arr), ("tosses", tosses_arr)):
        whole = (
            np.issubdtype(arr.dtype, np.integer)
            or (np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
        )
        if not whole:
            raise ValueError(f"{name} must hold whole numbers; got {arr.tolist()}.")
    if np.any(tosses_arr < 1):
        raise ValueError(f"tosses must be at least 1 per set; got {tosses_arr.tolist()}.")
    if np.any(heads_arr < 0) or np.any(heads_arr > tosses_arr):
        raise ValueError(
            f"{argument} must lie between 0 and the set size; got heads {heads_arr.tolist()} "
            f"for set sizes {tosses_arr.tolist()}."
        )
    return heads_arr.astype(np.int64), tosses_arr.astype(np.int64)


def check_biases(values: Sequence[float], *, names: Sequence[str], argument: str) -> np.ndarray:
    """Coin biases as a float array, each strictly inside (0, 1), pairwise distinct."""
    arr = float_array(values, argument, f"{len(names)} numbers ({', '.join(names)})").reshape(-1)
    if arr.size != len(names):
        got = f"{values!r}" if np.ndim(values) == 0 else f"{arr.size}"
        raise ValueError(f"{argument} must hold {len(names)} values ({', '.join(names)}); got {got}.")
    for name, value in zip(names, arr):
        if not (0.0 < value < 1.0):
            raise ValueError(f"{name} must lie in (0, 1); got {value}.")
    if len(set(arr.tolist())) < arr.size:
        raise ValueError(
            f"{argument} = {arr.tolist()} gives two coins the same start; that is EM's symmetric "
            "fixed point (both coins stay equal forever). Start them at different values."
        )
    return arr


def _log_joint(sets: TossSets, theta: np.ndarray) -> np.ndarray:
    """log Pr(set i, coin c | θ), shape (n_sets, n_coins)."""
    log_binom = gammaln(sets.tosses + 1) - gammaln(sets.heads + 1) - gammaln(sets.tails + 1)
    # xlogy: an all-tails data set drives θ to exactly 0, where h·log θ must be 0·(−∞) = 0.
    return (
        LOG_PICK
        + log_binom[:, None]
        + xlogy(sets.heads[:, None], theta)
        + xlog1py(sets.tails[:, None], -theta)
    )


def e_step(sets: TossSets, params: Params) -> np.ndarray:
    """Pr(coin | set, θ) ∝ θ^h (1 − θ)^t; shape (n_sets, 2), columns (A, B), rows sum to 1."""
    log_joint = _log_joint(sets, params["theta"])
    # θ^h underflows for long sets (0.5^1100 == 0.0); normalise in log space instead.
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


def m_step(sets: TossSets, resp: np.ndarray) -> Params:
    """θ_c = heads credited to coin c / tosses credited to coin c."""
    return {"theta": (resp.T @ sets.heads) / (resp.T @ sets.tosses)}


def log_likelihood(sets: TossSets, params: Params) -> float:
    """Σ_i log Σ_c ½ C(n_i, h_i) θ_c^h_i (1 − θ_c)^t_i, in nats."""
    return float(logsumexp(_log_joint(sets, params["theta"]), axis=1).sum())


def labelled_mle(sets: TossSets, labels: Sequence[int | str], coins: Sequence[str] = COINS) -> Params:
    """MLE when the coin of every set is known: θ_c = heads of c's sets / tosses of c's sets.

    ``labels`` name the coin of each set, as indexes into ``coins`` or as the coin names.
    """
    index = np.array([coins.index(lab) if isinstance(lab, str) else int(lab) for lab in labels])
    if index.shape != sets.heads.shape:
        raise ValueError(f"labels must give one coin per set ({sets.n_sets}); got {index.size}.")
    if np.any((index < 0) | (index >= len(coins))):
        raise ValueError(f"labels must name coins {list(coins)}; got {list(labels)}.")
    missing = [coins[c] for c in range(len(coins)) if not np.any(index == c)]
    if missing:
        raise ValueError(f"labels give coin {', '.join(missing)} no set, so its bias has no estimate.")
    one_hot = np.eye(len(coins))[index]
    return m_step(sets, one_hot)


def fit(
    sets: TossSets,
    start: Sequence[float] = (0.6, 0.5),
    *,
    n_starts: int = 1,
    seed: int = 0,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> EMResult:
    """EM for the two-coin mixture from ``start`` = (θ_A, θ_B).

    With ``n_starts > 1`` the extra starts are drawn uniformly on (0.05, 0.95)² from
    ``np.random.default_rng(seed)``; the given start is always the first.

    Warns :class:`~emtwin.em_reference.SymmetricFixedPointWarning` when the two
    coins end equal (every set with the same head rate leads there from any start).
    """
    if not isinstance(sets, TossSets):
        raise ValueError(
            "sets must be a TossSets, e.g. TossSets.from_strings(['HTTH', 'HHHT']) or "
            f"TossSets.from_counts(heads, tosses); got {type(sets).__name__}."
        )
    n_starts, seed = check("n_starts", n_starts), check("seed", seed)
    theta0 = check_biases(start, names=("theta_A", "theta_B"), argument="start")
    starts = [{"theta": theta0}]
    if n_starts > 1:
        rng = np.random.default_rng(seed)
        starts += [{"theta": rng.uniform(0.05, 0.95, size=2)} for _ in range(n_starts - 1)]
    result = run_em_multistart(
        sets, starts, e_step, m_step, log_likelihood,
        canonical=lambda p: order_components(p, ["theta"], "theta", descending=True),
        tol=tol, max_iter=max_iter,
    )
    warn_if_tied(result.params, ["theta"], labels=("theta_A", "theta_B"))
    return result
