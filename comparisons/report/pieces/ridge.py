"""The ridge: where the likelihood is flat (a non-identifiable scenario), one paragraph on
how flat, where each twin stopped and what the data do identify."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...scenario import flatten
from ..piece import Piece, point

if TYPE_CHECKING:  # annotations only
    from ..compute import ScenarioReport

__all__ = ["piece"]

KEY, HEADING = "ridge", "The ridge"
METHOD_NAMES = {"em": "EM", "map": "MAP", "advi_mean": "ADVI mean", "nuts_mean": "NUTS mean"}


def _ridge(r: ScenarioReport) -> str:
    """One paragraph: where the likelihood is flat, how flat, where each twin stopped, and
    what the data do identify."""
    sc, c, path = r.scenario, r.comparison, r.path
    end, start = path.values[-1], path.values[0]
    direction = flatten(c.curvature.flat_directions[0], sc.components)
    d_text = " ".join(f"{v:+.3f}·{n}" for n, v in direction.items() if abs(v) > 1e-3)
    ev = ", ".join(f"{v:.3g}" for v in c.curvature.eigenvalues)
    text = (f"The likelihood does not identify {', '.join(path.names)}. At EM's answer {point(path.names, end)} the "
            f"curvature of the log-likelihood (eigenvalues of its negative Hessian: {ev}) is zero along the direction "
            f"{d_text}: moving along it changes nothing the data can see, so every point of that line through EM's "
            "answer is a maximum.")
    ct = r.contour
    if ct is not None and ct.ridge is not None and len(ct.ridge_loglik):
        text += (f" Along the drawn segment, from {point(path.names, ct.ridge[0])} to "
                 f"{point(path.names, ct.ridge[-1])}, the log-likelihood varies by {float(np.ptp(ct.ridge_loglik)):.1e} "
                 "nats.")
    if c.map is not None and path.map_point is not None:
        text += (f" EM stopped at {point(path.names, end)}, where its path from {point(path.names, start)} first met "
                 f"the ridge; PyMC's MAP stopped at {point(path.names, path.map_point)}, with log-likelihood "
                 f"{c.map.log_likelihood:.6f} against EM's {c.em.log_likelihood:.6f}: two maximisers, both right.")
    for fname, values in c.functionals.items():
        # The functional's own docstring says what it is (text from code, not retyped).
        doc = (sc.functionals[fname].__doc__ or "").strip().splitlines()
        text += f" What the data do identify is {fname}" + (f", {doc[0].rstrip('.')}" if doc else "") + ": "
        text += ", ".join(f"{METHOD_NAMES.get(k, k)} {v:.4f}" for k, v in values.items()) + "."
    if c.nuts is not None:
        text += (" The posterior, under a flat prior, spreads along the ridge instead of concentrating (the NUTS "
                 "draws above), and more data narrow it only across the ridge.")
    return text


def piece(r: ScenarioReport) -> Piece:
    """The paragraph; omitted where the log-likelihood is strictly peaked."""
    if r.comparison.identifiable:
        return Piece(KEY, HEADING, omitted=r.omitted.get("ridge", ""))
    return Piece(KEY, HEADING, text=_ridge(r))
