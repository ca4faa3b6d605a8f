"""Two coins of unknown bias, each set of tosses made with one of them, chosen by a fair pick.

This is Do & Batzoglou (2008), "What is the expectation maximization algorithm?",
Nature Biotechnology 26:897, Figure 1b: five sets of ten tosses, start θ_A = 0.6,
θ_B = 0.5; one EM step gives θ_A ≈ 0.71, θ_B ≈ 0.58, and EM settles at θ_A ≈ 0.80,
θ_B ≈ 0.52. The lecture's interleaved tosses are the same model with sets of one toss.

Parameters are ``{"theta": array([θ_A, θ_B])}``: column 0 is coin A, column 1 coin B.
Log-likelihoods are of the head *counts* (they include log C(n, h)), the quantity a
Binomial likelihood in PyMC reports, so the two twins' numbers can be compared.

The same steps, fast
--------------------
:func:`e_step`, :func:`m_step` and :func:`log_likelihood` are the slide, and the reference.
Two sets with the same (heads, tosses) get the same responsibilities, so the E-step need
only be computed once per *distinct* pair, and the M-step's sums Σ_i r_ic h_i and
Σ_i r_ic n_i are those pairs' responsibilities weighted by how often each occurs (the
sufficient statistics). A long interleaved sequence has two distinct sets, (1, 1) and
(0, 1), whatever its length; sets of ten tosses at most eleven. :func:`fit` runs the
slide's formulas on the distinct pairs (:func:`fused_step`, :func:`fast_e_step`,
:func:`fast_log_likelihood`), so an iteration costs O(distinct pairs) instead of O(sets),
with log C(n, h) computed once per data set (:attr:`TossSets.distinct`). Both agree to
rounding; the tests hold them to it.
"""

from __future__ import annotations

import functools
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
    "DistinctSets",
    "e_step",
    "fast_e_step",
    "fast_log_likelihood",
    "fit",
    "fused_step",
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
class DistinctSets:
    """The distinct (heads, tosses) pairs of a :class:`TossSets`, with their multiplicities.

    Attributes
    ----------
    heads, tosses : ndarray of float, shape (n_distinct,)
        Each distinct pair once (floats: they enter the M-step's weighted sums).
    counts : ndarray of float, shape (n_distinct,)
        How many sets have that pair; sums to ``n_sets``.
    inverse : ndarray of int, shape (n_sets,)
        Set i is pair ``inverse[i]``.
    log_binom : ndarray of float, shape (n_distinct,)
        log C(n, h) of each pair, nats: constant across iterations, so computed once.
    """

    heads: np.ndarray
    tosses: np.ndarray
    counts: np.ndarray
    inverse: np.ndarray
    log_binom: np.ndarray

    @property
    def tails(self) -> np.ndarray:
        return self.tosses - self.heads


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

    @functools.cached_property
    def distinct(self) -> DistinctSets:
        """The distinct (heads, tosses) pairs and how often each occurs (computed once)."""
        # One integer per pair (heads ≤ tosses, so heads + (max heads + 1)·tosses is
        # one-to-one); np.unique of ints is a sort, far cheaper than unique rows.
        key = self.heads + (int(self.heads.max()) + 1) * self.tosses
        _, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        heads, tosses = self.heads[first], self.tosses[first]
        log_binom = gammaln(tosses + 1) - gammaln(heads + 1) - gammaln(tosses - heads + 1)
        return DistinctSets(
            heads.astype(float), tosses.astype(float), counts.astype(float), inverse.reshape(-1), log_binom
        )

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
        parsed = _parse_sets(sets)
        if parsed is None:
            # Something is wrong: find the first bad set the slow way, for its message.
            _raise_for_first_bad_set(sets, argument)
        return cls(*parsed)

    @classmethod
    def from_counts(
        cls, heads: Sequence[int], tosses: int | Sequence[int], *, argument: str = "heads"
    ) -> TossSets:
        """Sets given as head counts and set sizes (one size for all, or one per set)."""
        return cls(*_checked_counts(heads, tosses, argument=argument))


