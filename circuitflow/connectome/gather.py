"""Gather one destination range's putative rows from only the hypervoxel files that hold them.

`gather_rows` reads the range's row slices straight into one array per type (no copies) and checks
them; the `gather_merge` rule merges that in memory and writes only the merged file (one job per range, no
gathered intermediate).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from circuitflow.connectome.hypervoxels import PROJECTION_HID, TYPES, HypervoxelError, range_bounds_of
from circuitflow.io import snudda as sio

log = logging.getLogger(__name__)


@dataclass
class Gathered:
    """One destination range's rows per type, file by file in ascending HID order."""

    range: tuple[int, int]
    n_neurons: int
    n_types: int  # max_channel_type_id of the network (at least 4)
    rows: dict[str, np.ndarray]  # type -> (n, width) int32
    segments: dict[str, np.ndarray]  # type -> (files, 2) int64: HID, rows from that file
    pair: dict[str, np.ndarray] = field(default_factory=dict)  # type -> dest * N + src (int64), from the checks


def file_of(network: Path, hid: int) -> Path:
    """Path of the file holding hypervoxel `hid` (-1: the projection file), relative to the network."""
    if hid == PROJECTION_HID:
        return network / sio.PROJECTION_FILE
    return network / sio.VOXEL_FILE.format(hid=hid)


def slices_of(ent: np.ndarray, a: int, b: int) -> list[tuple[int, int, int]]:
    """(hid, start, end) row slices of index entries [dest, hid, start, end), in ascending HID order."""
    if len(ent) == 0:
        return []
    ent = ent[np.argsort(ent[:, 1], kind="stable")]
    first = np.flatnonzero(np.r_[True, ent[1:, 1] != ent[:-1, 1]])
    hids = ent[first, 1]
    start = np.minimum.reduceat(ent[:, 2], first)
    end = np.maximum.reduceat(ent[:, 3], first)
    size = np.add.reduceat(ent[:, 3] - ent[:, 2], first)
    bad = np.flatnonzero(end - start != size)
    if len(bad):
        raise HypervoxelError(f"hypervoxel {hids[bad[0]]}: rows of destinations {a}..{b - 1} are not contiguous "
                              "(unsorted input)")
    return [(int(h), int(s), int(e)) for h, s, e in zip(hids, start, end)]


def range_slices(index_path: str | Path, t: str, a: int, b: int) -> list[tuple[int, int, int]]:
    """(hid, start, end) row slices holding destinations [a, b) of type `t`, in ascending HID order."""
    with sio.open_h5(index_path, "prune index") as f:
        off = f[f"{t}/dest_offsets"]
        lo, hi = int(off[a]), int(off[b])
        return slices_of(f[f"{t}/entries"][lo:hi], a, b)


def check_rows(rows: np.ndarray, t: str, paths: list[Path], starts: list[int], counts: np.ndarray, a: int, b: int,
               n_neurons: int) -> np.ndarray:
    """Check gathered rows target [a, b), have valid sources and are (dest, src)-sorted per file; return dest*N+src."""
    bounds = np.r_[0, np.cumsum(counts)]

    def where(row: int) -> str:
        k = int(np.searchsorted(bounds, row, side="right")) - 1
        return f"{paths[k]}: network/{t} rows {starts[k]}..{starts[k] + int(counts[k])}"

    dest, src = rows[:, 1], rows[:, 0]
    if len(rows) == 0:
        return np.zeros(0, np.int64)
    if dest.min() < a or dest.max() >= b:
        bad = int(np.flatnonzero((dest < a) | (dest >= b))[0])
        raise HypervoxelError(f"{where(bad)} hold destinations outside {a}..{b - 1} (lookup table and rows disagree)")
    if src.min() < 0 or src.max() >= n_neurons:
        bad = int(np.flatnonzero((src < 0) | (src >= n_neurons))[0])
        raise HypervoxelError(f"{where(bad)} hold source neuron ids out of range 0..{n_neurons - 1}")
    pair = dest.astype(np.int64)
    pair *= n_neurons
    pair += src
    down = pair[1:] < pair[:-1]
    down[bounds[1:-1] - 1] = False  # a new file starts over
    if down.any():
        k = int(np.searchsorted(bounds, int(np.flatnonzero(down)[0]) + 1, side="right")) - 1
        raise HypervoxelError(f"{paths[k]}: network/{t} is not sorted by (dest, src) (unsorted input)")
    return pair


def read_range_index(index_path: str | Path, n_ranges: int, i: int) -> tuple[tuple[int, int], int, int, dict]:
    """Bounds, N, T and the (hid, start, end) slices per type of range `i`, from one pass over the index."""
    if not 0 <= i < n_ranges:
        raise ValueError(f"range {i} is not in 0..{n_ranges - 1}")
    with sio.open_h5(index_path, "prune index") as f:
        N = int(f.attrs["n_neurons"])
        T = max(int(f.attrs["max_channel_type_id"]), 4)
        bounds = range_bounds_of(f, n_ranges)
        a, b = int(bounds[i]), int(bounds[i + 1])
        slices = {}
        for t in TYPES:
            off = f[f"{t}/dest_offsets"]
            lo, hi = int(off[a]), int(off[b])
            slices[t] = slices_of(f[f"{t}/entries"][lo:hi], a, b) if a < b else []
    return (a, b), N, T, slices


def gather_rows(network: str | Path, index_path: str | Path, n_ranges: int, i: int) -> Gathered:
    """Read range `i`'s rows of both types from the hypervoxel files holding them, checked, in ascending HID order."""
    network = Path(network)
    (a, b), N, T, slices = read_range_index(index_path, n_ranges, i)
    g = Gathered((a, b), N, T, {}, {})
    n_files = set()
    for t, width in TYPES.items():
        total = sum(e - s for _, s, e in slices[t])
        rows = np.empty((total, width), dtype=np.int32)
        segments = np.zeros((len(slices[t]), 2), dtype=np.int64)
        paths, pos = [], 0
        for k, (hid, s, e) in enumerate(slices[t]):
            path = file_of(network, hid)
            with sio.open_h5(path, "hypervoxel file") as f:
                sio.read_table_into(f, f"network/{t}", width, s, e, rows[pos:pos + e - s])
            pos += e - s
            segments[k] = (hid, e - s)
            paths.append(path)
            n_files.add(hid)
        g.pair[t] = check_rows(rows, t, paths, [s for _, s, _ in slices[t]], segments[:, 1], a, b, N)
        g.rows[t], g.segments[t] = rows, segments
    log.info("range %d/%d: neurons %d..%d, %d synapses and %d gap junctions from %d files", i, n_ranges, a, b - 1,
             len(g.rows["synapses"]), len(g.rows["gap_junctions"]), len(n_files))
    return g
