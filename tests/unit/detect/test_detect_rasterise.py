"""circuitflow.detect.rasterise and partitions: the array helpers, against numpy's own."""

from __future__ import annotations

import numpy as np
import pytest

from circuitflow.detect import rasterise
from circuitflow.detect.partitions import balanced_ranges, chunk_range
from circuitflow.detect.rasterise import first_visits, place_rows, run_starts, unique_rows

RNG = np.random.default_rng(11)


def test_unique_rows_as_numpy_unique():
    a = RNG.integers(0, 4, (300, 3))
    assert np.array_equal(unique_rows(a), np.unique(a, axis=0))
    assert unique_rows(np.zeros((0, 3), np.int64)).shape == (0, 3)


def test_run_starts_where_any_column_changes():
    a = np.array([1, 1, 1, 2, 2, 2])
    b = np.array([0, 0, 1, 1, 1, 0])
    assert run_starts(a, b).tolist() == [0, 2, 3, 5]
    assert run_starts(a).tolist() == [0, 3]


@pytest.mark.parametrize("packed", [True, False])
def test_first_visits_as_numpy_unique(packed, monkeypatch):
    if not packed:  # the fallback for keys too large to pack with their position
        monkeypatch.setattr(rasterise, "POS_BITS", 1)
    vkey = np.repeat(RNG.integers(0, 50, 120), RNG.integers(1, 4, 120))  # runs of repeated visits
    first, count = first_visits(vkey)
    _, expected_first, expected_count = np.unique(vkey, return_index=True, return_counts=True)
    assert np.array_equal(first, expected_first) and np.array_equal(count, expected_count)


def test_place_rows_fills_soma_rows():
    out = place_rows(np.array([True, False, True, False]), 9, np.array([1, 2]))
    assert out.tolist() == [9, 1, 9, 2]


def test_chunk_ranges_cover_every_item_once():
    bounds = [chunk_range(c, 4, 10) for c in range(4)]
    assert bounds[0][0] == 0 and bounds[-1][1] == 10
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def test_balanced_ranges_are_contiguous_and_balanced():
    hids = np.arange(10)
    cost = np.array([100, 0, 0, 0, 0, 100, 0, 0, 0, 0])
    parts = balanced_ranges(hids, cost, 2)
    assert np.array_equal(np.concatenate(parts), hids)
    assert parts[0].tolist() == [0, 1, 2, 3, 4]
    assert [len(p) for p in balanced_ranges(np.zeros(0, np.int64), np.zeros(0), 3)] == [0, 0, 0]
