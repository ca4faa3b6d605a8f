"""What the teaching pictures and the step-through page show, computed from EM's own code.

- Coin data (coin sets, interleaved coins): Do & Batzoglou's Figure 1b as a table per
  iteration (:func:`credit_tables`). Each set's Pr(coin | set) from the scenario's E-step,
  the heads and tails it credits to each coin, the totals, and the new biases from the
  scenario's M-step. On the lecture's interleaved tosses, iteration 1 is the slide's
  fractional counts: each H credits 2/3 to c1, each T 2/5; totals 22/3, 18/5, 11/3, 27/5;
  p1 = 110/164, p2 = 55/136.
- 1-D mixtures: each weighted component density on a grid at EM's parameters, and the 94%
  band of the mixture density over posterior draws.
- 2-D mixtures: each component's 1σ and 2σ ellipse.

Iteration ``t`` is one E-step at the parameters after ``t − 1`` iterations followed by the
M-step that gives the parameters after ``t``: :func:`iterations` pairs each parameter row
of ``EMResult.param_trace`` with the responsibilities that produced it. Numbers only: the
figures are drawn by :mod:`.pieces.by_hand` and :mod:`.pieces.model_on_data`, and the
step-through page (:mod:`.steps`) shows the same states.

Which E-step a scenario's data take is looked up in :data:`E_STEPS` (data type, parameter
name, E-step); a custom scenario's own steps (``Scenario.steps``) come first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import norm

from emtwin.em_reference import coins as em_coins
from emtwin.em_reference import gaussian_means as em_means
from emtwin.em_reference import gaussian_mixture as em_gm
from emtwin.em_reference import interleaved_coins as em_interleaved
from emtwin.em_reference.driver import Params

if TYPE_CHECKING:  # annotations only
    from ..results import Comparison
    from ..scenario import Scenario

__all__ = [
    "COIN_M_STEPS",
    "E_STEPS",
    "CreditTable",
    "Iterations",
    "as_fraction",
    "coin_parameter",
    "credit_rows",
    "credit_tables",
    "density_grid",
    "e_step_of",
    "ellipse_outline",
    "iterations",
    "mixture_1d",
    "number_text",
    "observations_1d",
    "param_name",
    "posterior_density_band",
    "ratio_text",
    "shown_iterations",
    "thinning",
    "weighted_densities",
]

HDI_PROB = 0.94
# A number is written as a fraction when one with a denominator up to this equals it to
# rounding: the lecture's 22/3 is a fraction, D&B's 0.45 is not.
MAX_DENOMINATOR = 1000
MAX_DRAWS = 400  # posterior draws evaluated on the density grid

# (data type, the parameter the E-step reads, E-step): how each registered kind of data
# computes Pr(label | observation). One line per kind of data.
E_STEPS: list[tuple[type, str, Callable[[Any, Params], np.ndarray]]] = [
    (em_coins.TossSets, "theta", em_coins.e_step),
    (em_coins.TossSets, "p", em_interleaved.e_step),
    (em_means.MixtureData, "mu", em_means.e_step),
    (em_gm.MixtureData, "mu", em_gm.e_step),
]
# The coin scenarios' M-steps, for the credit tables.
COIN_M_STEPS = {"theta": em_coins.m_step, "p": em_interleaved.m_step}


# --------------------------------------------------------------------------- numbers as a slide writes them


def as_fraction(value: float, max_denominator: int = MAX_DENOMINATOR) -> Fraction | None:
    """``value`` as a fraction with a denominator up to ``max_denominator`` when one equals it
    to within 1e-12 (relative); None otherwise."""
    if not math.isfinite(value):
        return None
    guess = Fraction(value).limit_denominator(max_denominator)
    return guess if abs(float(guess) - value) <= 1e-12 * max(1.0, abs(value)) else None


def number_text(value: float, decimals: int = 4) -> str:
    """``22/3`` for a small fraction (``1`` for a whole number), else ``0.4520``."""
    frac = as_fraction(value)
    if frac is None:
        return f"{value:.{decimals}f}"
    return str(frac.numerator) if frac.denominator == 1 else f"{frac.numerator}/{frac.denominator}"


def ratio_text(heads: float, tails: float) -> str | None:
    """heads / (heads + tails) over a common denominator, as the slide writes it
    (22/3 and 18/5 give ``110/164``); None when either is not a small fraction."""
    h, t = as_fraction(heads), as_fraction(tails)
    if h is None or t is None:
        return None
    scale = math.lcm(h.denominator, t.denominator)
    return f"{h.numerator * (scale // h.denominator)}/{(h + t).numerator * (scale // (h + t).denominator)}"


# --------------------------------------------------------------------------- EM, iteration by iteration


def e_step_of(scenario: Scenario, comparison: Comparison) -> Callable[[Any, Params], np.ndarray] | None:
    """The E-step for the comparison's data: the scenario's own (a custom scenario), else the
    :data:`E_STEPS` entry matching the data's type and parameters; None if there is none."""
    if scenario.steps is not None:
        return scenario.steps[0]
    for kind, name, e_step in E_STEPS:
        if isinstance(comparison.data, kind) and name in comparison.em.params:
            return e_step
    return None


