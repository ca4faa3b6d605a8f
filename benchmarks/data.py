"""The benchmark's data and its one shared start.

Two seeded synthetic mixtures of k = 3 Normals: 1-D (three overlapping bumps whose
means sit 4–5 SDs apart) and 2-D (three correlated bivariate Normals). Both EMs, ours and
scikit-learn's, start from the same parameters: the true ones, perturbed by a fixed amount,
ordered by the first coordinate of the means (the order ``emtwin``'s ``fit`` returns), so
components keep their labels in both and the traces can be compared entry by entry.
"""

from __future__ import annotations

import numpy as np

__all__ = ["K", "TRUE", "START", "draw_mixture", "sklearn_init", "sklearn_view", "start_for", "data_bytes"]

K = 3  # components in every benchmark


def _cov(sd: list[float], rho: float) -> np.ndarray:
    """2 × 2 covariance matrix from two standard deviations and a correlation."""
    s = np.diag(sd)
    return s @ np.array([[1.0, rho], [rho, 1.0]]) @ s


# The data come from these (dimension -> parameters in emtwin's names).
TRUE = {
    1: {
        "weights": np.array([0.3, 0.5, 0.2]),
        "mu": np.array([-4.0, 0.0, 5.0]),
        "sigma": np.array([1.0, 0.7, 1.5]),
    },
    2: {
        "weights": np.array([0.3, 0.45, 0.25]),
        "mu": np.array([[-4.0, -1.0], [0.0, 2.0], [4.0, -1.0]]),
        "cov": np.array([_cov([1.0, 0.8], 0.5), _cov([0.7, 1.2], -0.4), _cov([1.3, 0.9], 0.3)]),
    },
}

# Both EMs start here: the truth moved by about half an SD in the means, 20–30% in the
# spreads, and weights off by 0.05 (2-D: correlations shrunk by 30%).
START = {
    1: {
        "weights": np.array([0.25, 0.45, 0.30]),
        "mu": TRUE[1]["mu"] + np.array([0.5, -0.4, 0.6]),
        "sigma": TRUE[1]["sigma"] * np.array([1.3, 0.8, 1.2]),
    },
    2: {
        "weights": np.array([0.28, 0.42, 0.30]),
        "mu": TRUE[2]["mu"] + np.array([[0.5, 0.3], [-0.4, 0.4], [0.6, -0.3]]),
        "cov": np.array([_cov([1.3, 0.72], 0.35), _cov([0.56, 1.44], -0.28), _cov([1.56, 0.99], 0.21)]),
    },
}


def start_for(dim: int) -> dict[str, np.ndarray]:
    """A fresh copy of the shared start for ``dim``-dimensional data (1 or 2)."""
    return {name: value.copy() for name, value in START[dim].items()}


def draw_mixture(n: int, dim: int, seed: int) -> np.ndarray:
    """``n`` points from the ``dim``-D true mixture, seeded by ``np.random.default_rng(seed)``.

    Returns
    -------
    ndarray of float64, shape (n,) for ``dim = 1``, (n, 2) for ``dim = 2``
    """
    rng = np.random.default_rng(seed)
    truth = TRUE[dim]
    labels = rng.choice(K, size=n, p=truth["weights"])
    if dim == 1:
        return truth["mu"][labels] + truth["sigma"][labels] * rng.standard_normal(n)
    x = rng.standard_normal((n, 2))
    for j in range(K):  # a loop over the 3 components, not over points
        own = labels == j
        x[own] = truth["mu"][j] + x[own] @ np.linalg.cholesky(truth["cov"][j]).T
    return x


def data_bytes(n: int, dim: int) -> int:
    """Bytes of the float64 data: 8·N·d."""
    return 8 * n * dim


def sklearn_view(x: np.ndarray) -> np.ndarray:
    """The data as scikit-learn takes them, shape (N, d): a view, no copy."""
    return x.reshape(-1, 1) if x.ndim == 1 else x


def sklearn_init(start: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The shared start as ``GaussianMixture`` keyword arguments (full covariances).

    ``precisions_init`` holds the inverse covariances, shape (k, d, d); 1-D σ becomes
    1/σ² of shape (k, 1, 1).
    """
    if "sigma" in start:
        cov = (start["sigma"] ** 2)[:, None, None]
        means = start["mu"][:, None]
    else:
        cov, means = start["cov"], start["mu"]
    return {"weights_init": start["weights"], "means_init": means, "precisions_init": np.linalg.inv(cov)}
