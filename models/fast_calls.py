"""PyTensor's Numba functions, called without typing their arguments afresh on every call.

PyTensor's Numba backend compiles a whole graph into one Numba function that takes its
inputs as ``*args``. Numba's dispatcher has a fast path in C for the types of positional
arguments, but a star-args tuple it types in Python, element by element, on every call:
measured here on the coin-sets ADVI step (12 inputs: the variational parameters, the
optimizer's state, the data, a random generator), 165-245 µs per call, of which the
compiled code's own work is under 20 µs. That is most of ADVI's 20,000 steps and of NUTS's
gradient evaluations.

:func:`fast_calls` makes the functions compiled inside it call the compiled code's entry
point directly once the dispatcher has chosen it, skipping the typing: the same machine
code on the same arguments, so the same bits. The choice is remembered per *fingerprint*
of the arguments (each array's dtype, ndim, contiguity, writeability and alignment, which
fix Numba's type for it; a random generator's class): an argument with another fingerprint,
or of any other kind, goes through the dispatcher as before, which compiles or picks its
overload. An entry point is taken only while the dispatcher holds a single overload, the
one it has just used for that fingerprint (with compilation allowed Numba requires exact
type matches, so that overload was compiled for exactly these types).

If PyTensor's internals differ from the ones this was written against (3.3), functions
are compiled as PyTensor makes them (:data:`AVAILABLE` is False); ``tests/test_fast_calls.py``
pins the behaviour on the installed versions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["AVAILABLE", "fast_calls", "is_fast"]

_depth = 0  # fast_calls() blocks open: functions compiled while > 0 get the fast thunk
_SLOW = object()  # a fingerprint that must keep going through the dispatcher


def _fingerprint(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """What fixes Numba's type of each argument; None if one is of a kind not handled here."""
    key = []
    for value in args:
        kind = type(value)
        if kind is np.ndarray:
            flags = value.flags
            key.append((value.dtype, value.ndim, flags.c_contiguous, flags.f_contiguous, flags.writeable,
                        flags.aligned))
        elif kind is np.random.Generator:
            key.append(kind)
        else:
            return None
    return tuple(key)


def _fast_thunk(slow: Any, fgraph_jit: Any, fgraph: Any, output_node: Any) -> Any:
    """A thunk doing what PyTensor's ``slow`` one does, by entry point where it can."""
    from pytensor.link.utils import raise_with_op

    thunk_inputs, thunk_outputs = slow.inputs, slow.outputs
    entry_points: dict[tuple[Any, ...], Any] = {}

    def thunk() -> None:
        args = tuple(x[0] for x in thunk_inputs)
        key = _fingerprint(args)
        entry = entry_points.get(key, _SLOW) if key is not None else _SLOW
        try:
            if entry is _SLOW:
                outputs = fgraph_jit(*args)
                if key is not None and key not in entry_points:
                    overloads = fgraph_jit.overloads
                    entry_points[key] = next(iter(overloads.values())).entry_point if len(overloads) == 1 else _SLOW
            else:
                outputs = entry(args)
        except Exception:
            raise_with_op(fgraph, output_node, thunk)
        for o_storage, o_val in zip(thunk_outputs, outputs):
            o_storage[0] = o_val

    thunk.inputs, thunk.outputs, thunk.lazy = thunk_inputs, thunk_outputs, False
    thunk.entry_points = entry_points  # for the tests: which fingerprints run by entry point
    return thunk


def _install() -> bool:
    try:
        from pytensor.link.basic import JITLinker
        from pytensor.link.numba.linker import NumbaLinker
    except ImportError:  # pragma: no cover - PyTensor without its Numba backend
        return False
    original = JITLinker.create_jitable_thunk
    if getattr(NumbaLinker.create_jitable_thunk, "_emtwin_fast", False):
        return True

    def create_jitable_thunk(self, compute_map, order, input_storage, output_storage, storage_map):
        thunks, output_nodes, fgraph_jit = original(self, compute_map, order, input_storage, output_storage,
                                                    storage_map)
        [slow] = thunks
        if _depth and slow.outputs and output_nodes and hasattr(fgraph_jit, "overloads"):
            thunks = [_fast_thunk(slow, fgraph_jit, self.fgraph, output_nodes[0])]
        return thunks, output_nodes, fgraph_jit

    create_jitable_thunk._emtwin_fast = True
    NumbaLinker.create_jitable_thunk = create_jitable_thunk
    return True


AVAILABLE = _install()


@contextlib.contextmanager
def fast_calls() -> Iterator[None]:
    """PyTensor functions compiled (``pytensor.function``, PyMC's ``compile_fn``,
    ``pm.sample``) inside this block call their compiled code by entry point. Functions
    compiled elsewhere, a user's own included, are left as PyTensor makes them."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1


def is_fast(fn: Any) -> bool:
    """Whether the compiled PyTensor function ``fn`` got the fast thunk (for the tests)."""
    return hasattr(getattr(fn, "vm", None), "entry_points")
