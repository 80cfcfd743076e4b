"""SONATA edge indices written streaming: what libsonata expects, whatever the chunk and block sizes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from circuitflow.io.sonata_edges import EdgesFileError, write_index


def reference_index(ids: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """The index by its definition: runs of equal ids in edge order, listed node by node."""
    runs = []  # (node, start, end)
    for i, node in enumerate(ids):
        if runs and runs[-1][0] == node and runs[-1][2] == i:
            runs[-1][2] = i + 1
        else:
            runs.append([int(node), i, i + 1])
    node_to_ranges = np.zeros((n_nodes, 2), dtype=np.uint64)
    range_to_edge = []
    for node in range(n_nodes):
        mine = [(a, b) for n, a, b in runs if n == node]
        if mine:
            node_to_ranges[node] = [len(range_to_edge), len(range_to_edge) + len(mine)]
        range_to_edge += mine
    return node_to_ranges, np.array(range_to_edge, dtype=np.uint64).reshape(-1, 2)


def test_reference_index_on_a_small_case():
    node_to_ranges, range_to_edge = reference_index(np.array([2, 2, 0, 2, 1, 1]), 4)
    assert node_to_ranges.tolist() == [[0, 1], [1, 2], [2, 4], [0, 0]]
    assert range_to_edge.tolist() == [[2, 3], [4, 6], [0, 2], [3, 4]]


@pytest.mark.parametrize("chunk, max_runs", [(1, 1), (3, 5), (7, 1000), (1 << 22, 1 << 24)])
def test_streaming_index_equals_the_definition(tmp_path, chunk, max_runs):
    rng = np.random.default_rng(chunk)
    for trial in range(8):
        n_nodes = int(rng.integers(1, 30))
        n = int(rng.integers(0, 120))
        ids = np.repeat(rng.integers(0, n_nodes, n), rng.integers(1, 4, n))  # runs of equal ids
        with h5py.File(tmp_path / f"{trial}.h5", "w") as f:
            write_index(
                f.create_group("g"),
                f.create_dataset("ids", data=ids.astype(np.uint64)),
                n_nodes,
                chunk=chunk,
                max_runs=max_runs,
            )
            node_to_ranges, range_to_edge = reference_index(ids, n_nodes)
            assert np.array_equal(f["g/node_id_to_ranges"][()], node_to_ranges)
            assert np.array_equal(f["g/range_to_edge_id"][()], range_to_edge)


def test_streaming_index_rejects_ids_out_of_range(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        with pytest.raises(EdgesFileError, match="node ids must lie in"):
            write_index(f.create_group("g"), f.create_dataset("ids", data=np.array([0, 4], dtype=np.uint64)), 4)
