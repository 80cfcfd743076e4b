"""circuitflow.summary: counts read from file headers, only outputs that exist; no matplotlib."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
from conftest import DATA

from circuitflow.summary import run_summary


def write_network(tmp_path):
    """A detect worklog (3 hypervoxels, 2 completed) and a pruned network file."""
    network = tmp_path / "network"
    (network / "log").mkdir(parents=True)
    with h5py.File(network / "log/network-detect-worklog.hdf5", "w") as f:
        f["num_completed"] = np.array([2])
        f["num_hypervoxel_synapses"] = np.array([10, 5, 1000])  # the third is not completed
        f["num_hypervoxel_gap_junctions"] = np.array([3, 0, 1000])
        f["num_projection_synapses"] = 4
    with h5py.File(tmp_path / "network-synapses.hdf5", "w") as f:
        f["network/synapses"] = np.zeros((7, 13), np.int32)
        f["network/gap_junctions"] = np.zeros((2, 11), np.int32)
    return network


def test_summary_counts_cells_putative_and_kept(tmp_path):
    cells = tmp_path / "synthesis/nodes.h5"
    cells.parent.mkdir()
    shutil.copy(DATA / "synthesis-column/inputs/cells/input_cells.h5", cells)
    network = write_network(tmp_path)
    text = run_summary(
        tmp_path,
        cells=cells,
        network=network,
        synapses=tmp_path / "network-synapses.hdf5",
        sonata=tmp_path / "sonata",
        report=tmp_path / "report",
    )
    lines = text.splitlines()
    assert lines[0] == f"circuitflow: outputs in {tmp_path}/ (logs in {tmp_path}/logs/)"
    assert f"synthesis: 14 cells grown -> {cells}" in lines[1]
    assert "19 putative synapses, 3 putative gap junctions" in lines[2]
    assert "7 synapses, 2 gap junctions kept" in lines[3]
    assert len(lines) == 4  # no sonata or report folder yet


def test_summary_skips_missing_outputs(tmp_path):
    assert run_summary(tmp_path, cells=tmp_path / "none.h5", network=tmp_path / "net") == (
        f"circuitflow: outputs in {tmp_path}/ (logs in {tmp_path}/logs/)"
    )


def test_the_summary_does_not_import_matplotlib():
    """The end of every run imports it in Snakemake's process: matplotlib would add 0.3 s there."""
    import subprocess
    import sys

    from conftest import ROOT

    code = "import sys, circuitflow.summary; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
