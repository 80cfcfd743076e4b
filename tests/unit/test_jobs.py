"""Job counts from the data at planning (circuitflow.jobs)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import DATA

from circuitflow.jobs import (
    WORKLOG,
    JobCountError,
    count_snudda_neurons,
    count_sonata_nodes,
    detect_neurons,
    job_count,
    n_jobs,
)

NETWORK = DATA / "prune-fixture/hv40/network"


def test_n_jobs_rounds_up_at_least_four_never_zero():
    assert [n_jobs(n, 1000) for n in (0, 1, 3, 250, 4000, 4001, 10**6)] == [1, 1, 3, 4, 4, 5, 1000]
    with pytest.raises(JobCountError, match=">= 1"):
        n_jobs(10, 0)


def test_fixed_count_overrides_size_and_skips_counting():
    def never() -> int:
        raise AssertionError("counted although a fixed count is set")

    assert job_count({"n_ranges": 3, "neurons_per_range": 1}, "n_ranges", "neurons_per_range", never) == 3
    assert job_count({"n_ranges": None, "neurons_per_range": 5}, "n_ranges", "neurons_per_range", lambda: 28) == 6


def test_counts_from_files(tmp_path):
    assert count_snudda_neurons(NETWORK, WORKLOG) == 28
    assert count_snudda_neurons(DATA / "detect-fixture/hv120/inputs") == 28
    nodes = tmp_path / "nodes.h5"
    with h5py.File(nodes, "w") as f:
        f["nodes/a/node_type_id"] = np.zeros(7, dtype=np.int64)
    assert count_sonata_nodes(nodes) == 7 == count_sonata_nodes(nodes, "a")
    sonata = {"sonata": {"nodes_file": str(nodes)}}
    assert detect_neurons(sonata) == 7
    # the synthesized nodes are not written at planning: synthesis' input cell count stands for them
    assert detect_neurons(sonata, (str(nodes), 9)) == 9
    assert detect_neurons({"network_path": str(DATA / "detect-fixture/hv120/inputs")}) == 28
    with pytest.raises(JobCountError, match="population 'b'"):
        count_sonata_nodes(nodes, "b")
    with pytest.raises(JobCountError, match="network-neuron-positions.hdf5"):
        count_snudda_neurons(tmp_path)
