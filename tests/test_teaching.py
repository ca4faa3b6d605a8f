"""The teaching pictures (comparisons/report/teaching.py and pieces/model_on_data.py) against numbers worked out here by hand.

Every oracle is computed in this file independently of the EM code: Bayes' rule with
scipy.stats for the coin sets, Python Fractions for the lecture's interleaved tosses,
a matrix inverse for the ellipses, scipy densities for the 1-D mixture.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from emtwin.comparisons import get_scenario
from emtwin.comparisons.report import teaching
from emtwin.comparisons.report.pieces import model_on_data
from emtwin.comparisons import compare


@pytest.fixture(scope="module")
def em_only():
    """EM-only comparisons (no PyMC fit) of the lecture's scenarios: the data and EM's trace."""
    return {name: compare(name, methods=()) for name in
            ("coin-sets", "interleaved-coins", "gaussian-means", "gaussian-mixture", "gaussian-mixture-2d")}


def test_coin_sets_iteration_1_is_do_and_batzoglou_figure_1b(em_only):
    c = em_only["coin-sets"]
    table = teaching.credit_tables(get_scenario("coin-sets"), c, [1])[0]
    heads = np.array([5, 9, 8, 4, 7])
    # Bayes' rule at the start (0.6, 0.5), fair pick: Pr(A | h) = Bin(h|0.6) / (Bin(h|0.6) + Bin(h|0.5)).
    like_a, like_b = stats.binom.pmf(heads, 10, 0.6), stats.binom.pmf(heads, 10, 0.5)
    pr_a = like_a / (like_a + like_b)
    np.testing.assert_allclose(table.pr[:, 0], pr_a, rtol=1e-12)
    np.testing.assert_allclose(table.pr[:, 1], 1 - pr_a, rtol=1e-12)
    # D&B print these rounded: 0.45, 0.80, 0.73, 0.35, 0.65 for coin A.
    assert list(np.round(table.pr[:, 0], 2)) == [0.45, 0.80, 0.73, 0.35, 0.65]
    np.testing.assert_allclose(table.credited_heads[:, 0], pr_a * heads, rtol=1e-12)
    np.testing.assert_allclose(table.credited_tails[:, 1], (1 - pr_a) * (10 - heads), rtol=1e-12)
    heads_a, tails_a = (pr_a * heads).sum(), (pr_a * (10 - heads)).sum()
    heads_b, tails_b = ((1 - pr_a) * heads).sum(), ((1 - pr_a) * (10 - heads)).sum()
    # D&B's totals: ≈ 21.3 H, 8.6 T for A; ≈ 11.7 H, 8.4 T for B.
    assert [round(v, 1) for v in (heads_a, tails_a, heads_b, tails_b)] == [21.3, 8.6, 11.7, 8.4]
    np.testing.assert_allclose(table.total_heads, [heads_a, heads_b], rtol=1e-12)
    np.testing.assert_allclose(table.total_tails, [tails_a, tails_b], rtol=1e-12)
    np.testing.assert_allclose(table.after, [heads_a / (heads_a + tails_a), heads_b / (heads_b + tails_b)], rtol=1e-12)
    assert list(np.round(table.after, 2)) == [0.71, 0.58]
    # The M-step's answer is the parameter EM itself traced.
    np.testing.assert_allclose(table.after, c.em.param_trace["theta"][1], rtol=1e-12)


def test_coin_sets_tables_follow_em_to_0_80_and_0_52(em_only):
    c = em_only["coin-sets"]
    tables = teaching.credit_tables(get_scenario("coin-sets"), c)
    assert [t.iteration for t in tables] == list(range(1, c.em.n_iter + 1))
    for t in tables:
        np.testing.assert_allclose(t.before, c.em.param_trace["theta"][t.iteration - 1], rtol=0, atol=0)
        np.testing.assert_allclose(t.after, c.em.param_trace["theta"][t.iteration], rtol=1e-12)
    assert list(np.round(tables[-1].after, 2)) == [0.80, 0.52]


def test_interleaved_coins_iteration_1_is_the_slides_fractional_counts(em_only):
    c = em_only["interleaved-coins"]
    table = teaching.credit_tables(get_scenario("interleaved-coins"), c, [1])[0]
    p1, p2 = Fraction(1, 2), Fraction(1, 4)
    each_h = p1 / (p1 + p2)  # ½·p1 / (½·p1 + ½·p2)
    each_t = (1 - p1) / ((1 - p1) + (1 - p2))
    assert (each_h, each_t) == (Fraction(2, 3), Fraction(2, 5))
    sequence = "HTTHHTHTHHTHTHTHHTHT"
    n_h, n_t = sequence.count("H"), sequence.count("T")
    expected = {"c1 heads": n_h * each_h, "c1 tails": n_t * each_t,
                "c2 heads": n_h * (1 - each_h), "c2 tails": n_t * (1 - each_t)}
    assert list(expected.values()) == [Fraction(22, 3), Fraction(18, 5), Fraction(11, 3), Fraction(27, 5)]
    # One row for the H's, one for the T's, as on the slide.
    assert list(table.heads) == [1, 0] and list(table.count) == [n_h, n_t]
    assert [teaching.as_fraction(v) for v in table.pr[:, 0]] == [each_h, each_t]
    got = {"c1 heads": table.total_heads[0], "c1 tails": table.total_tails[0],
           "c2 heads": table.total_heads[1], "c2 tails": table.total_tails[1]}
    assert {k: teaching.as_fraction(v) for k, v in got.items()} == expected
    new_p1 = expected["c1 heads"] / (expected["c1 heads"] + expected["c1 tails"])
    new_p2 = expected["c2 heads"] / (expected["c2 heads"] + expected["c2 tails"])
    assert (new_p1, new_p2) == (Fraction(110, 164), Fraction(55, 136))
    assert [teaching.as_fraction(v) for v in table.after] == [new_p1, new_p2]
    assert (teaching.ratio_text(table.total_heads[0], table.total_tails[0]),
            teaching.ratio_text(table.total_heads[1], table.total_tails[1])) == ("110/164", "55/136")
    assert [f"{v:.4f}" for v in table.after] == ["0.6707", "0.4044"]


def test_numbers_are_fractions_only_when_exact():
    assert teaching.number_text(22 / 3) == "22/3" and teaching.number_text(3.0) == "3"
    assert teaching.number_text(0.4491489) == "0.4491"
    assert teaching.as_fraction(float("nan")) is None
    assert teaching.ratio_text(0.4491489, 1.0) is None


def test_iterations_pair_each_m_step_with_the_e_step_before_it(em_only):
    c = em_only["gaussian-mixture-2d"]
    steps = teaching.iterations(get_scenario("gaussian-mixture-2d"), c)
    assert steps.numbers == list(range(c.em.n_iter + 1))
    x = c.data.x
    for t in (0, 1, 5):
        before = {n: v[max(t - 1, 0)] for n, v in c.em.param_trace.items()}
        joint = np.column_stack([w * stats.multivariate_normal(mu, cov).pdf(x)
                                 for w, mu, cov in zip(before["weights"], before["mu"], before["cov"])])
        np.testing.assert_allclose(steps.responsibilities[t], joint / joint.sum(axis=1, keepdims=True), rtol=1e-9)
        np.testing.assert_array_equal(steps.params[t]["mu"], c.em.param_trace["mu"][t])
    np.testing.assert_array_equal(steps.loglik, c.em.loglik_trace)


def test_long_runs_keep_their_first_iterations_and_the_last():
    assert teaching.shown_iterations(3) == [0, 1, 2, 3]
    assert teaching.shown_iterations(500, cap=4) == [0, 1, 2, 3, 500]


def test_ellipses_are_one_and_two_mahalanobis_units_from_the_mean():
    mu, cov = np.array([3.0, 70.0]), np.array([[0.12, 0.8], [0.8, 35.0]])
    inverse = np.linalg.inv(cov)
    for radius in (1, 2):
        outline = teaching.ellipse_outline(mu, cov, radius)
        d = outline - mu
        np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, inverse, d), radius**2, rtol=1e-10)
        np.testing.assert_allclose(outline[0], outline[-1])  # closed


def test_the_posterior_band_of_identical_draws_is_the_mixture_density(em_only):
    c = em_only["gaussian-mixture"]
    grid = np.linspace(40, 100, 7)
    draws = {name: np.repeat(np.asarray(v)[None, :], 10, axis=0) for name, v in c.em.params.items()}
    band = teaching.posterior_density_band(c.data, draws, grid)
    w, mu, sd = (np.asarray(c.em.params[n]) for n in ("weights", "mu", "sigma"))
    by_hand = sum(w[j] * stats.norm(mu[j], sd[j]).pdf(grid) for j in range(2))
    np.testing.assert_allclose(band, [by_hand, by_hand], rtol=1e-12)
    # Gaussian means: equal weights 1/k and the known sigma.
    means = em_only["gaussian-means"]
    w, mu, sd = teaching.mixture_1d(means.data, means.em.params)
    assert list(w) == [0.5, 0.5] and list(sd) == [means.data.sigma] * 2


def test_the_pictures_draw(em_only):
    c = em_only["gaussian-mixture"]
    fig = model_on_data.density_figure(c.data, c.em.params, None, ["1", "2"], "t", "waiting")
    assert isinstance(fig, Figure)
    # Two weighted components and the mixture.
    assert len(fig.axes[0].lines) == 3
    c2 = em_only["gaussian-mixture-2d"]
    every = teaching.iterations(get_scenario("gaussian-mixture-2d"), c2)
    fig = model_on_data.ellipses_figure(c2.data, every, "t")
    assert len([ax for ax in fig.axes if ax.get_title().startswith("iteration")]) == len(every.numbers)
