"""models/fast_calls.py: PyTensor's Numba functions called by entry point, with the same bits."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from emtwin.models import fast_calls
from emtwin.models.precision import exact_arithmetic


@pytest.fixture(scope="module")
def compiled():
    """One graph (a log-sum-exp with a shared vector and a random draw, like an ADVI step's
    inputs), compiled inside and outside the fast block."""
    x = pt.dvector("x")
    w = pytensor.shared(np.array([0.2, 0.3, 0.5]), name="w")
    rng = pytensor.shared(np.random.default_rng(0), name="rng")
    next_rng, noise = pt.random.normal(0.0, 1.0, size=3, rng=rng, return_next_rng=True)
    outputs, updates = [pt.logsumexp(pt.log(w) + x), noise.sum()], {rng: next_rng}
    with exact_arithmetic():
        fast = pytensor.function([x], outputs, updates=updates)
    with pytensor.config.change_flags(numba__fastmath=False):
        plain = pytensor.function([x], outputs[0])
    assert np.random.Generator in {type(storage[0]) for storage in fast.vm.inputs}
    return fast, plain


def test_the_installed_pytensor_is_the_one_it_was_written_for():
    assert fast_calls.AVAILABLE


def test_inside_the_block_functions_get_the_fast_call_and_outside_they_do_not(compiled):
    fast, plain = compiled
    assert fast_calls.is_fast(fast)
    assert not fast_calls.is_fast(plain)


def test_same_bits_as_pytensors_own_call_and_the_entry_point_is_used(compiled):
    fast, plain = compiled
    x = np.array([0.1, -2.0, 3.5])
    first, first_noise = fast(x)  # through Numba's dispatcher, which picks the overload
    assert len(fast.vm.entry_points) == 1
    assert callable(next(iter(fast.vm.entry_points.values())))
    again, again_noise = fast(x)  # by entry point
    expected = np.log(np.sum(np.array([0.2, 0.3, 0.5]) * np.exp(x)))
    assert first.tobytes() == again.tobytes() == plain(x).tobytes()
    assert float(again) == pytest.approx(expected, rel=1e-15)
    # The generator's state advanced through the entry point as through the dispatcher:
    # the second draw is the second of seed 0's stream.
    stream = np.random.default_rng(0)
    assert [first_noise, again_noise] == [stream.normal(size=3).sum(), stream.normal(size=3).sum()]


def test_an_argument_numba_types_differently_goes_through_the_dispatcher(compiled):
    """A strided view is another Numba type (layout A, not C): it must not reach the entry
    point compiled for contiguous arrays. PyTensor may copy it first; either way the answer
    is the same as PyTensor's own call."""
    fast, plain = compiled
    fast(np.zeros(3))
    wide = np.array([0.1, 9.0, -2.0, 9.0, 3.5, 9.0])
    view = wide[::2]
    assert not view.flags.c_contiguous
    assert fast(view)[0].tobytes() == plain(view).tobytes() == fast(np.ascontiguousarray(view))[0].tobytes()
    # Numba compiled a second overload for the view: from then on the dispatcher chooses.
    assert len(fast.vm.jit_fn.overloads) == 2
    strided = [key for key in fast.vm.entry_points if any(isinstance(a, tuple) and not a[2] for a in key)]
    assert strided and fast.vm.entry_points[strided[0]] is fast_calls._SLOW


def test_an_error_in_compiled_code_is_the_one_pytensor_raises():
    x = pt.dvector("x")
    i = pt.lscalar("i")
    with exact_arithmetic():
        fast = pytensor.function([x, i], x[i])
    plain = pytensor.function([x, i], x[i])
    data = np.array([1.0, 2.0])
    assert fast(data, 1) == fast(data, 1) == 2.0  # the second by entry point
    with pytest.raises(IndexError) as theirs:
        plain(data, 5)
    with pytest.raises(IndexError) as ours:
        fast(data, 5)
    assert str(ours.value) == str(theirs.value) == "index is out of bounds"
