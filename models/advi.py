"""Mean-field ADVI, PyMC's algorithm, on the model's one compiled log-density and gradient.

``pm.fit(method="advi")`` builds and rewrites a graph of its own for every model (the ELBO,
its gradient and the optimiser's updates), then one more to sample the approximation: about
2 s a call with a warm compile cache, several graphs for Numba to compile on a fresh machine.
This module runs the same computation on the posterior log-density and gradient emtwin
compiles once per model (``fitting._posterior_fn``), so ADVI adds no compile at all:

* q(z) = N(μ, diag σ²) in the model's unconstrained space, σ = softplus(ρ), started at
  μ = the start, ρ = 0 (PyMC's ``MeanField`` with no ``start_sigma``);
* each step draws one ε ~ N(0, I), z = μ + σε, and takes the reparametrised gradient of
  the loss  log q(z) − log p(z)  (PyMC's KL objective with one Monte-Carlo sample,
  ``obj_n_mc=None``): ∂/∂μ = −∇log p(z), ∂/∂ρ = −(∇log p(z)·ε + 1/σ)·sigmoid(ρ);
* the optimiser is PyMC's ``adagrad_window`` at its defaults (learning rate 0.001, ε 0.1
  inside the root, a window of the last 10 squared gradients), updating μ and ρ together;
* the loss of every step is kept (PyMC's ``approx.hist``).

The random numbers come from NumPy's generator seeded with ``seed``, not from PyTensor's, so
a seed gives other draws than ``pm.fit`` with that seed: the same estimator, not the same
bits (tests/test_advi.py holds it to ``pm.fit`` within Monte-Carlo error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["EPSILON", "LEARNING_RATE", "N_WIN", "MeanFieldRun", "mean_field_advi"]

LEARNING_RATE = 0.001  # pymc.adagrad_window's defaults
EPSILON = 0.1
N_WIN = 10
_BLOCK = 1000  # steps of ε drawn at once (a block's draws equal one at a time: same stream)
_LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class MeanFieldRun:
    """Where mean-field ADVI ended.

    Attributes
    ----------
    mu, rho : ndarray, shape (n_unconstrained,)
        q's means and ρ (σ = softplus(ρ)) in the model's unconstrained space.
    losses : ndarray, shape (n_steps,)
        The loss log q(z) − log p(z) at each step's draw (nats): an estimate of the negative
        ELBO up to the normalising constant.
    stopped_at : int or None
        The step at which ``stop`` ended the run; None if it ran all ``n`` steps.
    """

    mu: np.ndarray
    rho: np.ndarray
    losses: np.ndarray
    stopped_at: int | None

    @property
    def sigma(self) -> np.ndarray:
        return np.logaddexp(0.0, self.rho)

    def sample(self, draws: int, seed: int) -> np.ndarray:
        """``draws`` points from q, shape (draws, n_unconstrained), seeded."""
        eps = np.random.default_rng(seed).standard_normal((draws, self.mu.size))
        return self.mu + self.sigma * eps


def mean_field_advi(
    logp_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    start: np.ndarray,
    *,
    n: int,
    seed: int,
    stop: Callable[[np.ndarray, np.ndarray, int], bool] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> MeanFieldRun:
    """Run at most ``n`` steps of mean-field ADVI from ``start`` (unconstrained, flat).

    ``logp_and_grad(z)`` returns the log-density (Jacobian included) and its gradient at a
    flat unconstrained ``z``. ``stop(mu, rho, step)`` is asked after every step and ends the
    run by returning True. ``progress(step, loss)`` is called every 1000 steps.

    Raises
    ------
    FloatingPointError
        If the loss is not finite at some step (as ``pm.fit``'s "NaN occurred in
        optimization"), naming the step.
    """
    mu = np.array(start, dtype=float).ravel()
    rho = np.zeros_like(mu)
    d = mu.size
    accu_mu, accu_rho = np.zeros((N_WIN, d)), np.zeros((N_WIN, d))
    rng = np.random.default_rng(seed)
    losses = np.empty(n)
    stopped_at = None
    for step in range(n):
        if step % _BLOCK == 0:
            block = rng.standard_normal((min(_BLOCK, n - step), d))
        eps = block[step % _BLOCK]
        sigma = np.logaddexp(0.0, rho)
        logp, grad = logp_and_grad(mu + sigma * eps)
        loss = -0.5 * float(eps @ eps) - 0.5 * d * _LOG_2PI - float(np.sum(np.log(sigma))) - float(logp)
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"ADVI's loss is {loss} at step {step + 1}: the log-density or its gradient is not finite "
                "at a draw from the approximation; check the model's priors and the start."
            )
        losses[step] = loss
        grad = np.asarray(grad, dtype=float)
        grad_mu = -grad
        grad_rho = -(grad * eps + 1.0 / sigma) / (1.0 + np.exp(-rho))
        slot = step % N_WIN
        accu_mu[slot] = grad_mu * grad_mu
        accu_rho[slot] = grad_rho * grad_rho
        mu = mu - LEARNING_RATE * grad_mu / np.sqrt(accu_mu.sum(axis=0) + EPSILON)
        rho = rho - LEARNING_RATE * grad_rho / np.sqrt(accu_rho.sum(axis=0) + EPSILON)
        if progress is not None and (step + 1) % 1000 == 0:
            progress(step + 1, loss)
        if stop is not None and stop(mu, rho, step + 1):
            stopped_at = step + 1
            break
    return MeanFieldRun(mu, rho, losses[: step + 1], stopped_at)
