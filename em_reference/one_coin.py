"""One coin of unknown bias p, tossed N times: the warm-up before EM is needed.

Nothing is hidden here: every toss comes from the one coin, so the maximum-likelihood
estimate is the fraction of heads, p̂ = h / N, in closed form. The EM twin still exists so
that the harness can treat this scenario like every other one, and it is honest about what
EM does with nothing latent: the E-step is certain (Pr(coin | tosses) = 1), the M-step is
p = h / N, and the second step only confirms that nothing moved.

The Bayesian twin puts a Beta(a, b) prior on p; the posterior is Beta(a + h, b + N − h) in
closed form (:func:`posterior`), and :func:`bayes_vs_mle` tabulates how posterior mean and
MLE differ for small N and meet as N grows.

Parameters are ``{"p": array(p)}`` (a 0-d array). Log-likelihoods are of the head *count*
(they include log C(N, h)), the quantity PyMC's Binomial reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammaln, xlog1py, xlogy

from .checks import Whole, check
from .driver import EMResult, Params, run_em_multistart

__all__ = [
    "DEFAULT_SEQUENCE",
    "BayesVsMLERow",
    "BetaPosterior",
    "Tosses",
    "bayes_vs_mle",
    "check_bias",
    "check_prior",
    "e_step",
    "fit",
    "format_bayes_vs_mle",
    "log_likelihood",
    "m_step",
    "mle",
    "posterior",
]

# The scenario's default data, chosen for this project (not from a paper): ten tosses,
# seven heads, so p̂ = 0.7 and the flat-prior posterior Beta(8, 4) has mean 2/3.
DEFAULT_SEQUENCE = "HHTHHHTHTH"


@dataclass(frozen=True)
class Tosses:
    """N tosses of one coin, reduced to what the likelihood needs.

    Attributes
    ----------
    heads : int
        Number of heads h, 0 ≤ h ≤ N.
    tosses : int
        Number of tosses N ≥ 1.
    """

    heads: int
    tosses: int

    def __post_init__(self) -> None:
        # Built directly (Tosses(h, N)) the counts get the checks from_counts makes.
        n = check("tosses", self.tosses, Whole(1, floats=True))
        h = check("heads", self.heads, Whole(0, n, floats=True))
        object.__setattr__(self, "heads", h)
        object.__setattr__(self, "tosses", n)

    @property
    def tails(self) -> int:
        return self.tosses - self.heads

    @classmethod
    def from_string(cls, sequence: str, *, argument: str = "tosses") -> Tosses:
        """Tosses written as one string of ``H`` and ``T`` (case-insensitive), e.g. ``"HHTH"``."""
        if not isinstance(sequence, str):
            raise ValueError(f"{argument} must be a string of H and T, e.g. 'HHTH'; got {sequence!r}.")
        if not sequence:
            raise ValueError(f"{argument} is empty; give at least one toss, e.g. 'HHTH'.")
        bad = sorted(set(sequence.upper()) - {"H", "T"})
        if bad:
            raise ValueError(
                f"{argument} = {sequence!r} contains {', '.join(map(repr, bad))}; "
                "only H (heads) and T (tails) are allowed."
            )
        return cls(sequence.upper().count("H"), len(sequence))

    @classmethod
    def from_counts(cls, heads: Any, tosses: Any) -> Tosses:
        """Tosses given as a head count h and a number of tosses N."""
        return cls(heads, tosses)


def check_bias(value: Any, *, name: str = "p") -> float:
    """A coin's bias as a float strictly inside (0, 1)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be one number in (0, 1); got {value!r}.") from None
    if arr.size != 1:
        raise ValueError(f"{name} must be one number in (0, 1); got {arr.size} values {arr.ravel().tolist()}.")
    p = float(arr.reshape(()))
    if not 0.0 < p < 1.0:
        raise ValueError(f"{name} must lie in (0, 1); got {p}.")
    return p


