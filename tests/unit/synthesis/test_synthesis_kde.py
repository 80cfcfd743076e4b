"""synthesis.kde: scipy.stats.gaussian_kde as tmd's apical point search uses it, bit for bit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
from conftest import ROOT
from scipy import linalg

from circuitflow.synthesis import engine
from circuitflow.synthesis.grow import barcode_bin_centers
from circuitflow.synthesis.kde import GaussianKDE, StatsForTmd

engine.load_kernels()  # (GaussianKDE computes with them once a process has loaded them)


def random_barcode_data(rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Bin centres and their data as tmd's find_apical_point_distance_smoothed builds them, from a random barcode
    (some bars rounded to 0.1, as TMD inputs often are)."""
    n = int(rng.integers(1, 60))
    start = rng.uniform(0.0, 1500.0, n)
    ph = [[float(a), float(a * f)] for a, f in zip(start, rng.uniform(0.0, 1.0, n))]
    if rng.random() < 0.3:
        ph = [[round(a, 1), round(b, 1)] for a, b in ph]
    return barcode_bin_centers(ph, num_bins=100)


def test_gaussian_kde_equals_scipys_bit_for_bit_on_apical_barcodes():
    """2,000 random barcodes: the density at the bin centres has scipy's bytes."""
    rng = np.random.default_rng(7)
    compared = 0
    for _ in range(2000):
        centers, data = random_barcode_data(rng)
        if len(data) < 2 or np.ptp(data) == 0:
            continue
        expected = scipy.stats.gaussian_kde(data)(centers)
        kde = GaussianKDE(data)
        assert kde.exact and kde(centers).tobytes() == expected.tobytes()
        compared += 1
    assert compared > 1500


@pytest.mark.parametrize(
    ("data", "error"),
    [([3.0], ValueError), ([2.0, 2.0, 2.0], linalg.LinAlgError), ([1.0, np.nan], ValueError)],
)
def test_data_scipy_rejects_raise_scipys_error(data, error):
    """A single value, identical values or NaN: scipy's own error and message."""
    with pytest.raises(error) as expected:
        scipy.stats.gaussian_kde(data)
    with pytest.raises(error) as got:
        GaussianKDE(data)
    assert str(got.value) == str(expected.value)


def test_other_inputs_and_attributes_go_to_scipy():
    """Two-dimensional data and float32 points are scipy's; StatsForTmd gives scipy.stats' other names."""
    rng = np.random.default_rng(3)
    data = rng.normal(size=(2, 30))
    points = rng.normal(size=(2, 5))
    assert GaussianKDE(data)(points).tobytes() == scipy.stats.gaussian_kde(data)(points).tobytes()
    line = rng.normal(size=30)
    points32 = rng.normal(size=5).astype(np.float32)
    assert GaussianKDE(line)(points32).tobytes() == scipy.stats.gaussian_kde(line)(points32).tobytes()
    assert StatsForTmd().norm is scipy.stats.norm
    assert StatsForTmd().gaussian_kde is GaussianKDE


def test_tmd_apical_point_search_uses_it():
    """tmd.Topology.analysis reads `stats` as StatsForTmd once grow is imported (what TMDApicalAlgo calls)."""
    from tmd.Topology import analysis

    assert isinstance(analysis.stats, StatsForTmd)


def test_without_the_kernels_it_is_scipys():
    """A process that has not loaded the compiled engine's kernels (`engine: neurots`) smooths with scipy itself."""
    code = (
        "import sys\n"
        "from circuitflow.synthesis.kde import GaussianKDE\n"
        "kde = GaussianKDE([1.0, 2.5, 2.0, 7.0])\n"
        "assert not kde.exact and type(kde.scipy).__module__ == 'scipy.stats._kde'\n"
        "assert 'circuitflow.synthesis.kernels' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
