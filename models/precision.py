"""What the PyMC twin computes in: float64 arithmetic, the same bits in every process.

Two traps make a PyMC twin's numbers differ from the EM twin's, or from its own in another
process, with nothing in the output saying why:

* **fastmath.** PyTensor's Numba backend compiles with LLVM's fast-math flags by default
  (``reassoc``, ``contract``: sums reordered, ``a*b + c`` fused). A graph compiled afresh
  inlines its kernels and is fused one way; the same graph loaded from the on-disk Numba
  cache links separately cached kernels and is fused another. Measured here on the 2-D
  Gaussian mixture's log-likelihood: -1458.8117439303694 cold, -1458.8117439303678 warm, so
  ``emtwin compare`` in a fresh process (cold) and in a pool worker (warm) differed in the
  last bits. :func:`exact_arithmetic` compiles without fast-math: one answer, cold or warm.
* **narrow floats.** A Python number in a model becomes the narrowest constant that holds
  it (``n=197`` is int16, ``sigma=0.5`` is float32: both exact) and operations on such a
  constant compute in float32: ``pm.Multinomial(n=197, ...)`` has ``gammaln(198)`` in
  float32 and a log-likelihood 1.4e-5 nats from SciPy's; ``pm.Normal(mu, sigma=0.5)`` has
  ``log(0.5)`` in float32, 1.9e-9 nats per point. :func:`narrow_float_computations` finds such operations in the
  uncompiled log-likelihood graph (the compiled one folds them into an already rounded
  float64 constant, so it cannot be seen there) and keeps the ones whose value really
  changes; :func:`explain_narrow_floats` words them for a failing check.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable, equal_computations
from pytensor.graph.traversal import ancestors, applys_between, graph_inputs

from .fast_calls import fast_calls

__all__ = ["NarrowFloat", "as_copied", "compile_fn", "exact_arithmetic", "explain_narrow_floats", "generated_source_dir",
           "narrow_float_computations"]


@contextlib.contextmanager
def exact_arithmetic() -> Iterator[None]:
    """Compile PyTensor functions inside this block without Numba's fast-math flags.

    Every compile emtwin makes (its own compiled functions, ``pm.sample``'s) runs
    inside it, so a number does not depend on whether the PyTensor cache was warm. The flag
    is restored on exit: a user's own PyTensor settings stay theirs. PyMC's chain processes
    must compile the same way: a forked chain inherits the flag (``fit_nuts`` asks for
    fork where there is one); a spawned chain imports PyTensor afresh and reads
    ``PYTENSOR_FLAGS``, which carries the flag for the duration of the block.

    Functions compiled inside it also call their compiled code without Numba typing their
    arguments on every call (:mod:`.fast_calls`): the same code, the same bits, a tenth of
    the call's cost.

    And the Python source PyTensor generates for each compiled function goes to
    :func:`generated_source_dir`, one file per distinct source, instead of a new file in the
    system's temporary folder on every compile, which PyTensor never removes (one
    ``emtwin compare coin-sets`` left 173 files in /tmp, the test suite about 16 000).
    """
    flags = {"numba__fastmath": False}
    if not pytensor.config.generated_src_dir:  # a folder the user chose stays theirs
        flags["generated_src_dir"] = str(generated_source_dir())
    # Spawned chain processes read PYTENSOR_FLAGS; a folder name with "," or "=" cannot go there.
    exported = [f"{k}={v}" for k, v in flags.items() if not ("," in str(v) or "=" in str(v))]
    before = os.environ.get("PYTENSOR_FLAGS")
    os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (before, *exported) if f)
    try:
        with pytensor.config.change_flags(**flags), fast_calls():
            yield
    finally:
        if before is None:
            os.environ.pop("PYTENSOR_FLAGS", None)
        else:
            os.environ["PYTENSOR_FLAGS"] = before


def generated_source_dir() -> Path:
    """Where the source of the functions emtwin compiles is kept: beside PyTensor's compiled
    code (its ``compiledir``), named by content, so a warm process reuses the files and PyTensor
    removes the ones unused for weeks."""
    return Path(pytensor.config.compiledir) / "generated-src"


def compile_fn(model, outputs, inputs):
    """``model.compile_fn(outputs, inputs=inputs, point_fn=False)`` under
    :func:`exact_arithmetic`: how every emtwin function of a PyMC model is compiled.

    Compiled once per structure: where a function of another model computed the same graph
    on its own data, it is copied for this model's data (:func:`same_structure`)."""
    # A single output stays single (the function then returns one value, not a list).
    single = isinstance(outputs, Variable)
    outputs_list = [outputs] if single else list(outputs)
    inputs = list(inputs)
    with exact_arithmetic():
        for earlier_outputs, earlier_inputs, earlier_single, fn in reversed(_COMPILED):
            swap = same_structure(earlier_outputs, earlier_inputs, outputs_list, inputs)
            if swap is not None and earlier_single == single:
                return copied_for(fn, swap)
        fn = as_copied(model.compile_fn(outputs, inputs=inputs, point_fn=False))
    keep_compiled(_COMPILED, (outputs_list, inputs, single, fn))
    return fn


