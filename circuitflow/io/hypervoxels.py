"""Writers for Snudda's detect outputs: hypervoxel files and the detect worklog (spec prune.md §2.2-2.5).

Format only. Every file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from circuitflow.io.atomic import atomic_h5

CHUNK_ROWS = 10000
SYN_WIDTH = 13
GJ_WIDTH = 11
VOXEL_FILE = "network-putative-synapses-{hid}.hdf5"
STR = h5py.string_dtype()


def put_str(g: h5py.Group, name: str, value: str) -> None:
    """A scalar variable-length string dataset."""
    g.create_dataset(name, data=value, dtype=STR)


def put_rows(g: h5py.Group, name: str, rows: np.ndarray, width: int) -> None:
    """An int32 row matrix with Snudda's storage: chunks (10000, w), lzf, resizable rows."""
    g.create_dataset(
        name,
        data=rows.astype(np.int32).reshape(-1, width),
        chunks=(CHUNK_ROWS, width),
        maxshape=(None, width),
        compression="lzf",
    )


def write_meta(g: h5py.Group, meta: dict) -> None:
    """Write the shared /meta values: str -> vlen string, else numpy value with its dtype."""
    for key, value in meta.items():
        if isinstance(value, str):
            put_str(g, key, value)
        else:
            g.create_dataset(key, data=value)


def write_hypervoxel(
    path: str | os.PathLike,
    config_json: str,
    meta: dict,
    synapses: np.ndarray,
    gap_junctions: np.ndarray,
    synapse_lookup: np.ndarray,
    gap_junction_lookup: np.ndarray | None,
    max_channel_type_id: int,
) -> None:
    """One `network-putative-synapses-<HID>.hdf5`; a None gap-junction lookup is written as a null dataset."""
    with atomic_h5(path) as f:
        put_str(f, "config", config_json)
        write_meta(f.create_group("meta"), meta)
        net = f.create_group("network")
        put_rows(net, "synapses", synapses, SYN_WIDTH)
        put_rows(net, "gap_junctions", gap_junctions, GJ_WIDTH)
        net.create_dataset("synapse_lookup", data=np.asarray(synapse_lookup, dtype=np.int64).reshape(-1, 3))
        if gap_junction_lookup is None:
            net.create_dataset("gap_junction_lookup", data=h5py.Empty("int64"))
        else:
            net.create_dataset(
                "gap_junction_lookup", data=np.asarray(gap_junction_lookup, dtype=np.int64).reshape(-1, 3)
            )
        net.create_dataset("max_channel_type_id", data=np.int64(max_channel_type_id))


def write_worklog(
    path: str | os.PathLike,
    meta: dict,
    hyper_voxels_json: str,
    all_hyper_ids: np.ndarray,
    completed: np.ndarray,
    num_synapses: np.ndarray,
    num_gap_junctions: np.ndarray,
    overflow: np.ndarray,
    positions_file: str | os.PathLike,
    neuron_defaults: dict,
) -> None:
    """The detect worklog; counts are per completion slot; `neuron_defaults` fill datasets the positions lack."""
    with atomic_h5(path) as f:
        write_meta(f.create_group("meta"), meta)
        put_str(f, "hyper_voxels", hyper_voxels_json)
        f.create_dataset("all_hyper_ids", data=np.asarray(all_hyper_ids, dtype=np.int32))
        f.create_dataset("completed", data=np.asarray(completed, dtype=np.int32))
        f.create_dataset("num_completed", data=np.array([np.sum(np.asarray(completed) >= 0)], dtype=np.float64))
        f.create_dataset("num_hypervoxel_synapses", data=np.asarray(num_synapses, dtype=np.int64))
        f.create_dataset("num_hypervoxel_gap_junctions", data=np.asarray(num_gap_junctions, dtype=np.int64))
        f.create_dataset("voxel_overflow_counter", data=np.asarray(overflow, dtype=np.int64))
        net = f.create_group("network")
        with h5py.File(positions_file, "r") as src:
            src.copy(src["network/neurons"], net, name="neurons")
        for key, value in neuron_defaults.items():
            if key not in net["neurons"]:
                net["neurons"].create_dataset(key, data=value)