@dataclass(frozen=True)
class Iterations:
    """EM's run as the pictures show it, in EM's own component labels.

    Attributes
    ----------
    numbers : list of int
        The iterations kept (all of them unless the run is long, see :func:`shown_iterations`).
    params : list of dict
        ``params[i]``: the parameters after iteration ``numbers[i]`` (row 0: the start).
    loglik : ndarray, shape (len(numbers),)
        Total log-likelihood (nats) at ``params[i]``.
    responsibilities : list of ndarray or None
        ``responsibilities[i]``: iteration ``numbers[i]``'s E-step, computed at the parameters
        after the iteration before (for iteration 0, at the start); shape
        (n_observations, n_components). None without an E-step.
    """

    numbers: list[int]
    params: list[Params]
    loglik: np.ndarray
    responsibilities: list[np.ndarray] | None


def shown_iterations(n_iter: int, cap: int = 200) -> list[int]:
    """0..n_iter, or for a run longer than ``cap`` its first ``cap`` iterations and the last:
    EM moves most in its first steps, and each kept state is stored in the page."""
    return list(range(n_iter + 1)) if n_iter <= cap else [*range(cap), n_iter]


def _row(trace: dict[str, np.ndarray], t: int) -> Params:
    return {name: np.asarray(values[t]) for name, values in trace.items()}


def iterations(scenario: Scenario, comparison: Comparison, cap: int = 200) -> Iterations:
    """EM's parameters, log-likelihood and E-step per iteration (see :class:`Iterations`)."""
    em = comparison.em
    numbers = shown_iterations(em.n_iter, cap)
    params = [_row(em.param_trace, t) for t in numbers]
    e_step = e_step_of(scenario, comparison)
    resp = None
    if e_step is not None:
        resp = [np.asarray(e_step(comparison.data, _row(em.param_trace, max(t - 1, 0)))) for t in numbers]
    return Iterations(numbers, params, np.asarray(em.loglik_trace, dtype=float)[numbers], resp)


# --------------------------------------------------------------------------- coins: Do & Batzoglou Fig. 1b


@dataclass(frozen=True)
class CreditTable:
    """One EM iteration on coin data, as Do & Batzoglou's Figure 1b draws it.

    Sets with the same heads and size are one group (the interleaved tosses: one row for the
    H's, one for the T's); ``count`` says how many.

    Attributes
    ----------
    iteration : int
    coins : tuple of str
        The two coins' labels (``A``, ``B`` or ``1``, ``2``).
    before : ndarray, shape (2,)
        The biases the E-step ran at.
    heads, tails, count : ndarray of int, shape (n_groups,)
        Heads and tails of one set of the group, and the number of sets in it.
    pr : ndarray, shape (n_groups, 2)
        Pr(coin | set) from the E-step, columns in ``coins`` order.
    after : ndarray, shape (2,)
        The M-step's new biases.
    """

    iteration: int
    coins: tuple[str, str]
    before: np.ndarray
    heads: np.ndarray
    tails: np.ndarray
    count: np.ndarray
    pr: np.ndarray
    after: np.ndarray

    @property
    def credited_heads(self) -> np.ndarray:
        """Heads the group credits to each coin, shape (n_groups, 2): count × Pr(coin) × heads."""
        return (self.count * self.heads)[:, None] * self.pr

    @property
    def credited_tails(self) -> np.ndarray:
        return (self.count * self.tails)[:, None] * self.pr

    @property
    def total_heads(self) -> np.ndarray:
        """Σ over sets of the heads credited to each coin, shape (2,)."""
        return self.credited_heads.sum(axis=0)

    @property
    def total_tails(self) -> np.ndarray:
        return self.credited_tails.sum(axis=0)


def coin_parameter(comparison: Comparison) -> str | None:
    """The bias parameter (``theta``, ``p``) of a run on coin data that has a credit table
    (:data:`COIN_M_STEPS`); None for other data."""
    if not isinstance(comparison.data, em_coins.TossSets):
        return None
    return next((n for n in COIN_M_STEPS if n in comparison.em.params), None)


def credit_tables(scenario: Scenario, comparison: Comparison, shown: Sequence[int] | None = None) -> list[CreditTable]:
    """Do & Batzoglou's per-iteration table for the iterations ``shown`` (default: all), from
    the scenario's E-step and M-step at EM's traced parameters. Empty for other data."""
    data, em = comparison.data, comparison.em
    if not isinstance(data, em_coins.TossSets):
        return []
    name = coin_parameter(comparison)
    if name is None:
        return []
    e_step, m_step = e_step_of(scenario, comparison), COIN_M_STEPS[name]
    groups = sorted({(int(h), int(n)) for h, n in zip(data.heads, data.tosses)}, key=lambda g: -g[0] / g[1])
    # Keep the sets' own order when they are all different (D&B's five sets read 1..5).
    if len(groups) == data.n_sets:
        groups = [(int(h), int(n)) for h, n in zip(data.heads, data.tosses)]
    first = [next(i for i, (h, n) in enumerate(zip(data.heads, data.tosses)) if (h, n) == g) for g in groups]
    count = np.array([int(np.sum((data.heads == h) & (data.tosses == n))) for h, n in groups])
    labels = tuple(scenario.components.labels[:2]) or ("1", "2")
    tables = []
    for t in range(1, em.n_iter + 1) if shown is None else shown:
        before = np.asarray(em.param_trace[name][t - 1], dtype=float)
        resp = np.asarray(e_step(data, {name: before}))
        after = np.asarray(m_step(data, resp)[name], dtype=float)
        tables.append(CreditTable(t, labels, before, data.heads[first], data.tails[first], count, resp[first], after))
    return tables