# --------------------------------------------------------------------------- one compile per structure
#
# A model built again on other data of the same size or another (the report's data sizes,
# a test's hypothesis cases, a user's refit) has the same graph with other pm.Data values:
# its data are shared variables, inputs of the compiled function. Rewriting and linking
# that graph again took about 1 s a function warm; ``Function.copy(swap=...)`` runs the
# same compiled code on the other model's shared variables in a few milliseconds, so
# the numbers are the bits a fresh compile gives (tests/test_model_data.py).

MAX_REMEMBERED = 64  # compiled functions kept for reuse, newest last
_COMPILED: list[tuple[list[Variable], list[Variable], bool, Any]] = []


def keep_compiled(store: list, entry: tuple) -> None:
    store.append(entry)
    del store[:-MAX_REMEMBERED]


def _shared_by_key(outputs: Sequence[Variable], inputs: Sequence[Variable]) -> dict[Any, SharedVariable] | None:
    """The shared variables ``outputs`` read beyond ``inputs``: data by name, unnamed ones
    (random generators) by their place in the graph. None if a name is used twice."""
    shared = [v for v in graph_inputs(outputs, blockers=inputs) if isinstance(v, SharedVariable)]
    unnamed = iter(range(len(shared)))
    by_key = {v.name if v.name is not None else ("unnamed", next(unnamed)): v for v in shared}
    return by_key if len(by_key) == len(shared) else None


def same_structure(earlier_outputs: Sequence[Variable], earlier_inputs: Sequence[Variable],
                   outputs: Sequence[Variable], inputs: Sequence[Variable]) -> dict[SharedVariable, SharedVariable] | None:
    """The swap {earlier shared variable: this one} under which ``outputs`` of ``inputs``
    are the computation ``earlier_outputs`` of ``earlier_inputs`` (same operations, same
    constants, inputs and data of the same types, data matched by name, generators by
    place); None otherwise."""
    if len(earlier_outputs) != len(outputs) or len(earlier_inputs) != len(inputs):
        return None
    if any(a.type != b.type for a, b in zip(earlier_inputs, inputs, strict=True)):
        return None
    before, now = _shared_by_key(earlier_outputs, earlier_inputs), _shared_by_key(outputs, inputs)
    if before is None or now is None or before.keys() != now.keys():
        return None
    if any(before[name].type != now[name].type for name in now):
        return None
    names = list(now)
    if not equal_computations(list(earlier_outputs), list(outputs), in_xs=[*earlier_inputs, *(before[n] for n in names)],
                              in_ys=[*inputs, *(now[n] for n in names)]):
        return None
    return {before[n]: now[n] for n in names}


