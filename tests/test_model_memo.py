"""comparisons/model_memo.py: one model per builder, data and options in a process."""

from __future__ import annotations

import threading

import numpy as np

from emtwin.comparisons import model_memo, registry
from emtwin.em_reference import coins
from emtwin.models.labels import observed_data


def test_equal_data_and_options_share_one_model_and_anything_else_gets_its_own():
    build = registry.get_scenario("coin-sets").build_model
    sets = coins.TossSets.from_strings(coins.DO_BATZOGLOU_SETS)
    first = model_memo.shared_model(build, sets)
    assert model_memo.shared_model(build, coins.TossSets.from_strings(coins.DO_BATZOGLOU_SETS), {}) is first
    other_data = model_memo.shared_model(build, coins.TossSets.from_counts([5, 9, 8, 4, 6], 10))
    other_prior = model_memo.shared_model(build, sets, {"prior": (2.0, 2.0)})
    assert len({id(first), id(other_data), id(other_prior)}) == 3
    assert observed_data(other_data).tolist() == [5, 9, 8, 4, 6]  # the data it was built on


def test_at_most_max_models_are_kept():
    build = registry.get_scenario("one-coin").build_model
    data = registry.get_scenario("one-coin").make_data()
    first = model_memo.shared_model(build, data, {"prior": (1.0, 1.0)})
    for a in range(2, model_memo.MAX_MODELS + 2):
        model_memo.shared_model(build, data, {"prior": (float(a), 1.0)})
    assert model_memo.shared_model(build, data, {"prior": (1.0, 1.0)}) is not first  # dropped, rebuilt


def test_data_that_cannot_be_hashed_get_a_model_of_their_own():
    lock = threading.Lock()  # does not pickle
    built = []
    model_memo.shared_model(lambda data: built.append(data) or "model", lock)
    model_memo.shared_model(lambda data: built.append(data) or "model", lock)
    assert built == [lock, lock]
