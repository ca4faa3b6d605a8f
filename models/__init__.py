"""PyMC twins of the EM scenarios and the fitting functions they share."""

from .fitting import Curvature, MAPFit, PosteriorFit, curvature, fit_advi, fit_map, fit_nuts, log_likelihood

__all__ = ["Curvature", "MAPFit", "PosteriorFit", "curvature", "fit_advi", "fit_map", "fit_nuts", "log_likelihood"]
