"""scipy.stats.gaussian_kde as tmd's apical-point search uses it (one dimension, Scott's bandwidth), without
importing scipy.stats: the same arithmetic in the same order, so the same bits.

tmd.Topology.analysis.find_apical_point_distance_smoothed smooths an apical barcode's bin centres with
`stats.gaussian_kde(data)` and evaluates it at the bin centres, once per apical tree. scipy.stats costs a
chunk job 0.3 s of CPU and 35 MB to import; with this, chunk jobs leave it deferred (synthesis/lazy.py).
Any other use (more dimensions, weights, another bandwidth, another attribute) goes to scipy.stats itself, and
so does every use in a process that has not loaded the compiled engine's kernels (`engine: neurots` grows as
before, without numba).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

from circuitflow.synthesis import engine


class GaussianKDE:
    """scipy.stats.gaussian_kde(dataset) and its evaluation, for one-dimensional float data."""

    def __init__(self, dataset):
        dataset = np.atleast_2d(np.asarray(dataset))
        self.exact = engine.K is not None and dataset.dtype == np.float64 and dataset.shape[0] == 1 and dataset.size > 1
        if not self.exact:
            self.scipy = _scipy_stats().gaussian_kde(dataset)
            return
        self.dataset = dataset
        n = dataset.shape[1]
        self.weights = np.ones(n) / n
        neff = 1 / np.sum(self.weights * self.weights)  # scipy's np_vecdot with numpy < 2
        factor = np.power(neff, -1.0 / (1 + 4))  # scotts_factor, d = 1
        covariance = np.atleast_2d(np.cov(dataset, rowvar=1, bias=False, aweights=self.weights))
        try:
            self.cho_cov = (linalg.cholesky(covariance, lower=True) * factor).astype(np.float64)
        except (linalg.LinAlgError, ValueError):  # scipy raises its own error (message) for such data
            self.exact = False
            self.scipy = _scipy_stats().gaussian_kde(dataset)

    def __call__(self, points):
        """The density at `points` (gaussian_kde.evaluate)."""
        points = np.atleast_2d(np.asarray(points))
        if not self.exact:
            return self.scipy(points)
        if points.dtype != np.float64 or points.shape[0] != 1:
            return _scipy_stats().gaussian_kde(self.dataset)(points)
        whitened = linalg.solve_triangular(self.cho_cov, self.dataset, lower=True).T
        xi = linalg.solve_triangular(self.cho_cov, points, lower=True).T
        norm = math.pow(2 * math.pi, -1 / 2.0) / self.cho_cov[0, 0]
        estimate = np.zeros(points.shape[1])
        engine.K.kde_sum(
            np.ascontiguousarray(whitened[:, 0]), np.ascontiguousarray(xi[:, 0]), self.weights, norm, estimate
        )
        return estimate


class StatsForTmd:
    """What tmd.Topology.analysis reads as `stats`: gaussian_kde is GaussianKDE, anything else scipy.stats'."""

    gaussian_kde = GaussianKDE

    def __getattr__(self, name: str):
        return getattr(_scipy_stats(), name)


def _scipy_stats():
    import scipy.stats

    return scipy.stats
