"""The coin EM's fast path (distinct (heads, tosses) pairs) against the slide's steps.

coins.e_step / m_step / log_likelihood are the reference; fused_step, fast_e_step and
fast_log_likelihood must give the same numbers to rounding, and fit (which runs the fast
path) the same trajectory as run_em on the slide's steps.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

from emtwin.em_reference import coins
from emtwin.em_reference import interleaved_coins as ic
from emtwin.em_reference.driver import run_em


def _sets_with_repeats(seed: int, n_sets: int = 400) -> coins.TossSets:
    """Sets of 1 to 12 tosses: many sets share a (heads, tosses) pair."""
    rng = np.random.default_rng(seed)
    tosses = rng.integers(1, 13, size=n_sets)
    heads = rng.binomial(tosses, rng.choice([0.8, 0.35], size=n_sets))
    return coins.TossSets.from_counts(heads, tosses)


def _loop_parse(sets: list[str]) -> tuple[list[int], list[int]]:
    """The obvious per-set parse, the oracle for the vectorised one."""
    return [s.upper().count("H") for s in sets], [len(s) for s in sets]


@pytest.mark.parametrize("seed", range(5))
def test_fused_step_is_the_slides_e_and_m_step(seed):
    sets = _sets_with_repeats(seed)
    assert len(sets.distinct.counts) < sets.n_sets  # the data do repeat pairs
    theta = np.random.default_rng(100 + seed).uniform(0.05, 0.95, size=2)
    params, ll = coins.fused_step(sets, {"theta": theta})
    reference = coins.m_step(sets, coins.e_step(sets, {"theta": theta}))["theta"]
    np.testing.assert_allclose(params["theta"], reference, rtol=1e-13, atol=0)
    assert ll == pytest.approx(coins.log_likelihood(sets, {"theta": theta}), rel=1e-13)
    assert coins.fast_log_likelihood(sets, {"theta": theta}) == pytest.approx(ll, rel=0, abs=0)
    np.testing.assert_allclose(coins.fast_e_step(sets, {"theta": theta}),
                               coins.e_step(sets, {"theta": theta}), rtol=0, atol=1e-14)


def test_distinct_pairs_and_their_counts():
    sets = coins.TossSets.from_counts([5, 9, 5, 0, 9, 5], [10, 10, 10, 3, 10, 10])
    pairs = sets.distinct
    got = sorted(zip(pairs.heads.tolist(), pairs.tosses.tolist(), pairs.counts.tolist()))
    assert got == [(0.0, 3.0, 1.0), (5.0, 10.0, 3.0), (9.0, 10.0, 2.0)]
    np.testing.assert_array_equal(pairs.heads[pairs.inverse], sets.heads)
    np.testing.assert_array_equal(pairs.tosses[pairs.inverse], sets.tosses)
    # log C(10, 5) = log 252, log C(10, 9) = log 10, log C(3, 0) = 0
    np.testing.assert_allclose(sorted(pairs.log_binom), sorted([0.0, np.log(252), np.log(10)]), rtol=1e-14)


def test_a_long_interleaved_sequence_has_two_distinct_tosses():
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(["H", "T"], size=100_000))
    pairs = ic.tosses_from_string(seq).distinct
    assert sorted(zip(pairs.heads.tolist(), pairs.counts.tolist())) == [(0.0, seq.count("T")), (1.0, seq.count("H"))]


@pytest.mark.parametrize("seed", range(3))
def test_fit_follows_the_slides_trajectory(seed):
    sets = _sets_with_repeats(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cap reached on purpose: compare 60 iterations
        fast = coins.fit(sets, (0.6, 0.5), max_iter=60)
        slide = run_em(sets, {"theta": [0.6, 0.5]}, coins.e_step, coins.m_step, coins.log_likelihood, max_iter=60)
    assert fast.n_iter == slide.n_iter
    np.testing.assert_allclose(fast.param_trace["theta"], slide.param_trace["theta"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(fast.loglik_trace, slide.loglik_trace, rtol=1e-13)
    np.testing.assert_allclose(fast.responsibilities, slide.responsibilities, atol=1e-12)


def test_fit_gives_the_lecture_numbers_after_one_step():
    fit1 = ic.fit(ic.tosses_from_string(ic.LECTURE_SEQUENCE), max_iter=1, tol=1.0)
    p1, p2 = fit1.param_trace["p"][1]
    assert p1 == pytest.approx(float(Fraction(110, 164)), rel=1e-14)
    assert p2 == pytest.approx(float(Fraction(55, 136)), rel=1e-14)
    sets = coins.fit(coins.TossSets.from_strings(coins.DO_BATZOGLOU_SETS), max_iter=1, tol=1.0)
    np.testing.assert_allclose(sets.param_trace["theta"][1], [0.71, 0.58], atol=0.005)


def test_a_million_tosses_give_the_exact_first_step_and_the_slides_numbers():
    # The case: 10^6 single tosses. From the lecture's start (1/2, 1/4) a head is
    # credited 2/3 to c1 and a tail 2/5 (module docstring of interleaved_coins), so the first
    # M-step is exact in fractions; Pr(H) = 3/8, so the start's log-likelihood is
    # h log 3/8 + t log 5/8.
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(["H", "T"], p=[0.55, 0.45], size=1_000_000))
    h, t = seq.count("H"), seq.count("T")
    exact = [float(Fraction(2, 3) * h / (Fraction(2, 3) * h + Fraction(2, 5) * t)),
             float(Fraction(1, 3) * h / (Fraction(1, 3) * h + Fraction(3, 5) * t))]
    tosses = ic.tosses_from_string(seq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = ic.fit(tosses, max_iter=1)
        slide = run_em(tosses, {"p": ic.LECTURE_START}, ic.e_step, ic.m_step, ic.log_likelihood, max_iter=1)
    # Two counts weighted instead of 10^6 terms summed: the fast path is exact to an ulp,
    # the slide's sums carry ~2e-12 of rounding (measured 1.8e-12).
    np.testing.assert_allclose(fast.param_trace["p"][1], exact, rtol=4e-16, atol=0)
    np.testing.assert_allclose(slide.param_trace["p"][1], exact, rtol=1e-11, atol=0)
    assert fast.loglik_trace[0] == pytest.approx(h * np.log(3 / 8) + t * np.log(5 / 8), rel=1e-15)
    assert fast.loglik_trace[0] == pytest.approx(slide.loglik_trace[0], rel=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_vectorised_parsing_matches_the_per_set_parse(seed):
    rng = np.random.default_rng(seed)
    sets = ["".join(rng.choice(list("HTht"), size=rng.integers(1, 15))) for _ in range(300)]
    parsed = coins.TossSets.from_strings(sets)
    heads, tosses = _loop_parse(sets)
    assert parsed.heads.tolist() == heads and parsed.tosses.tolist() == tosses
    seq = "".join(sets)
    assert ic.tosses_from_string(seq).heads.tolist() == [int(c in "Hh") for c in seq]


@pytest.mark.parametrize(("sets", "message"), [
    (["HT", "HH", 7, ""], "sets[2] must be a string of H and T; got 7."),
    (["HT", "", "HX"], "sets[1] is an empty set of tosses; every set needs at least one toss."),
    (["HT", "TT", "HTé"], "sets[2] = 'HTé' contains 'É'; only H (heads) and T (tails) are allowed."),
    (["HT", "T", "hxy"], "sets[2] = 'hxy' contains 'X', 'Y'; only H (heads) and T (tails) are allowed."),
])
def test_bad_sets_are_named_by_their_first_index(sets, message):
    with pytest.raises(ValueError) as info:
        coins.TossSets.from_strings(sets)
    assert str(info.value) == message


def test_bad_characters_in_a_sequence_are_named():
    with pytest.raises(ValueError) as info:
        ic.tosses_from_string("HTéH t")
    assert str(info.value) == "tosses = 'HTéH t' contains ' ', 'É'; only H (heads) and T (tails) are allowed."
