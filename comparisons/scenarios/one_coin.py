"""Registry entry: one coin, ten tosses, seven heads; MLE 7/10, posterior Beta(8, 4).

The one scenario whose posterior is known in closed form, so besides the harness's usual
checks it checks PyMC's fits against the exact answer:

- MAP = posterior mode (a + h − 1)/(a + b + N − 2), within the harness's 1e-4. PyMC's
  find_MAP leaves out the logodds Jacobian, so it finds the mode in p-space; with the
  default Beta(1, 1) prior that is the MLE h/N.
- NUTS mean and SD = those of Beta(a + h, b + N − h) within 4 Monte-Carlo standard errors:
  4 SD/√ESS for the mean, 4 SD/√(2 ESS) for the SD (its normal-theory error), with ESS the
  run's bulk effective sample size. An error check: NUTS must get an exact posterior right.
- ADVI mean within 0.25 posterior SD and ADVI SD within 25% of the closed form. A warning
  check, as DESIGN.md treats ADVI: a Gaussian in logodds space is not a Beta, so a gap is
  the approximation's, not a bug.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from emtwin.em_reference import one_coin as em_one_coin
from emtwin.em_reference.driver import EMResult

from ..scenario import NO_COMPONENTS, Check, Scenario, Simulator, flat_beta_prior

__all__ = ["ADVI_MEAN_SD", "ADVI_SD_RELATIVE", "MAP_ATOL", "MC_ERRORS", "SCENARIO", "closed_form_checks"]

MAP_ATOL = 1e-4  # DESIGN.md's EM vs MAP tolerance, in probability units
MC_ERRORS = 4.0  # NUTS tolerance, in Monte-Carlo standard errors
ADVI_MEAN_SD = 0.25  # ADVI mean tolerance, in posterior SDs
ADVI_SD_RELATIVE = 0.25  # ADVI SD tolerance, relative


def _fit_em(data: em_one_coin.Tosses, start: Mapping[str, Any], **options: Any) -> EMResult:
    return em_one_coin.fit(data, start["p"], **options)


def _build_model(data: em_one_coin.Tosses, **options: Any) -> Any:
    from emtwin.models import one_coin as pm_one_coin

    return pm_one_coin.build_model(data.heads, data.tosses, **options)


def closed_form_checks(comparison: Any) -> list[Check]:
    """PyMC's MAP, NUTS and ADVI against the exact Beta posterior (see the module docstring)."""
    data = comparison.data
    from emtwin.models import one_coin as pm_one_coin

    a, b = em_one_coin.check_prior(comparison.settings["model_options"].get("prior", pm_one_coin.DEFAULT_PRIOR))
    exact = em_one_coin.posterior(data, (a, b))
    h, n = data.heads, data.tosses
    form = f"Beta({a:g}+{h}, {b:g}+{n - h}) = Beta({exact.a:g}, {exact.b:g})"
    checks = []

    if comparison.map is not None:
        value = float(comparison.map.params["p"])
        gap = abs(value - exact.mode)
        checks.append(Check(
            "MAP = closed-form posterior mode", gap <= MAP_ATOL, gap, MAP_ATOL,
            f"MAP {value:.6f}, mode of {form} = (a+h−1)/(a+b+N−2) = {exact.mode:.6f} "
            "(find_MAP drops the logodds Jacobian: the mode in p-space)",
        ))

    nuts = comparison.nuts
    if nuts is not None:
        ess = nuts.diagnostics["min_ess_bulk"]
        mean, sd = float(nuts.mean["p"]), float(nuts.sd["p"])
        gap_sd = abs(mean - exact.mean) / exact.sd
        tol_sd = MC_ERRORS / math.sqrt(ess)
        checks.append(Check(
            "NUTS mean = closed-form posterior mean", gap_sd <= tol_sd, gap_sd, tol_sd,
            f"NUTS {mean:.4f}, mean of {form} = (a+h)/(a+b+N) = {exact.mean:.4f}: {gap_sd:.3f} posterior SD "
            f"apart, allowed {MC_ERRORS:g} Monte-Carlo SEs = {tol_sd:.3f} SD (bulk ESS {ess:.0f})",
        ))
        rel = abs(sd / exact.sd - 1)
        tol_rel = MC_ERRORS / math.sqrt(2 * ess)
        checks.append(Check(
            "NUTS SD = closed-form posterior SD", rel <= tol_rel, rel, tol_rel,
            f"NUTS {sd:.4f}, SD of {form} = {exact.sd:.4f}: {rel:.1%} off, "
            f"allowed {MC_ERRORS:g} Monte-Carlo SEs = {tol_rel:.1%}",
        ))

    advi = comparison.advi
    if advi is not None:
        mean, sd = float(advi.mean["p"]), float(advi.sd["p"])
        gap_sd = abs(mean - exact.mean) / exact.sd
        checks.append(Check(
            "ADVI mean = closed-form posterior mean", gap_sd <= ADVI_MEAN_SD, gap_sd, ADVI_MEAN_SD,
            f"ADVI {mean:.4f}, exact {exact.mean:.4f}: {gap_sd:.3f} posterior SD apart, allowed {ADVI_MEAN_SD:g}",
            "warning",
        ))
        rel = abs(sd / exact.sd - 1)
        checks.append(Check(
            "ADVI SD = closed-form posterior SD", rel <= ADVI_SD_RELATIVE, rel, ADVI_SD_RELATIVE,
            f"ADVI {sd:.4f}, exact {exact.sd:.4f}: {rel:.1%} off, allowed {ADVI_SD_RELATIVE:.0%} "
            "(mean-field Gaussian in logodds space, not a Beta)",
            "warning",
        ))
    return checks


# For the report's "as data grows" figure: the default data's MLE, 7/10.
TRUE_P = 0.7


def _draw(n: int, rng: np.random.Generator) -> em_one_coin.Tosses:
    """``n`` tosses of a coin with bias ``TRUE_P``."""
    return em_one_coin.Tosses.from_counts(int(np.sum(rng.random(n) < TRUE_P)), n)


SCENARIO = Scenario(
    name="one-coin",
    title="One coin, ten tosses: MLE h/N against the Beta posterior",
    source="warm-up before EM: no latent variable, MLE and posterior in closed form",
    make_data=lambda: em_one_coin.Tosses.from_string(em_one_coin.DEFAULT_SEQUENCE),
    default_start={"p": 0.5},
    fit_em=_fit_em,
    build_model=_build_model,
    components=NO_COMPONENTS,
    extra_checks=closed_form_checks,
    map_is_mle=flat_beta_prior,
    log_likelihood=em_one_coin.log_likelihood,
    simulator=Simulator(draw=_draw, sizes=(10, 40, 160, 640), unit="tosses", truth={"p": np.array(TRUE_P)}),
)
