"""circuitflow.detect.join: the sorted-key helpers of the hypervoxel join, against numpy's own."""

from __future__ import annotations

import numpy as np
import pytest

from circuitflow.detect.join import group_bounds, intersect_sorted, lookup, row_order, voxel_xyz

RNG = np.random.default_rng(7)


def test_group_bounds_is_unique_with_starts_and_counts():
    key = np.sort(RNG.integers(0, 20, 200))
    keys, starts, counts = group_bounds(key)
    expected, first, n = np.unique(key, return_index=True, return_counts=True)
    assert np.array_equal(keys, expected) and np.array_equal(starts, first) and np.array_equal(counts, n)
    assert all(len(x) == 0 for x in group_bounds(np.zeros(0, np.int64)))


@pytest.mark.parametrize("n_b", [0, 1, 50])
def test_intersect_sorted_as_intersect1d(n_b):
    a = np.unique(RNG.integers(0, 100, 60))
    b = np.unique(RNG.integers(0, 100, n_b)) if n_b else np.zeros(0, np.int64)
    common, ia, ib = intersect_sorted(a, b)
    expected = np.intersect1d(a, b, return_indices=True)
    assert all(np.array_equal(x, y) for x, y in zip((common, ia, ib), expected))


def test_voxel_xyz_inverts_c_order_keys():
    nb = 7
    xyz = RNG.integers(0, nb, (30, 3))
    key = np.ravel_multi_index(xyz.T, (nb, nb, nb))
    assert np.array_equal(voxel_xyz(key, nb), xyz)


def test_lookup_one_row_per_run_of_equal_pairs():
    src = np.array([0, 0, 1, 1, 1, 0])
    dest = np.array([2, 2, 2, 2, 3, 3])
    channel = np.array([1, 1, 5, 5, 1, 2])
    table = lookup(src, dest, channel, n_neurons=4, max_channel=6)
    assert table.tolist() == [
        [(2 * 4 + 0) * 6 + 1, 0, 2],
        [(2 * 4 + 1) * 6 + 5, 2, 4],
        [(3 * 4 + 1) * 6 + 1, 4, 5],
        [(3 * 4 + 0) * 6 + 2, 5, 6],
    ]
    assert lookup(src[:0], dest[:0], channel[:0], 4, 6).shape == (0, 3)


@pytest.mark.parametrize("negative_channel", [False, True])
def test_row_order_is_a_stable_lexsort(negative_channel):
    n = 500
    dest, src = RNG.integers(0, 6, n), RNG.integers(0, 6, n)
    channel = RNG.integers(-1 if negative_channel else 0, 3, n)  # a negative channel takes the lexsort path
    order = row_order(dest.copy(), src, channel, n_neurons=6, n_channels=3)
    assert np.array_equal(order, np.lexsort((channel, src, dest)))