def check_prior(prior: Any) -> tuple[float, float]:
    """The Beta prior (a, b) as two positive finite floats."""
    try:
        a, b = (float(v) for v in prior)
    except (TypeError, ValueError):
        raise ValueError(f"prior must be two positive numbers (a, b) for Beta(a, b); got {prior!r}.") from None
    if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
        raise ValueError(f"prior must be two positive numbers (a, b) for Beta(a, b); got {prior!r}.")
    return a, b


# --------------------------------------------------------------------------- the EM twin


def e_step(tosses: Tosses, params: Params) -> np.ndarray:
    """Pr(coin | tosses, p) = 1: one coin, nothing latent; shape (1, 1).

    One observation (the head count) and one component. The step is written out only so
    that the generic driver can run this scenario like the others; it infers nothing.
    """
    return np.ones((1, 1))


def m_step(tosses: Tosses, resp: np.ndarray) -> Params:
    """p = heads credited to the coin / tosses credited to the coin = h / N."""
    return {"p": resp[:, 0] @ [tosses.heads] / (resp[:, 0] @ [tosses.tosses])}


def log_likelihood(tosses: Tosses, params: Params) -> float:
    """log C(N, h) + h log p + (N − h) log(1 − p), in nats (total, one observation).

    ``xlogy`` gives 0 · log 0 = 0, so the boundary MLE p̂ = 0 (no heads) or 1 (no tails)
    has its true log-likelihood 0 + log C(N, h) instead of NaN.
    """
    p = params["p"]
    log_binom = gammaln(tosses.tosses + 1) - gammaln(tosses.heads + 1) - gammaln(tosses.tails + 1)
    return float(log_binom + xlogy(tosses.heads, p) + xlog1py(tosses.tails, -p))


def mle(tosses: Tosses) -> float:
    """The maximum-likelihood estimate p̂ = h / N, in closed form."""
    return tosses.heads / tosses.tosses


