"""Gather one destination range's putative rows from only the hypervoxel files that hold them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from circuitflow.connectome.hypervoxels import PROJECTION_HID, TYPES, HypervoxelError, read_range
from circuitflow.io import snudda as sio

log = logging.getLogger(__name__)


def file_of(network: Path, hid: int) -> Path:
    """Path of the file holding hypervoxel `hid` (-1: the projection file), relative to the network."""
    if hid == PROJECTION_HID:
        return network / sio.PROJECTION_FILE
    return network / sio.VOXEL_FILE.format(hid=hid)


def range_slices(index_path: str | Path, t: str, a: int, b: int) -> list[tuple[int, int, int]]:
    """(hid, start, end) row slices holding destinations [a, b) of type `t`, in ascending HID order."""
    with sio.open_h5(index_path, "prune index") as f:
        off = f[f"{t}/dest_offsets"]
        lo, hi = int(off[a]), int(off[b])
        ent = f[f"{t}/entries"][lo:hi]
    out = []
    for hid in np.unique(ent[:, 1]):
        e = ent[ent[:, 1] == hid]
        start, end = int(e[:, 2].min()), int(e[:, 3].max())
        if end - start != int((e[:, 3] - e[:, 2]).sum()):
            raise HypervoxelError(f"hypervoxel {hid}: rows of destinations {a}..{b - 1} are not contiguous (unsorted input)")
        out.append((int(hid), start, end))
    return out


def read_slice(path: Path, t: str, start: int, end: int, a: int, b: int, n_neurons: int) -> np.ndarray:
    """Read rows [start, end) of table `t` and check they are sorted and target destinations [a, b)."""
    with sio.open_h5(path, "hypervoxel file") as f:
        rows = sio.read_table(f, f"network/{t}", TYPES[t], start, end)
    if len(rows):
        dest, src = rows[:, 1].astype(np.int64), rows[:, 0].astype(np.int64)
        if dest.min() < a or dest.max() >= b:
            raise HypervoxelError(f"{path}: network/{t} rows {start}..{end} hold destinations outside {a}..{b - 1} "
                                  "(lookup table and rows disagree)")
        if src.min() < 0 or src.max() >= n_neurons:
            raise HypervoxelError(f"{path}: network/{t} rows {start}..{end} hold source neuron ids out of range "
                                  f"0..{n_neurons - 1}")
        key = dest * (1 << 32) + src
        if np.any(np.diff(key) < 0):
            raise HypervoxelError(f"{path}: network/{t} is not sorted by (dest, src) (unsorted input)")
    return rows


def gather_range(network: str | Path, index_path: str | Path, n_ranges: int, i: int, out: str | Path) -> dict:
    """Collect range `i`'s rows of both types into `out`, file by file in ascending HID order."""
    network = Path(network)
    a, b = read_range(index_path, n_ranges, i)
    with sio.open_h5(index_path, "prune index") as f:
        N = int(f.attrs["n_neurons"])
    counts = {}
    n_files = set()
    with sio.atomic_h5(out) as h5:
        h5.attrs["range"] = (a, b)
        h5.attrs["n_neurons"] = N
        for t, width in TYPES.items():
            slices = range_slices(index_path, t, a, b) if a < b else []
            total = sum(e - s for _, s, e in slices)
            ds = h5.create_dataset(t, shape=(total, width), dtype=np.int32)
            segments = np.zeros((len(slices), 2), dtype=np.int64)
            pos = 0
            for k, (hid, s, e) in enumerate(tqdm(slices, desc=f"gather {t}", unit="file", disable=None)):
                rows = read_slice(file_of(network, hid), t, s, e, a, b, N)
                if len(rows):
                    ds[pos:pos + len(rows)] = rows
                pos += len(rows)
                segments[k] = (hid, len(rows))
                n_files.add(hid)
            h5[f"{t}_segments"] = segments
            counts[t] = total
    log.info("range %d/%d: neurons %d..%d, %d synapses and %d gap junctions from %d files",
             i, n_ranges, a, b - 1, counts["synapses"], counts["gap_junctions"],
             len(n_files))
    return {"range": (a, b), **counts}