def as_copied(fn: Any) -> Any:
    """``fn`` (a freshly compiled PyTensor Function) in the form in which every model of its
    structure runs it, so that Numba compiles it once.

    ``Function.copy`` rebuilds the graph's client lists. Where the graph carries extra
    orderings (an in-place operation must follow every other reader of what it overwrites),
    the copy may run two independent nodes in the other order (the 2-D mixture's
    log-likelihood: ``DimShuffle`` and ``ExpandDims`` of one ``Dot``). Numba keys its disk
    cache on the generated program, so the fresh function and the copies other models get
    were two compiles of one graph, 20-26 s each on a fresh machine. Such a function is kept
    as a copy of itself (a copy of a copy keeps the order: tests/test_model_data.py); same
    operations on the same values, so the same bits, for a link (about 0.15 s), not a
    rewrite. Without extra orderings the order is the graph's structure alone (PyTensor's
    plain toposort), the same in every copy, and ``fn`` is kept as it is."""
    return fn.copy() if fn.maker.fgraph.orderings() else fn


def copied_for(fn: Any, swap: dict[SharedVariable, SharedVariable]) -> Any:
    """``fn`` (a compiled PyTensor Function) copied to read the new shared variables in
    ``swap`` instead of the old ones it was compiled on."""
    used = {i.variable for i in fn.maker.inputs}
    return fn.copy(swap={old: new for old, new in swap.items() if old in used and old is not new})


@dataclass(frozen=True)
class NarrowFloat:
    """One operation of the log-likelihood computed in a float narrower than ``floatX``.

    ``operation`` is the PyTensor operation (``Gammaln``), ``dtype`` the narrow float it
    computed in, ``inputs`` its inputs as text with their dtypes, ``variable`` the observed
    variable whose log-likelihood holds it, ``value`` and ``exact`` its value as computed and
    recomputed in ``floatX`` (the largest entry difference is ``error``), ``sources`` the
    small-integer constants it is computed from (where a Python int entered the model).
    """

    operation: str
    dtype: str
    inputs: tuple[str, ...]
    variable: str
    value: float
    exact: float
    error: float
    sources: tuple[float, ...] = ()

    def describe(self) -> str:
        return (
            f"{self.operation} on {', '.join(self.inputs)} is computed in {self.dtype} in the log-likelihood "
            f"of {self.variable!r} ({self.value!r} instead of {self.exact!r}, off by {self.error:.3g})"
        )


def _value_text(data: np.ndarray) -> str:
    data = np.asarray(data)
    return str(data.item()) if data.size == 1 else f"an array of shape {data.shape}"


def _narrow_constants(var: Variable) -> list[Constant]:
    """The scalar constants narrower than 64 bits that ``var`` is computed from: where a
    Python number entered the model (an int that fits int16, a float exact in float32)."""
    return [a for a in ancestors([var]) if isinstance(a, Constant) and str(a.dtype).startswith(("int", "uint", "float"))
            and np.dtype(a.dtype).itemsize < 8 and np.size(a.data) == 1
            and abs(float(np.asarray(a.data).item())) not in (0.0, 1.0)]


def _shown(var: Variable, constant_only: bool) -> str:
    if isinstance(var, Constant):
        return f"the constant {_value_text(var.data)} ({var.dtype})"
    if not constant_only:
        return f"{var.name or 'a value'} ({var.dtype})"
    sources = _narrow_constants(var)
    origin = f" (from the constant {', '.join(_value_text(c.data) for c in sources)})" if sources else ""
    return f"the {var.dtype} value {_value_text(_evaluate([var])[0])}{origin}"


def _narrow(dtype: str) -> bool:
    return dtype.startswith("float") and np.dtype(dtype).itemsize < np.dtype(pytensor.config.floatX).itemsize


def _evaluate(outputs: Sequence[Variable]) -> list[np.ndarray]:
    # The Python linker with no rewrites: each operation computed exactly as the graph says
    # (the rewrites would fold the narrow constant into float64 and hide it), compiled in
    # milliseconds.
    mode = pytensor.compile.mode.Mode(linker="py", optimizer=None)
    return [np.asarray(v) for v in pytensor.function([], list(outputs), mode=mode, on_unused_input="ignore")()]


