"""Random draws of one hypervoxel in Snudda's order (spec detect.md §2.5, §2.6).

Per synapse row: a lognormal conductance then an integer parameter id, on the hypervoxel's PCG64
generator; then, after all synapses, one lognormal per gap junction. Conductances are clipped to
[0.1, 10] x the mean (Snudda 3.0).
"""

from __future__ import annotations

import numpy as np

MAX_PARAMETER_ID = 1000000


def clip(g: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Snudda 3.0's min(max(g, 0.1 mean), 10 mean)."""
    return np.minimum(np.maximum(g, 0.1 * mean), 10 * mean)


def synapse_draws(rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray,
                  mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Conductance and parameter id per synapse row, drawn alternately (lognormal, integers) as Snudda does."""
    n = len(mu)
    g = np.empty(n, dtype=np.float64)
    pid = np.empty(n, dtype=np.int64)
    lognormal, integers = rng.lognormal, rng.integers
    for i, (m, s) in enumerate(zip(mu.tolist(), sigma.tolist())):
        g[i] = lognormal(m, s)
        pid[i] = integers(MAX_PARAMETER_ID)
    return clip(g, mean), pid


def gap_junction_draws(rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """One lognormal conductance per gap junction (a vectorised draw consumes the stream like scalar draws)."""
    if len(mu) == 0:
        return np.zeros(0, dtype=np.float64)
    return clip(rng.lognormal(mu, sigma), mean)
