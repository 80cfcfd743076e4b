"""The raster index: per hypervoxel, its counts and the raster files holding its entries (what a batch opens)."""

from __future__ import annotations

import numpy as np

from circuitflow.detect.partitions import TABLES, write_raster
from circuitflow.detect.rasterise import Table
from circuitflow.detect.steps import nonempty_hids, raster_index, rasters_of, read_raster_index

N_HV = 6


def table(name: str, hids: list[int]) -> Table:
    """Rows of table `name` in hypervoxels `hids` (other columns zero)."""
    cols = {c: np.zeros(len(hids), dtype=dt) for c, dt in TABLES[name].items()}
    cols["hid"] = np.array(hids, dtype=np.int64)
    return Table(cols)


def test_a_batch_opens_only_the_rasters_holding_its_hypervoxels(tmp_path):
    # chunk 0: entries in hypervoxels 1 and 2; chunk 1: in 2 (dendrites only) and 4; chunk 2: members only
    layout = [
        {"member": [1, 2], "axon": [1, 1, 2], "dend": [1]},
        {"member": [2, 4], "axon": [4], "dend": [2, 4]},
        {"member": [5], "axon": [], "dend": []},
    ]
    paths = []
    for k, rows in enumerate(layout):
        paths.append(tmp_path / f"{k}.h5")
        write_raster(paths[-1], {name: table(name, hids) for name, hids in rows.items()}, N_HV)
    raster_index(paths, tmp_path / "index.h5")
    index = tmp_path / "index.h5"
    assert read_raster_index(index) == paths
    hids, cost = nonempty_hids(index)
    assert hids.tolist() == [1, 2, 4, 5] and cost.tolist() == [3, 2, 2, 0]
    assert rasters_of(index, np.array([1])) == [paths[0]]
    assert rasters_of(index, np.array([2])) == [paths[0], paths[1]]  # chunk order
    assert rasters_of(index, np.array([4, 5])) == [paths[1]]
    assert rasters_of(index, np.array([5])) == [] and rasters_of(index, np.zeros(0, np.int64)) == []
