"""The vectorised random draws equal numpy's scalar (lognormal, integers) sequence, as Snudda draws them."""

from __future__ import annotations

import numpy as np
import pytest

from circuitflow.detect import rng as R


def test_fast_path_is_enabled():
    assert R.ziggurat_tables() is not None and R.fast_path_ok()


@pytest.mark.parametrize("seed", [0, 216676975, 2**32 - 1])
def test_fast_draws_equal_scalar_draws_and_leave_the_same_state(seed):
    n = 50000
    mu = np.random.default_rng(seed % 7).uniform(-22, -20, n)
    sigma = np.random.default_rng(seed % 11).uniform(0.05, 1.5, n)
    ref = np.random.default_rng(seed)
    g_ref, pid_ref = R.scalar_synapse_draws(ref, mu, sigma)
    rng = np.random.default_rng(seed)
    rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
    g, pid = R.fast_synapse_draws(rng, mu, sigma, R.ziggurat_tables())
    assert np.array_equal(g, g_ref) and np.array_equal(pid, pid_ref)
    # the gap-junction draws that follow use the generator where the synapse draws left it
    assert np.array_equal(rng.lognormal(mu[:100], sigma[:100]), ref.lognormal(mu[:100], sigma[:100]))


def test_draws_after_an_odd_number_of_integers():
    """A pending 32-bit half word (odd row count) is carried correctly into the next call."""
    mu, sigma = np.full(7, -21.0), np.full(7, 1.0)
    ref, rng = np.random.default_rng(5), np.random.default_rng(5)
    a = [R.scalar_synapse_draws(ref, mu, sigma) for _ in range(3)]
    b = [R.fast_synapse_draws(rng, mu, sigma, R.ziggurat_tables()) for _ in range(3)]
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))


def test_draws_when_the_word_table_runs_short(monkeypatch):
    """A word table shorter than the draws need is extended; the numbers do not change."""
    monkeypatch.setattr(R, "WORDS_PER_ROW", 0.5)
    mu, sigma = np.full(20000, -21.0), np.full(20000, 0.9)
    a = R.scalar_synapse_draws(np.random.default_rng(3), mu, sigma)
    b = R.fast_synapse_draws(np.random.default_rng(3), mu, sigma, R.ziggurat_tables())
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