def narrow_float_computations(model, variables: Sequence[Variable] | None = None) -> list[NarrowFloat]:
    """Operations in the log-likelihood of ``model``'s observed variables (or of
    ``variables``) that compute in a float narrower than ``floatX`` and thereby change a value.

    Only where the narrowing starts is reported: an operation whose output is narrow while
    none of its inputs is a narrow float (an int8/int16 promoted to float32, say); what it
    feeds is narrow only because of it. Each such operation that depends on data and
    constants alone is recomputed with its inputs cast to ``floatX``; it is kept when the
    values differ (``log`` of the int8 constant 1 is 0 in any float and is dropped).
    Operations that depend on a free variable are kept as they are: their value changes
    with the parameters.

    Returns
    -------
    list of NarrowFloat
        In graph order, one per operation; empty when the log-likelihood is computed in
        ``floatX`` throughout.
    """
    observed = list(model.observed_RVs if variables is None else variables)
    value_vars = set(model.value_vars)
    found: list[NarrowFloat] = []
    seen = set()
    for rv in observed:
        logp = model.logp(vars=[rv], jacobian=False, sum=False)
        outputs = logp if isinstance(logp, list) else [logp]
        for node in applys_between([], outputs):
            if node in seen or not any(_narrow(out.dtype) for out in node.outputs):
                continue
            if any(_narrow(getattr(i, "dtype", "")) and not isinstance(i, Constant) for i in node.inputs):
                continue  # fed by a narrow float computed upstream: reported where that one starts
            seen.add(node)
            out = next(o for o in node.outputs if _narrow(o.dtype))
            constant_only = not value_vars & set(ancestors(node.inputs))
            inputs = tuple(_shown(i, constant_only) for i in node.inputs)
            operation = type(getattr(node.op, "scalar_op", node.op)).__name__
            sources = tuple(np.asarray(c.data).item() for i in node.inputs for c in _narrow_constants(i))
            if not constant_only:
                found.append(NarrowFloat(operation, out.dtype, inputs, rv.name, np.nan, np.nan, np.nan, sources))
                continue
            widened = node.op.make_node(
                *[pt.cast(i, pytensor.config.floatX) if getattr(i, "dtype", "").startswith(("int", "uint", "float"))
                  else i for i in node.inputs]
            ).outputs[node.outputs.index(out)]
            value, exact = _evaluate([out, widened])
            value, exact = value.astype(float), exact.astype(float)
            differ = ~((value == exact) | (np.isnan(value) & np.isnan(exact)))  # ±inf equal to itself
            if differ.any():
                with np.errstate(invalid="ignore"):
                    error = float(np.max(np.abs(value - exact)[differ]))
                found.append(NarrowFloat(operation, out.dtype, inputs, rv.name,
                                         float(value.ravel()[0]), float(exact.ravel()[0]), error, sources))
    return found


def explain_narrow_floats(model) -> str:
    """A sentence for a failing likelihood check: which operations of ``model``'s
    log-likelihood lose precision in a narrow float, and the fix; ``""`` when none does."""
    found = narrow_float_computations(model)
    if not found:
        return ""
    parts = "; ".join(f.describe() for f in found)
    values = sorted({v for f in found for v in f.sources}, key=lambda v: (isinstance(v, float), v))
    fixes = [f"{v} as np.int64({v})" if isinstance(v, int) else f"{v!r} as np.float64({v!r})" for v in values]
    fix = (f"pass {', '.join(fixes)}" if fixes
           else "pass numbers to the model as np.int64 / np.float64 arrays")
    return (
        f"the PyMC twin computes in a float narrower than {pytensor.config.floatX}: {parts}. A Python number in "
        f"a PyMC model becomes the narrowest type that holds it (197 is int16, 0.5 is float32), and operations "
        f"on such a constant run in float32: {fix}"
    )
