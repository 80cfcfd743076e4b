"""Detect on a SONATA circuit of synthesized cells (contour somata, apical dendrites), through Snakemake."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from conftest import DATA, run_snakemake
from test_detect_handbuilt import write_sonata

from circuitflow.detect.sources import rename_connectivity
from circuitflow.detect.tree import BASAL, build_tree
from circuitflow.io.morphology_points import APICAL, SOMA, read_morphio

SONATA = DATA / "detect-sonata"
NAMES = ["14a03569d26b949692e5dfe8cb1855fe", "4462ebfc5f915ef09cfbac6e7687a66e", "216363698b529b4a97b750923ceb3ffd"]


def test_synthesized_morphology_reads_as_one_tree():
    pts = read_morphio(SONATA / f"{NAMES[0]}.h5")
    assert pts.kind[0] == SOMA and np.all(pts.xyz[0] == 0) and np.sum(pts.kind == SOMA) == 1
    assert 2 < pts.radius[0] < 20  # mean distance of the contour points, µm
    assert np.any(pts.kind == APICAL)
    tree = build_tree(pts)
    assert not np.any(tree.kind == APICAL) and np.any(tree.kind == BASAL)
    # every neurite point hangs on the tree: root sections on the soma, the others on their parent
    assert np.all(pts.parent[1:] >= 0) and np.all(pts.parent[1:] < np.arange(1, len(pts.kind)))
    assert len(tree.segments[2].a) > 100 and len(tree.segments[3].a) > 100


def test_mtype_names_become_snudda_types():
    cfg = {"regions": {"R": {"connectivity": {"L2_TPC:A,L5_TPC:B": {}, "L2_TPC:A,['L2_TPC:A', 'L5_TPC:B']": {}}}}}
    keys = list(rename_connectivity(cfg)["regions"]["R"]["connectivity"])
    assert keys == ["L2-TPC:A,L5-TPC:B", "L2-TPC:A,['L2-TPC:A', 'L5-TPC:B']"]


@pytest.mark.slow
def test_detect_on_sonata_circuit(tmp_path):
    xyz = np.array([[200.0, 200.0, 200.0], [210.0, 200.0, 200.0], [200.0, 210.0, 200.0]])
    write_sonata(tmp_path / "nodes.h5", NAMES, ["L2_TPC:A", "L2_TPC:A", "L5_TPC:B"], xyz)
    config = {
        "random_seed": {"detect": 7},
        "regions": {
            "Column": {
                "connectivity": {
                    "L2_TPC:A,L2_TPC:A": {"AMPA": {"conductance": [1e-9, 3e-10]}},
                    "L2_TPC:A,L5_TPC:B": {"AMPA": {"conductance": [1e-9, 3e-10]}},
                    "L5_TPC:B,L2_TPC:A": {"GABA": {"conductance": [2e-9, 5e-10]}},
                }
            }
        },
    }
    (tmp_path / "net.json").write_text(json.dumps(config))
    run_cfg = {
        "out_dir": str(tmp_path / "out"),
        "detect": {
            "sonata": {
                "nodes_file": str(tmp_path / "nodes.h5"),
                "morphology_dir": str(SONATA),
                "network_config": str(tmp_path / "net.json"),
            },
            "hyper_voxel_size": 40,
            "neuron_chunks": 2,
            "hypervoxel_jobs": 2,
        },
    }
    run_snakemake(tmp_path, run_cfg, "--cores", "2", "detect")
    net = tmp_path / "out/network"
    rows = []
    for p in (net / "voxels").glob("*.hdf5"):
        with h5py.File(p, "r") as f:
            rows.append(f["network/synapses"][()])
    rows = np.concatenate(rows)
    assert len(rows) >= 4  # these synthesized axons are short (300-500 µm): few touches
    pairs = {(int(a), int(b)) for a, b in rows[:, :2]}
    assert pairs <= {(0, 1), (1, 0), (0, 2), (1, 2), (2, 0), (2, 1)} and len(pairs) >= 2
    channel = {(0, 1): 10, (1, 0): 10, (0, 2): 11, (1, 2): 11, (2, 0): 12, (2, 1): 12}
    assert all(r[6] == channel[(r[0], r[1])] for r in rows)
    with h5py.File(net / "log/network-detect-worklog.hdf5", "r") as f:
        names = [n.decode() for n in f["network/neurons/name"][()]]
        assert names == ["L2-TPC:A_0", "L2-TPC:A_1", "L5-TPC:B_2"]
        assert np.all(f["network/neurons/max_soma_distance_dend"][()] > 100e-6)
    keys = json.loads((net / "network-config.json").read_text())["regions"]["Column"]["connectivity"]
    assert list(keys) == ["L2-TPC:A,L2-TPC:A", "L2-TPC:A,L5-TPC:B", "L5-TPC:B,L2-TPC:A"]
