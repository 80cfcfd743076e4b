"""Streaming SONATA indices: the same arrays as the in-memory index, whatever the chunk and block sizes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from circuitflow.io.sonata_edges import index_ranges
from circuitflow.io.sonata_index import write_index


@pytest.mark.parametrize("chunk, max_runs", [(1, 1), (3, 5), (7, 1000), (1 << 22, 1 << 24)])
def test_streaming_index_equals_the_in_memory_one(tmp_path, chunk, max_runs):
    rng = np.random.default_rng(chunk)
    for trial in range(8):
        n_nodes = int(rng.integers(1, 30))
        n = int(rng.integers(0, 120))
        ids = np.repeat(rng.integers(0, n_nodes, n), rng.integers(1, 4, n))  # runs of equal ids
        with h5py.File(tmp_path / f"{trial}.h5", "w") as f:
            write_index(f.create_group("g"), f.create_dataset("ids", data=ids.astype(np.uint64)), n_nodes,
                        chunk=chunk, max_runs=max_runs)
            node_to_ranges, range_to_edge = index_ranges(ids, n_nodes)
            assert np.array_equal(f["g/node_id_to_ranges"][()], node_to_ranges)
            assert np.array_equal(f["g/range_to_edge_id"][()], range_to_edge)


def test_streaming_index_rejects_ids_out_of_range(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        with pytest.raises(ValueError, match="node ids must lie in"):
            write_index(f.create_group("g"), f.create_dataset("ids", data=np.array([0, 4], dtype=np.uint64)), 4)
