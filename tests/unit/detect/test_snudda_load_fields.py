"""Snudda's loader reads the positions circuitflow writes for SONATA-sourced detection (issue 18 item 7):
every dataset SnuddaLoad 3.0 opens, with Snudda's dtype kinds and shapes (tests/snudda_contract.py)."""

from __future__ import annotations

import h5py
import numpy as np
from conftest import DATA
from snudda_contract import NEURONS, missing_for_snudda_load

from circuitflow.detect import sources
from circuitflow.detect.steps import write_positions

# added to the worklog (and so to network-synapses.hdf5) by detect_worklog, not to the positions
LATER = ("max_soma_distance_dend",)


def neurons(n: int = 3) -> sources.Neurons:
    return sources.Neurons(
        names=[f"L2-TPC:A_{i}" for i in range(n)],
        positions=np.zeros((n, 3)),
        rotations=np.tile(np.eye(3).ravel(), (n, 1)),
        morphologies=[f"/m/{i}.h5" for i in range(n)],
        reader="morphio",
    )


def test_contract_matches_snudda_placed_positions():
    """The contract is what Snudda's own placement writes: a Snudda-placed file passes it."""
    path = DATA / "detect-fixture/hv20/inputs/network-neuron-positions.hdf5"
    assert missing_for_snudda_load(path, synapses=False) == []


def test_sonata_sourced_positions_have_every_field_snudda_load_reads(tmp_path):
    path = tmp_path / "network-neuron-positions.hdf5"
    write_positions(path, neurons(), volume_id="circuit")
    assert missing_for_snudda_load(path, synapses=False, skip=LATER) == []
    with h5py.File(path, "r") as f:
        g = f["network/neurons"]
        assert set(NEURONS) - set(LATER) <= set(g)
        assert list(g["volume_id"][()]) == [b"circuit"] * 3
        assert list(g["hoc"][()]) == [b""] * 3 and g["hoc"].dtype == np.dtype("S10")
        assert np.isnan(g["axon_density_bounds_xyz"][()]).all() and g["axon_density_bounds_xyz"].shape == (3, 6)


def test_contract_catches_a_missing_or_mistyped_field(tmp_path):
    path = tmp_path / "p.hdf5"
    write_positions(path, neurons())
    with h5py.File(path, "r+") as f:
        del f["network/neurons/hoc"]
        del f["network/neurons/axon_density_radius"]
        f["network/neurons"].create_dataset("axon_density_radius", data=np.zeros(3, dtype=np.int64))
    assert missing_for_snudda_load(path, synapses=False, skip=LATER) == [
        "network/neurons/hoc: missing",
        "network/neurons/axon_density_radius: dtype int64, expected kind f",
    ]
