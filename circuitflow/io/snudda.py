"""Readers and writers for Snudda's network files (worklog, hypervoxel files, network-synapses.hdf5).

Everything here is format only: no pruning logic. Input files are opened read-only; every file
written goes to a temporary name first and is renamed on success, so a failed job leaves nothing
half-written behind.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from circuitflow.errors import CircuitflowError

WORKLOG = "log/network-detect-worklog.hdf5"
VOXEL_FILE = "voxels/network-putative-synapses-{hid}.hdf5"
PROJECTION_FILE = "network-projection-synapses.hdf5"
NETWORK_CONFIG = "network-config.json"

SYN_WIDTH = 13
GJ_WIDTH = 11
CHUNK_ROWS = 10000
#: The connection type name of gap junctions in a network config's connectivity.
GAP_JUNCTION = "gap_junction"
#: The channel (synapse type) id of gap junctions in Snudda's tables.
GAP_JUNCTION_CHANNEL = 3
#: Snudda's built-in prune seed, used when no config gives one (spec P-5).
DEFAULT_PRUNE_SEED = 1003

# Legacy (camelCase) HDF5 names and their current spelling (spec prune.md §2.8).
LEGACY_NAMES = {
    "meta/voxelSize": "meta/voxel_size",
    "meta/hyperVoxelSize": "meta/hyper_voxel_size",
    "meta/simulationOrigo": "meta/simulation_origo",
    "meta/hyperVoxelIDs": "meta/hyper_voxel_ids",
    "meta/connectivityDistributions": "meta/connectivity_distributions",
    "allHyperIDs": "all_hyper_ids",
    "nCompleted": "num_completed",
    "nHypervoxelSynapses": "num_hypervoxel_synapses",
    "hyperVoxels": "hyper_voxels",
    "network/neurons/neuronID": "network/neurons/neuron_id",
    "network/gapJunctions": "network/gap_junctions",
    "network/synapseLookup": "network/synapse_lookup",
    "network/maxChannelTypeID": "network/max_channel_type_id",
}


class SnuddaFormatError(CircuitflowError, ValueError):
    """A Snudda network file is missing, unreadable or not in the expected layout."""


def decode(value: Any) -> Any:
    """Decode HDF5 bytes (h5py 3 returns variable-length strings as bytes) to str."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
        return [decode(v) for v in value.tolist()]
    return value


