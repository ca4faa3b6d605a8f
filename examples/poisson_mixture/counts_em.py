"""EM for a two-component Poisson mixture, in NumPy: the user's side, in no lecture.

Counts of events per interval (calls per minute at a help desk, say) come from two
regimes, quiet and busy:

    z_i ~ Categorical(weights),   x_i | z_i = k ~ Poisson(lam_k)

Parameters are ``{"lam": array([lam_1, lam_2]), "weights": array([w_1, w_2])}``, named
as the PyMC twin's free variables (``counts_model.py``); component 1 is the quieter one.
This file imports no PyMC and, apart from the data, nothing of emtwin.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, logsumexp

START = {"lam": np.array([1.0, 5.0]), "weights": np.array([0.5, 0.5])}


def simulate_counts(n: int = 300, *, seed: int = 7) -> np.ndarray:
    """``n`` counts, 60% from Poisson(2) and 40% from Poisson(9); shape (n,)."""
    rng = np.random.default_rng(seed)
    busy = rng.random(n) < 0.4
    return np.where(busy, rng.poisson(9.0, n), rng.poisson(2.0, n))


def _log_joint(counts: np.ndarray, params: dict) -> np.ndarray:
    """log Pr(x_i, z_i = k), shape (n, 2): log w_k + x log lam_k - lam_k - log x!."""
    x = counts[:, None]
    return np.log(params["weights"]) + x * np.log(params["lam"]) - params["lam"] - gammaln(x + 1)


def e_step(counts: np.ndarray, params: dict) -> np.ndarray:
    """Responsibilities Pr(z_i = k | x_i), shape (n, 2); rows sum to one."""
    log_joint = _log_joint(counts, params)
    # exp(-lam) * lam^x underflows for large counts; normalise in log space.
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


def m_step(counts: np.ndarray, resp: np.ndarray) -> dict:
    """lam_k = responsibility-weighted mean count; w_k = mean responsibility."""
    return {"lam": resp.T @ counts / resp.sum(axis=0), "weights": resp.mean(axis=0)}


def m_step_buggy(counts: np.ndarray, resp: np.ndarray) -> dict:
    """The same M-step with a classic slip: the weighted sum is divided by n, the number of
    counts, instead of by component k's total responsibility."""
    return {"lam": resp.T @ counts / len(counts), "weights": resp.mean(axis=0)}


def log_likelihood(counts: np.ndarray, params: dict) -> float:
    """Total log-likelihood in nats, log x! included (PyMC's Poisson includes it)."""
    return float(logsumexp(_log_joint(counts, params), axis=1).sum())


def my_em(counts: np.ndarray, *, max_iter: int = 10_000, tol: float = 1e-10) -> tuple[dict, float]:
    """The same EM as one self-contained loop, the way it might already sit in a codebase.

    Returns ``(params, log_likelihood)``. Stops when no parameter moves more than ``tol``,
    or after ``max_iter`` iterations.
    """
    x = np.asarray(counts, dtype=float)
    lam, w = START["lam"].copy(), START["weights"].copy()
    for _ in range(max_iter):
        log_joint = np.log(w) + x[:, None] * np.log(lam) - lam - gammaln(x[:, None] + 1)
        r = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
        new_lam, new_w = r.T @ x / r.sum(axis=0), r.mean(axis=0)
        done = max(np.max(np.abs(new_lam - lam)), np.max(np.abs(new_w - w))) < tol
        lam, w = new_lam, new_w
        if done:
            break
    params = {"lam": lam, "weights": w}
    return params, log_likelihood(counts, params)
