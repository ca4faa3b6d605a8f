"""Two coins, one sequence of tosses, every toss from c1 or c2 picked with probability 1/2.

The lecture's example: the sequence ``HTTHHTHTHHTHTHTHHTHT`` (11 heads, 9 tails), started at
p1 = 1/2, p2 = 1/4. It is the coin-set mixture of :mod:`.coins` with sets of ONE toss, so
this module only renames θ to p and reads the data as a sequence; the formulas are those
of :mod:`.coins`:

    E-step   c_i1 = ½ p1^x_i (1 − p1)^(1−x_i) / Σ_c ½ p_c^x_i (1 − p_c)^(1−x_i)
    M-step   p_c  = Σ_i c_ic x_i / Σ_i c_ic     (heads credited to c / tosses credited to c)

From the lecture's start a head is credited 2/3 to c1, a tail 2/5, so c1 gets 22/3 heads
and 18/5 tails and p1 = 110/164; c2 gets 11/3 and 27/5, p2 = 55/136.

A single toss is H with probability (p1 + p2)/2, so the likelihood depends on p1 and p2
only through their mean: every point of the ridge (p1 + p2)/2 = h/N is a maximum, and EM
stops wherever its path first meets it. Compare the twins on (p1 + p2)/2, never on p1, p2.

Parameters are ``{"p": array([p1, p2])}``. Data are :class:`.coins.TossSets` with every
set of size 1; the log-likelihood is that of the sequence (log C(1, x) = 0).

:func:`fit` runs these formulas through :mod:`.coins`' fast path: a sequence of any length
has two distinct tosses, H and T, so an iteration is the E-step for those two, weighted by
the counts of heads and tails (:func:`fused_step`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import coins
from .checks import check
from .components import order_components, warn_if_tied
from .driver import EMResult, Params, run_em_multistart

__all__ = [
    "COINS",
    "LECTURE_SEQUENCE",
    "LECTURE_START",
    "e_step",
    "fast_e_step",
    "fast_log_likelihood",
    "fit",
    "fused_step",
    "labelled_mle",
    "log_likelihood",
    "m_step",
    "tosses_from_string",
]

LECTURE_SEQUENCE = "HTTHHTHTHHTHTHTHHTHT"
LECTURE_START = (0.5, 0.25)
COINS = ("1", "2")


def tosses_from_string(sequence: str, *, argument: str = "tosses") -> coins.TossSets:
    """A sequence of ``H`` and ``T`` (case-insensitive) as sets of one toss each."""
    if not isinstance(sequence, str):
        raise ValueError(f"{argument} must be a string of H and T, e.g. 'HTTH'; got {sequence!r}.")
    if not sequence:
        raise ValueError(f"{argument} is empty; give at least one toss, e.g. 'HTTH'.")
    codes = coins.toss_codes(sequence)
    is_head = None if codes is None else codes == ord("H")
    if is_head is None or not np.all(is_head | (codes == ord("T"))):
        bad = sorted(set(sequence.upper()) - {"H", "T"})
        raise ValueError(
            f"{argument} = {sequence!r} contains {', '.join(map(repr, bad))}; "
            "only H (heads) and T (tails) are allowed."
        )
    heads = is_head.astype(np.int64)
    return coins.TossSets(heads, np.ones_like(heads))


def e_step(tosses: coins.TossSets, params: Params) -> np.ndarray:
    """Pr(coin | toss, p1, p2): shape (n_tosses, 2), columns (c1, c2), rows sum to 1."""
    return coins.e_step(tosses, {"theta": params["p"]})


def m_step(tosses: coins.TossSets, resp: np.ndarray) -> Params:
    """p_c = heads credited to coin c / tosses credited to coin c."""
    return {"p": coins.m_step(tosses, resp)["theta"]}


def log_likelihood(tosses: coins.TossSets, params: Params) -> float:
    """Σ_i log Σ_c ½ p_c^x_i (1 − p_c)^(1−x_i), in nats (total over the tosses)."""
    return coins.log_likelihood(tosses, {"theta": params["p"]})


def fused_step(tosses: coins.TossSets, params: Params) -> tuple[Params, float]:
    """One iteration on the two distinct tosses: ``(m_step(tosses, e_step(tosses, params)),
    log_likelihood(tosses, params))`` (:func:`.coins.fused_step` with θ named p)."""
    new, ll = coins.fused_step(tosses, {"theta": params["p"]})
    return {"p": new["theta"]}, ll


def fast_e_step(tosses: coins.TossSets, params: Params) -> np.ndarray:
    """:func:`e_step` computed once for H and once for T: shape (n_tosses, 2)."""
    return coins.fast_e_step(tosses, {"theta": params["p"]})


def fast_log_likelihood(tosses: coins.TossSets, params: Params) -> float:
    """:func:`log_likelihood` from the counts of heads and tails, nats."""
    return coins.fast_log_likelihood(tosses, {"theta": params["p"]})


def labelled_mle(tosses: coins.TossSets, labels: str | Sequence[Any]) -> Params:
    """MLE when the coin of every toss is known: p_c = heads of c's tosses / c's tosses.

    ``labels`` name the coin of each toss as 1 or 2: a string such as ``"1122..."`` or a
    sequence of ints or strings.
    """
    try:
        names = [str(label) for label in labels]
    except TypeError:
        raise ValueError(f"labels must name coin 1 or 2 for every toss, e.g. '1122' or [1, 1, 2, 2]; got {labels!r}.") from None
    if len(names) != tosses.n_sets:
        raise ValueError(f"labels must give one coin per toss ({tosses.n_sets}); got {len(names)}.")
    for i, name in enumerate(names):
        if name not in COINS:
            raise ValueError(f"labels must name coin 1 or 2 for every toss; got {labels[i]!r} at position {i}.")
    for coin in COINS:
        if coin not in names:
            raise ValueError(f"labels give coin {coin} no toss, so its bias p{coin} has no estimate.")
    return {"p": coins.labelled_mle(tosses, names, coins=COINS)["theta"]}


def fit(
    tosses: coins.TossSets,
    start: Sequence[float] = LECTURE_START,
    *,
    n_starts: int = 1,
    seed: int = 0,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> EMResult:
    """EM for the interleaved coins from ``start`` = (p1, p2).

    Ends on the ridge (p1 + p2)/2 = h/N at a point that depends on the start. With
    ``n_starts > 1`` the extra starts are uniform on (0.05, 0.95)² from
    ``np.random.default_rng(seed)``; since every ridge point has the same likelihood, the
    given start (the first) is the one returned, and ``local_maxima`` lists the
    different ridge points the starts reached. Warns
    :class:`~emtwin.em_reference.SymmetricFixedPointWarning` if it stops at p1 = p2.
    """
    if not isinstance(tosses, coins.TossSets):
        raise ValueError(
            "tosses must be a TossSets of single tosses, e.g. tosses_from_string('HTTH'); "
            f"got {type(tosses).__name__}."
        )
    n_starts, seed = check("n_starts", n_starts), check("seed", seed)
    p0 = coins.check_biases(start, names=("p1", "p2"), argument="start")
    starts = [{"p": p0}]
    if n_starts > 1:
        rng = np.random.default_rng(seed)
        starts += [{"p": rng.uniform(0.05, 0.95, size=2)} for _ in range(n_starts - 1)]
    # The slide's steps on the two distinct tosses (H, T): O(1) per iteration.
    result = run_em_multistart(
        tosses, starts, fast_e_step, m_step, fast_log_likelihood,
        canonical=lambda p: order_components(p, ["p"], "p", descending=True),
        tol=tol, max_iter=max_iter, step=fused_step,
    )
    warn_if_tied(result.params, ["p"], labels=("p1", "p2"))
    return result
