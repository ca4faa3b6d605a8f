"""Assert that an EM and its PyMC twin agree: in a pytest suite or anywhere else.

>>> import emtwin
>>> from emtwin.testing import assert_twins_agree
>>> assert_twins_agree(emtwin.compare("coin-sets", methods=["map"]))   # doctest: +SKIP

In pytest, the ``em_twins`` fixture (installed with emtwin, see :mod:`emtwin.pytest_plugin`)
is a :class:`TwinSession`: the same calls, with every PyMC model built and compiled once
per test session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from emtwin.comparisons.blackbox import BlackBoxComparison, check_em
from emtwin.comparisons.custom import ModelCache, compare, registered_or_loaded
from emtwin.comparisons.results import Comparison
from emtwin.comparisons.scenario import Scenario
from emtwin.models.derived import derive_em
from emtwin.models.steps import StepCheck, check_steps

__all__ = ["TwinSession", "assert_steps_agree", "assert_twins_agree", "disagreement_message"]

Result = Comparison | BlackBoxComparison


def disagreement_message(result: Result) -> str:
    """First line: what failed, with its numbers; then the whole table, failing rows marked."""
    failed = result.failures
    first = f"{failed[0].name}: {failed[0].detail}" if failed else "no check failed"
    more = f" (and {len(failed) - 1} more failed check{'s' if len(failed) > 2 else ''})" if len(failed) > 1 else ""
    return f"{result.scenario}: the twins disagree. {first}{more}\n\n{result.table()}"


def assert_twins_agree(result_or_scenario: Result | Scenario | str, /, **options: Any) -> Result:
    """Raise ``AssertionError`` unless the twins agree (a non-identifiable verdict counts as
    agreeing: the flat direction is the truth, not a bug).

    Parameters
    ----------
    result_or_scenario : Comparison, BlackBoxComparison, Scenario or str
        A finished comparison, or a scenario (object, registered name, or
        ``"path/to/file.py:function"``) to run through :func:`emtwin.compare` first.
    **options
        Passed to :func:`emtwin.compare` when a scenario is given.

    Returns
    -------
    Comparison or BlackBoxComparison
        The result, for further assertions on its numbers.

    Raises
    ------
    AssertionError
        Its message names the first failed check with its numbers, then shows the whole
        comparison table with the failing parameter rows marked ``◀ FAIL``.
    """
    __tracebackhide__ = True  # pytest shows the message, not this frame
    if isinstance(result_or_scenario, (Comparison, BlackBoxComparison)):
        if options:
            raise ValueError(
                f"options {sorted(options)} apply only when a scenario is given; this is a finished comparison."
            )
        result = result_or_scenario
    else:
        scenario = result_or_scenario
        if isinstance(scenario, str):
            scenario = registered_or_loaded(scenario)
        result = compare(scenario, **options)
    if not result.ok:
        raise AssertionError(disagreement_message(result))
    return result


def assert_steps_agree(
    e_step: Callable[..., Any], m_step: Callable[..., Any], data: Any, build_model: Callable[..., Any],
    start: Any, /, **options: Any,
) -> StepCheck:
    """Raise ``AssertionError`` unless every step of the user's EM agrees with the model
    (:func:`emtwin.check_steps`; a generalised-EM warning does not fail it).

    Parameters are those of :func:`emtwin.check_steps` (``log_likelihood``, ``observed``,
    ``max_iter`` as keywords).

    Returns
    -------
    StepCheck
        For further assertions on its numbers.

    Raises
    ------
    AssertionError
        First line ``iteration 1, m_step, lam: expected [...], got [...] (...)``, then the
        step table with the failing cell marked ``◀ FAIL``.
    """
    __tracebackhide__ = True
    check = check_steps(e_step, m_step, data, build_model, start, **options)
    if not check.ok:
        raise AssertionError(f"{check.message}\n\n{check.table()}")
    return check


class TwinSession:
    """Comparisons that share built PyMC models: each (builder, data, options) is built once,
    so PyTensor compiles it once, however many tests compare against it.

    The ``em_twins`` pytest fixture is one of these per test session.
    """

    def __init__(self) -> None:
        self.models = ModelCache()

    def _scenario(self, scenario: Scenario | str) -> Scenario:
        sc = registered_or_loaded(scenario) if isinstance(scenario, str) else scenario
        if not isinstance(sc, Scenario):
            raise ValueError(
                "scenario must be a registered name, 'path/to/file.py:function', or a Scenario from "
                f"emtwin.custom_scenario(...); got {type(scenario).__name__}."
            )
        return dataclasses.replace(sc, build_model=self.models.wrap(sc.build_model))

    def compare(self, scenario: Scenario | str, **options: Any) -> Comparison:
        """:func:`emtwin.compare`, with the model built at most once per session."""
        return compare(self._scenario(scenario), **options)

    def check_em(self, em: Any, data: Any, build_model: Callable[..., Any], **options: Any) -> BlackBoxComparison:
        """:func:`emtwin.check_em`, with the model built at most once per session."""
        return check_em(em, data, self._builder(build_model), **options)

    def assert_agree(self, scenario: Scenario | str, **options: Any) -> Comparison:
        """Run :meth:`compare` and :func:`assert_twins_agree` on the result."""
        __tracebackhide__ = True
        return assert_twins_agree(self.compare(scenario, **options))

    def assert_em_agrees(self, em: Any, data: Any, build_model: Callable[..., Any], **options: Any) -> BlackBoxComparison:
        """Run :meth:`check_em` and :func:`assert_twins_agree` on the result."""
        __tracebackhide__ = True
        return assert_twins_agree(self.check_em(em, data, build_model, **options))

    def derive_em(self, build_model: Callable[..., Any], data: Any, start: Any = None, **options: Any) -> Any:
        """:func:`emtwin.derive_em`, with the model built at most once per session."""
        return derive_em(self._builder(build_model), data, start, **options)

    def check_steps(self, e_step: Callable[..., Any], m_step: Callable[..., Any], data: Any,
                    build_model: Callable[..., Any], start: Any, **options: Any) -> StepCheck:
        """:func:`emtwin.check_steps`, with the model built at most once per session."""
        return check_steps(e_step, m_step, data, self._builder(build_model), start, **options)

    def assert_steps_agree(self, e_step: Callable[..., Any], m_step: Callable[..., Any], data: Any,
                           build_model: Callable[..., Any], start: Any, **options: Any) -> StepCheck:
        """:func:`assert_steps_agree`, with the model built at most once per session."""
        __tracebackhide__ = True
        return assert_steps_agree(e_step, m_step, data, self._builder(build_model), start, **options)

    def _builder(self, build_model: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(build_model):
            raise ValueError(f"build_model must be a function (data) -> pm.Model; got {type(build_model).__name__}.")
        return self.models.wrap(build_model)

    def clear(self) -> None:
        """Forget the built models."""
        self.models.clear()