def credit_rows(table: CreditTable, param: str) -> list[list[str]]:
    a, b = table.coins
    rows = []
    for g in range(len(table.heads)):
        one_toss = table.heads[g] + table.tails[g] == 1
        what = ("H" if table.heads[g] else "T") if one_toss else f"{table.heads[g]} H, {table.tails[g]} T"
        what += f" (×{table.count[g]})" if table.count[g] > 1 else ""
        rows.append([str(table.iteration), what, number_text(table.pr[g, 0]),
                     number_text(table.credited_heads[g, 0]), number_text(table.credited_tails[g, 0]),
                     number_text(table.pr[g, 1]), number_text(table.credited_heads[g, 1]),
                     number_text(table.credited_tails[g, 1])])
    rows.append([str(table.iteration), "total", "", number_text(table.total_heads[0]),
                 number_text(table.total_tails[0]), "", number_text(table.total_heads[1]),
                 number_text(table.total_tails[1])])
    new = []
    for j, coin in enumerate((a, b)):
        exact = ratio_text(table.total_heads[j], table.total_tails[j])
        new.append(f"{param_name(param, coin)} = " + (f"{exact} = " if exact else "") + f"{table.after[j]:.4f}")
    rows.append([str(table.iteration), "M-step", "", new[0], "", "", new[1], ""])
    return rows


def param_name(param: str, coin: str) -> str:
    return f"{param}{coin}" if coin[:1].isdigit() else f"{param}_{coin}"


# --------------------------------------------------------------------------- 1-D mixtures


def mixture_1d(data: Any, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(weights, means, SDs), each shape (k,) (or (n_draws, k) for draws), of a 1-D Gaussian
    mixture's parameters; None for other data."""
    if isinstance(data, em_means.MixtureData):
        mu = np.asarray(params["mu"], dtype=float)
        return np.full_like(mu, 1.0 / data.k), mu, np.full_like(mu, data.sigma)
    if isinstance(data, em_gm.MixtureData) and data.x.ndim == 1:
        return (np.asarray(params["weights"], dtype=float), np.asarray(params["mu"], dtype=float),
                np.asarray(params["sigma"], dtype=float))
    return None


def observations_1d(data: Any) -> np.ndarray:
    return np.asarray(data.z if isinstance(data, em_means.MixtureData) else data.x, dtype=float)


def weighted_densities(grid: np.ndarray, weights: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """w_j N(x | μ_j, σ_j) on ``grid``: shape (k, n_grid), or (n_draws, k, n_grid) for draws."""
    return weights[..., None] * norm.pdf(grid, mu[..., None], sigma[..., None])


def density_grid(x: np.ndarray, n: int = 300) -> np.ndarray:
    pad = 0.08 * np.ptp(x)
    return np.linspace(x.min() - pad, x.max() + pad, n)


def thinning(n_draws: int) -> int:
    """Thinning step that keeps at most MAX_DRAWS draws."""
    return max(1, int(np.ceil(n_draws / MAX_DRAWS)))


def posterior_density_band(data: Any, draws: dict[str, np.ndarray], grid: np.ndarray) -> np.ndarray | None:
    """The 3% and 97% quantiles of the mixture density over posterior draws, shape (2, n_grid)."""
    every = thinning(len(next(iter(draws.values()))))
    triple = mixture_1d(data, {name: value[::every] for name, value in draws.items()})
    if triple is None:
        return None
    mixture = weighted_densities(grid, *triple).sum(axis=1)
    tail = (1 - HDI_PROB) / 2
    return np.quantile(mixture, [tail, 1 - tail], axis=0)


# --------------------------------------------------------------------------- 2-D mixtures


def ellipse_outline(mu: np.ndarray, cov: np.ndarray, radius: float, n: int = 60) -> np.ndarray:
    """Points of {x : (x − μ)ᵀ Σ⁻¹ (x − μ) = radius²}, shape (n + 1, 2), closed: the
    component's ``radius``-σ ellipse."""
    values, vectors = np.linalg.eigh(np.asarray(cov, dtype=float))
    angle = np.linspace(0, 2 * np.pi, n + 1)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return (np.asarray(mu, dtype=float)[:, None] + radius * vectors @ (np.sqrt(values)[:, None] * circle)).T