def fit(
    tosses: Tosses,
    start: Any = 0.5,
    *,
    n_starts: int = 1,
    seed: int = 0,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> EMResult:
    """EM for one coin from ``start`` = p: converges to h / N in two steps.

    Step 1 jumps from ``start`` to h / N; step 2 changes nothing (change 0 < ``tol``), so
    ``n_iter`` is 2 (1 when ``start`` already equals h / N). With ``n_starts > 1`` the
    extra starts are drawn uniformly on (0.05, 0.95) from ``np.random.default_rng(seed)``;
    they all end at the same point, the only maximum.
    """
    if not isinstance(tosses, Tosses):
        raise ValueError(
            "tosses must be a Tosses, e.g. Tosses.from_string('HHTH') or Tosses.from_counts(heads, tosses); "
            f"got {type(tosses).__name__}."
        )
    n_starts, seed = check("n_starts", n_starts), check("seed", seed)
    starts = [{"p": check_bias(start, name="p")}]
    if n_starts > 1:
        rng = np.random.default_rng(seed)
        starts += [{"p": rng.uniform(0.05, 0.95)} for _ in range(n_starts - 1)]
    return run_em_multistart(tosses, starts, e_step, m_step, log_likelihood, tol=tol, max_iter=max_iter)


# --------------------------------------------------------------------------- Bayesian vs MLE


@dataclass(frozen=True)
class BetaPosterior:
    """The posterior Beta(a, b) of a coin's bias."""

    a: float
    b: float

    @property
    def mean(self) -> float:
        """a / (a + b)."""
        return self.a / (self.a + self.b)

    @property
    def sd(self) -> float:
        """√(ab / ((a + b)² (a + b + 1)))."""
        s = self.a + self.b
        return math.sqrt(self.a * self.b / (s * s * (s + 1)))

    @property
    def mode(self) -> float:
        """(a − 1) / (a + b − 2), the MAP in p-space (what PyMC's find_MAP returns).

        When a < 1 ≤ b the density rises towards 0, so the mode is 0 (1 for b < 1 ≤ a).
        NaN when there is no single mode: a = b = 1 (flat) or a, b < 1 (modes at 0 and 1).
        """
        a, b = self.a, self.b
        if a >= 1 and b >= 1 and a + b > 2:
            return (a - 1) / (a + b - 2)
        if a < 1 <= b:
            return 0.0
        if b < 1 <= a:
            return 1.0
        return math.nan


def posterior(tosses: Tosses, prior: Sequence[float] = (1.0, 1.0)) -> BetaPosterior:
    """Beta(a, b) prior, h heads in N tosses → posterior Beta(a + h, b + N − h)."""
    a, b = check_prior(prior)
    return BetaPosterior(a + tosses.heads, b + tosses.tails)


@dataclass(frozen=True)
class BayesVsMLERow:
    """One row of :func:`bayes_vs_mle`: N tosses with h heads."""

    n: int
    heads: int
    mle: float
    posterior_mean: float
    posterior_sd: float

    @property
    def difference(self) -> float:
        """Posterior mean − MLE = (a − p̂ (a + b)) / (a + b + N): shrinks like 1/N."""
        return self.posterior_mean - self.mle

    @property
    def difference_in_sd(self) -> float:
        """The difference in posterior SDs: shrinks like 1/√N, so the prior stops mattering."""
        return self.difference / self.posterior_sd


def bayes_vs_mle(
    p_true: float,
    prior: Sequence[float] = (1.0, 1.0),
    sizes: Sequence[int] = (10, 100, 1000, 10_000),
    *,
    rng: np.random.Generator | None = None,
) -> list[BayesVsMLERow]:
    """MLE h / N against the Beta posterior as the number of tosses N grows.

    Parameters
    ----------
    p_true : float
        The coin's true bias, in [0, 1].
    prior : (a, b)
        Beta prior, both > 0.
    sizes : sequence of int
        The numbers of tosses N, each ≥ 1; one row each, in the order given.
    rng : numpy.random.Generator, optional
        None: every N gets its *typical* head count h = round(p_true · N) (halves up), so
        the table shows the prior's pull alone. A generator: one sequence of max(sizes)
        tosses is simulated and row N uses its first N tosses, as when one experiment goes on.

    Returns
    -------
    list of BayesVsMLERow
        N, h, MLE h / N, posterior mean (a + h) / (a + b + N) and SD, and their difference.
    """
    try:
        p = float(p_true)
    except (TypeError, ValueError):
        raise ValueError(f"p_true must be a number in [0, 1]; got {p_true!r}.") from None
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p_true must lie in [0, 1]; got {p}.")
    a, b = check_prior(prior)
    try:
        sizes = list(sizes)
    except TypeError:
        raise ValueError(f"sizes must be a list of whole numbers >= 1, e.g. [10, 100, 1000]; got {sizes!r}.") from None
    if not sizes:
        raise ValueError("sizes is empty; give at least one number of tosses, e.g. [10, 100, 1000].")
    try:
        sizes = [check("sizes", n, Whole(1)) for n in sizes]
    except ValueError:
        raise ValueError(f"sizes must be whole numbers >= 1; got {sizes}.") from None
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be None or a numpy.random.Generator, e.g. np.random.default_rng(0); got {type(rng).__name__}."
        )
    if rng is None:
        heads = [math.floor(p * n + 0.5) for n in sizes]
    else:
        cumulative = np.cumsum(rng.random(max(sizes)) < p)
        heads = [int(cumulative[n - 1]) for n in sizes]
    rows = []
    for n, h in zip(sizes, heads):
        post = posterior(Tosses(h, n), (a, b))
        rows.append(BayesVsMLERow(n, h, h / n, post.mean, post.sd))
    return rows


def format_bayes_vs_mle(rows: Sequence[BayesVsMLERow]) -> str:
    """The table as fixed-width text, one line per N."""
    lines = [f"{'N':>8}  {'h':>8}  {'MLE':>8}  {'post mean':>9}  {'post sd':>8}  {'mean−MLE':>10}  {'in SDs':>7}"]
    for r in rows:
        lines.append(
            f"{r.n:>8}  {r.heads:>8}  {r.mle:>8.4f}  {r.posterior_mean:>9.4f}  {r.posterior_sd:>8.4f}  "
            f"{r.difference:>+10.2e}  {r.difference_in_sd:>+7.3f}"
        )
    return "\n".join(lines)