def open_readonly(path: str | os.PathLike, what: str = "file") -> h5py.File:
    """Open an HDF5 file read-only, turning a missing or corrupt file into a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise SnuddaFormatError(f"{path}: {what} does not exist")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise SnuddaFormatError(f"{path}: cannot read {what} as HDF5 ({exc})") from None


@contextlib.contextmanager
def open_h5(path: str | os.PathLike, what: str = "file") -> Iterator[h5py.File]:
    """open_readonly as a context manager (the file is closed on exit)."""
    f = open_readonly(path, what)
    try:
        yield f
    finally:
        f.close()


def require(f: h5py.File, key: str) -> h5py.Dataset:
    """Return dataset `key` of `f`, or fail naming the file, the key and the current name of a legacy key."""
    try:  # one lookup, not `key in f` and then f[key]: check_hypervoxels does this ten times per file
        return f[key]
    except KeyError:
        pass
    legacy = {v: k for k, v in LEGACY_NAMES.items()}.get(key)
    if legacy is not None and legacy in f:
        raise SnuddaFormatError(
            f"{f.filename}: legacy (camelCase) Snudda file: has '{legacy}', expected '{key}'; "
            "re-run detect with Snudda >= 2024 or circuitflow"
        )
    raise SnuddaFormatError(f"{f.filename}: missing dataset '{key}'")


def read_scalar(f: h5py.File, key: str) -> Any:
    """Read a scalar (or small array) dataset, decoding strings.

    Numbers are read through h5py's low-level API: the high-level one costs about 0.3 ms per dataset, which
    dominated checking thousands of hypervoxel files.
    """
    try:
        dsid = h5py.h5d.open(f.id, key.encode())
    except KeyError:
        dsid = None
    if dsid is None or dsid.shape is None or dsid.dtype.kind not in "iuf":
        return decode(require(f, key)[()])
    value = np.empty(dsid.shape, dtype=dsid.dtype)
    dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, value)
    return value[()]


def require_table(f: h5py.File, key: str, width: int) -> h5py.Dataset:
    """Dataset `key` of `f`, checked to be an integer (n, width) table (a null dataspace is an empty one)."""
    ds = require(f, key)
    if ds.shape is not None and (len(ds.shape) != 2 or ds.shape[1] != width):
        raise SnuddaFormatError(f"{f.filename}: '{key}' has shape {ds.shape}, expected (n, {width}) columns")
    if ds.dtype.kind not in "iu":
        raise SnuddaFormatError(f"{f.filename}: '{key}' has dtype {ds.dtype}, expected int32")
    return ds


def read_lookup(f: h5py.File, key: str) -> np.ndarray:
    """Read a (n_pairs, 3) int64 lookup table; a null dataspace (no gap junctions configured) is empty."""
    ds = require(f, key)
    if ds.shape is None or ds.shape == () or ds.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if len(ds.shape) != 2 or ds.shape[1] != 3:
        raise SnuddaFormatError(f"{f.filename}: '{key}' has shape {ds.shape}, expected (n, 3)")
    return np.asarray(ds[()], dtype=np.int64)


def table_rows(f: h5py.File, key: str, width: int) -> int:
    """Number of rows of an integer (n, width) table, checked by require_table."""
    ds = require_table(f, key, width)
    return 0 if ds.shape is None else int(ds.shape[0])


def neuron_ids(f: h5py.File) -> np.ndarray:
    """The worklog's network/neurons/neuron_id, checked to be exactly 0..N-1."""
    ids = np.asarray(require(f, "network/neurons/neuron_id")[()], dtype=np.int64)
    if len(ids) == 0 or not np.array_equal(ids, np.arange(len(ids))):
        raise SnuddaFormatError(f"{f.filename}: network/neurons/neuron_id must be exactly 0..N-1")
    return ids


def neuron_count(worklog: str | os.PathLike) -> int:
    """N, the number of neurons of the worklog (its ids checked)."""
    with open_h5(worklog, "detect worklog") as f:
        return len(neuron_ids(f))


def read_neurons(worklog: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read what prune needs of the worklog's neuron table: ids, type names, population units."""
    with open_h5(worklog, "detect worklog") as f:
        ids = neuron_ids(f)
        names = decode(require(f, "network/neurons/name")[()])
        if "network/neurons/population_unit_id" in f:
            units = np.asarray(f["network/neurons/population_unit_id"][()], dtype=np.int64)
        else:
            units = np.zeros(len(ids), dtype=np.int64)
        out = {"neuron_id": ids, "name": np.asarray(names, dtype=object), "population_unit_id": units}
        if "network/neurons/max_soma_distance_dend" in f:
            out["max_soma_distance_dend"] = np.asarray(f["network/neurons/max_soma_distance_dend"][()])
    return out


def create_table(f: h5py.File, key: str, n_rows: int, width: int, compress: bool = True) -> h5py.Dataset:
    """Create an int32 (n_rows, width) table in Snudda's layout: 10000-row chunks, lzf, growable."""
    return f.create_dataset(
        key,
        shape=(n_rows, width),
        dtype=np.int32,
        chunks=(CHUNK_ROWS, width),
        maxshape=(None, width),
        compression="lzf" if compress else None,
    )


def write_network_synapses_header(out: h5py.File, worklog: str | os.PathLike, prune_config: dict) -> None:
    """Write /config (the prune config), /meta and /network/neurons (copies of the worklog's)."""
    out.create_dataset("config", data=json.dumps(prune_config))
    with open_h5(worklog, "detect worklog") as src:
        src.copy(src["meta"], out, "meta")
        out.require_group("network")
        src.copy(src["network/neurons"], out["network"], "neurons")