_H, _T = ord("H"), ord("T")


def toss_codes(text: str) -> np.ndarray | None:
    """The characters of ``text`` upper-cased, as ASCII codes (uint8, one per character),
    or None if ``text`` is not ASCII (so not all H and T)."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    return np.frombuffer(raw.upper(), dtype=np.uint8)


def _parse_sets(sets: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(heads, tosses) of non-empty strings of H and T, vectorised; None if any set is not one."""
    try:
        joined = "".join(sets)       # TypeError unless every set is a str
    except TypeError:
        return None
    lengths = np.fromiter(map(len, sets), dtype=np.int64, count=len(sets))
    codes = toss_codes(joined)
    if codes is None or np.any(lengths == 0) or not np.all((codes == _H) | (codes == _T)):
        return None
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return np.add.reduceat((codes == _H).astype(np.int64), starts), lengths


def _raise_for_first_bad_set(sets: list[Any], argument: str) -> None:
    """Raise the ValueError for the first set that is not a non-empty string of H and T."""
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
    raise RuntimeError(f"emtwin bug: the vectorised parser refused {argument} that every per-set check accepts.")


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


# --------------------------------------------------------------------------- the same steps, fast


def _distinct_log_joint(pairs: DistinctSets, theta: np.ndarray) -> np.ndarray:
    """:func:`_log_joint` for each distinct pair once: shape (n_distinct, n_coins)."""
    return (
        LOG_PICK
        + pairs.log_binom[:, None]
        + xlogy(pairs.heads[:, None], theta)
        + xlog1py(pairs.tails[:, None], -theta)
    )


def _distinct_e_step(pairs: DistinctSets, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(responsibilities of each distinct pair, shape (n_distinct, 2); log Pr(pair | θ), shape
    (n_distinct,)): the E-step and its normaliser, in log space as in :func:`e_step`."""
    log_joint = _distinct_log_joint(pairs, theta)
    log_norm = np.logaddexp.reduce(log_joint, axis=1)
    return np.exp(log_joint - log_norm[:, None]), log_norm


def fused_step(sets: TossSets, params: Params) -> tuple[Params, float]:
    """One EM iteration on the distinct pairs: ``(m_step(sets, e_step(sets, params)),
    log_likelihood(sets, params))``, the ``step`` of :func:`~.driver.run_em`.

    θ_c = Σ_pairs count · r_c · h / Σ_pairs count · r_c · n: the slide's M-step with the sets
    that share a pair summed first.

    Returns
    -------
    (dict, float)
        ``{"theta": array([θ_A, θ_B])}`` after the M-step, and the total log-likelihood (nats)
        at ``params``.
    """
    pairs = sets.distinct
    resp, log_norm = _distinct_e_step(pairs, params["theta"])
    credited = resp * pairs.counts[:, None]
    return {"theta": (credited.T @ pairs.heads) / (credited.T @ pairs.tosses)}, float(pairs.counts @ log_norm)


def fast_e_step(sets: TossSets, params: Params) -> np.ndarray:
    """:func:`e_step` computed once per distinct pair: shape (n_sets, 2), rows sum to 1."""
    pairs = sets.distinct
    return _distinct_e_step(pairs, params["theta"])[0][pairs.inverse]


def fast_log_likelihood(sets: TossSets, params: Params) -> float:
    """:func:`log_likelihood` from the distinct pairs: total, nats, log C(n, h) included."""
    pairs = sets.distinct
    return float(pairs.counts @ _distinct_e_step(pairs, params["theta"])[1])


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
    # The slide's steps on the distinct (heads, tosses) pairs: O(distinct) per iteration.
    result = run_em_multistart(
        sets, starts, fast_e_step, m_step, fast_log_likelihood,
        canonical=lambda p: order_components(p, ["theta"], "theta", descending=True),
        tol=tol, max_iter=max_iter, step=fused_step,
    )
    warn_if_tied(result.params, ["theta"], labels=("theta_A", "theta_B"))
    return result
