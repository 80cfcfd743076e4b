"""prune_file.dest_chunks: pieces of a merge file cut at destination changes, through one reused buffer."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from circuitflow.prune.prune_file import dest_chunks


@pytest.mark.parametrize("chunk_rows", [1, 3, 10, 64, 10_000])
def test_pieces_tile_the_table_and_end_at_destination_changes(tmp_path, chunk_rows):
    rng = np.random.default_rng(3)
    runs = np.r_[rng.integers(1, 8, 30), 150, rng.integers(1, 4, 10), 40]  # two destinations span many pieces
    dest = np.repeat(np.arange(len(runs)), runs)
    rows = rng.integers(0, 100, size=(len(dest), 13), dtype=np.int32)
    rows[:, 1] = dest
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["network/synapses"] = rows
        f["network/gap_junctions"] = np.zeros((0, 11), np.int32)
    with h5py.File(tmp_path / "m.h5") as f:
        pieces = [p.copy() for p in dest_chunks(f["network/synapses"], chunk_rows)]
        assert list(dest_chunks(f["network/gap_junctions"], chunk_rows)) == []
    np.testing.assert_array_equal(np.concatenate(pieces), rows)
    for before, after in zip(pieces, pieces[1:]):
        assert before[-1, 1] < after[0, 1]
    if chunk_rows >= 150:
        assert max(len(p) for p in pieces) <= chunk_rows
