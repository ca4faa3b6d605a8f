"""The Bayesian twin past one machine: minibatch ADVI on the 1-D Gaussian mixture.

NUTS on 10⁸ points is not the tool (every gradient is a pass over the data), and nor is
full-batch ADVI. Minibatch ADVI estimates the ELBO's gradient from ``batch_size`` points
drawn at random, the likelihood scaled to the whole N (``total_size``), so each step costs
the same whatever N::

    weights ~ Dirichlet(1, …, 1),  mu ~ Uniform(low − span, high + span) ordered,
    sigma ~ Uniform(√var_floor, 2·span)                  the priors of gaussian_mixture.py
    x_b ~ Σ_j weights_j Normal(mu_j, sigma_j),  b a pm.Minibatch of the pool, scaled by N / batch

The data stay where they are. ``pm.Minibatch`` draws rows from a *pool*, a shared tensor
holding one block of the Dask array at a time; every ``refresh`` iterations a callback
swaps in another block chosen uniformly at random (blocks of equal size: each point equally
likely, so the gradient stays unbiased for the whole data). Memory: one block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor
from numpy.typing import ArrayLike
from pymc.distributions.transforms import ordered

from .fitting import PosteriorFit, _pymc_quiet, _summaries
from .gaussian_mixture import MEAN_MARGIN, SPREAD_FACTOR

__all__ = ["MinibatchModel", "build_minibatch_model", "fit_minibatch_advi"]


@dataclass(frozen=True)
class MinibatchModel:
    """The model and what feeds it.

    Attributes
    ----------
    model : pm.Model
        Free variables ``weights``, ``mu``, ``sigma``, as the in-memory twin.
    pool : pytensor shared variable, shape (block,)
        The block the minibatches are drawn from.
    blocks : list of Delayed
        The Dask array's blocks, each loaded into the pool in turn.
    n_total : int
        N, the likelihood's scale.
    """

    model: pm.Model
    pool: Any
    blocks: list
    n_total: int


def build_minibatch_model(
    x: Any, *, k: int, var_floor: ArrayLike, low: float, high: float, batch_size: int = 1000
) -> MinibatchModel:
    """The 1-D mixture with flat bounded priors, likelihood from minibatches of ``x``.

    Parameters
    ----------
    x : dask.array.Array, shape (N,)
        The points, as EM sees them (checked by the caller: finite, spread).
    k : int
    var_floor : float
        Squared data units: ``sigma`` is bounded below by its square root.
    low, high : float
        The data's minimum and maximum (the prior boxes' reference, as in memory).
    batch_size : int
        Points per gradient step.

    Returns
    -------
    MinibatchModel
    """
    if x.ndim != 1:
        raise ValueError(f"the minibatch twin fits 1-D data, shape (N,); got shape {x.shape}.")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1; got {batch_size!r}.")
    blocks = list(x.to_delayed().ravel())
    if min(x.chunks[0]) < batch_size:
        raise ValueError(
            f"every block must hold at least batch_size = {batch_size} points (the minibatches are drawn "
            f"from one block at a time); the smallest holds {min(x.chunks[0])}. Rechunk x."
        )
    span = float(high - low)
    sd_floor = float(np.sqrt(np.asarray(var_floor, dtype=float).reshape(-1)[0]))
    pool = pytensor.shared(np.asarray(blocks[0].compute(), dtype=float), name="pool")
    with pm.Model(coords={"component": [str(j + 1) for j in range(k)]}) as model:
        weights = pm.Dirichlet("weights", a=np.ones(k), dims="component")
        mu = pm.Uniform("mu", low - MEAN_MARGIN * span, high + MEAN_MARGIN * span, dims="component",
                        transform=ordered)
        sigma = pm.Uniform("sigma", sd_floor, SPREAD_FACTOR * span, dims="component")
        batch = pm.Minibatch(pool, batch_size=batch_size)
        pm.NormalMixture("x", w=weights, mu=mu, sigma=sigma, observed=batch, total_size=int(x.shape[0]))
    return MinibatchModel(model, pool, blocks, int(x.shape[0]))


def fit_minibatch_advi(
    twin: MinibatchModel,
    start: dict[str, np.ndarray],
    *,
    n: tuple[int, int] = (10_000, 10_000),
    learning_rates: tuple[float, float] = (1e-2, 1e-3),
    refresh: int = 500,
    draws: int = 4000,
    seed: int = 0,
) -> PosteriorFit:
    """Mean-field ADVI by minibatches from ``start`` (constrained values): ``n[0]`` Adam
    steps at ``learning_rates[0]``, then ``n[1]`` at ``learning_rates[1]``, a new random
    block in the pool every ``refresh`` steps; then ``draws`` samples.

    Why two rates: at N = 10⁶ the posterior SDs are ~10⁻³ of the data's scale, and the
    minibatch gradient's noise keeps a fixed-rate optimiser's iterate moving by more than
    that. One run of 20 000 steps at 1e-2 (N = 10⁶, 3 components) ended 5-12 posterior SDs
    from the MLE; 10 000 at 1e-2 then 10 000 at 1e-3 within 3.1. PyMC's default adagrad
    window at 1e-2 had not converged at all (thousands of SDs).

    Returns
    -------
    PosteriorFit
        ``method`` ``"minibatch-advi"``; diagnostics as :func:`.fitting.fit_advi`'s plus
        ``blocks_loaded``. The loss is a minibatch estimate (PyMC scales it to one batch),
        noisy by construction: its trend is reported, not used to stop.
    """
    rng = np.random.default_rng(seed)
    loaded = [0]

    def swap_block(approx: Any, losses: Any, i: int) -> None:
        if i % refresh == 0:
            block = twin.blocks[int(rng.integers(len(twin.blocks)))]
            twin.pool.set_value(np.asarray(block.compute(), dtype=float))
            loaded[0] += 1

    with _pymc_quiet(), twin.model:
        inference = pm.ADVI(start=start, random_seed=seed)
        for steps, rate in zip(n, learning_rates):
            # A second fit() continues from the first's approximation.
            approx = inference.fit(steps, obj_optimizer=pm.adam(learning_rate=rate), progressbar=False,
                                   callbacks=[swap_block])
        idata = approx.sample(draws, random_seed=seed + 1)
    names = ["weights", "mu", "sigma"]
    mean, sd, hdi = _summaries(idata, names)
    hist = np.asarray(approx.hist)
    tenth = max(len(hist) // 10, 1)
    last, before = hist[-tenth:].mean(), hist[-2 * tenth : -tenth].mean()
    change = float(abs(last - before) / max(abs(before), 1e-12))
    diagnostics = {"n_iter": int(len(hist)), "final_loss": float(last), "relative_loss_change": change,
                   "converged": bool(np.isfinite(last) and change < 0.01), "blocks_loaded": loaded[0]}
    return PosteriorFit("minibatch-advi", idata, mean, sd, hdi, diagnostics)
