"""Gather one destination range's putative rows, block by block, from only the hypervoxel files that hold them.

A range is cut into blocks of whole destinations of about `BLOCK_ROWS` rows. Every hypervoxel file
holds its rows sorted by destination, so a block's rows are one contiguous slice per file, and the
merge order sorts by destination first, so each block is merged on its own. Memory is then bounded
by a block, not by the range, and every block reuses the same (already touched) buffers. The files
stay open across blocks, so every LZF chunk is decompressed once (io.chunked, straight into place).
"""

from __future__ import annotations

import logging
import resource
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from circuitflow.io import snudda as sio
from circuitflow.io.chunked import RawBuffer, TableReader
from circuitflow.prune.index import TYPES, HypervoxelError, file_of, range_bounds, range_bounds_of

log = logging.getLogger(__name__)

BLOCK_ROWS = 1 << 17  # rows gathered and merged at a time (6.8 MB of synapse rows; larger blocks only cost memory)
INDEX_PIECE = 1 << 20  # index entries read at a time


@dataclass
class RangeIndex:
    """One destination range's index entries per type: (hid, [dest, start, end) rows) per file, ascending HID."""

    range: tuple[int, int]
    n_neurons: int
    n_types: int  # max_channel_type_id of the network (at least 4)
    entries: dict[str, list[tuple[int, np.ndarray]]]  # each file's entries are sorted by dest


@dataclass
class Block:
    """Whole destinations [d0, d1) of a range and their (hid, start, end) row slices, in ascending HID order."""

    dests: tuple[int, int]
    slices: list[tuple[int, int, int]]
    n_rows: int


def read_range_index(index_path: str | Path, n_ranges: int, i: int) -> RangeIndex:
    """Bounds, N, T and the index entries per type of range `i` of `n_ranges`, reading the index a piece at a time."""
    if not 0 <= i < n_ranges:
        raise ValueError(f"range {i} is not in 0..{n_ranges - 1}")
    with sio.open_h5(index_path, "prune index") as f:
        N = int(f.attrs["n_neurons"])
        T = max(int(f.attrs["max_channel_type_id"]), 4)
        bounds = range_bounds_of(f, n_ranges)
        a, b = int(bounds[i]), int(bounds[i + 1])
        hids = f["hids"][()]
        entries = {t: range_entries(f[f"{t}/entries"], f[f"{t}/file_offsets"][()], hids, a, b) for t in TYPES}
    return RangeIndex((a, b), N, T, entries)


def range_entries(
    ds: h5py.Dataset, offsets: np.ndarray, hids: np.ndarray, a: int, b: int, piece: int = INDEX_PIECE
) -> list[tuple[int, np.ndarray]]:
    """(hid, [dest, start, end) entries of destinations [a, b)) of every file holding some, reading `piece` at a time."""
    out = []
    j, n_files = 0, len(hids)
    while j < n_files:  # files j..k-1: at most `piece` entries (at least one file)
        k = max(j + 1, int(np.searchsorted(offsets, offsets[j] + piece, side="right")) - 1)
        chunk = ds[offsets[j] : offsets[k]]
        for f in range(j, k):
            ent = chunk[offsets[f] - offsets[j] : offsets[f + 1] - offsets[j]]
            lo, hi = np.searchsorted(ent[:, 0], [a, b])
            if hi > lo:
                out.append((int(hids[f]), np.array(ent[lo:hi], dtype=np.int64)))
        j = k
    return out


def blocks_of(entries: list[tuple[int, np.ndarray]], a: int, b: int, block_rows: int = BLOCK_ROWS) -> list[Block]:
    """Cut destinations [a, b) into blocks of whole destinations of about `block_rows` rows (no empty block).

    A file's entries tile its rows in destination order (check_hypervoxels checks the lookup tables), so
    a block's destinations are one contiguous slice of rows in each file.
    """
    per_dest = np.zeros(b - a, dtype=np.int64)
    for _, ent in entries:
        per_dest[ent[:, 0] - a] += ent[:, 2] - ent[:, 1]  # a file holds each destination once
    total = int(per_dest.sum())
    if total == 0:
        return []
    cuts = range_bounds(per_dest, -(-total // max(1, block_rows))) + a
    slices: list[list[tuple[int, int, int]]] = [[] for _ in range(len(cuts) - 1)]
    for hid, ent in entries:  # ascending HID, so every block's slices are too
        lo, hi = np.searchsorted(ent[:, 0], cuts[:-1]), np.searchsorted(ent[:, 0], cuts[1:])
        for k in np.flatnonzero(hi > lo).tolist():
            slices[k].append((hid, int(ent[lo[k], 1]), int(ent[hi[k] - 1, 2])))
    return [
        Block((int(cuts[k]), int(cuts[k + 1])), sl, sum(e - s for _, s, e in sl)) for k, sl in enumerate(slices) if sl
    ]


class HypervoxelFiles:
    """Hypervoxel tables kept open across blocks (at most `limit` files at once, least recently used closed first).

    A table stays open, not just its file, with the last chunk it decompressed: a block boundary inside
    an LZF chunk then does not decompress that chunk twice.
    """

    def __init__(self, network: str | Path, limit: int | None = None):
        self.network = Path(network)
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        # each open file holds two descriptors (HDF5's and the raw chunk reader's)
        self.limit = max(1, limit if limit is not None else min(256, (soft if soft > 0 else 1024) // 8))
        self.open: OrderedDict[int, tuple[h5py.File, dict[str, TableReader]]] = OrderedDict()
        self.raw = RawBuffer()  # compressed chunk bytes: one buffer for all tables

    def table(self, hid: int, t: str) -> TableReader:
        """The open, checked table `t` of hypervoxel `hid` (-1: the projection file)."""
        entry = self.open.pop(hid, None)
        if entry is None:
            if len(self.open) >= self.limit:
                close_entry(self.open.popitem(last=False)[1])
            entry = (sio.open_readonly(file_of(self.network, hid), "hypervoxel file"), {})
        self.open[hid] = entry
        f, tables = entry
        if t not in tables:
            tables[t] = TableReader(sio.require_table(f, f"network/{t}", TYPES[t]), self.raw)
        return tables[t]

    def read(self, hid: int, t: str, start: int, stop: int, out: np.ndarray) -> None:
        """Read rows [start, stop) of table `t` of hypervoxel `hid` into `out`."""
        self.table(hid, t).read(start, stop, out)

    def close(self) -> None:
        """Close every open file."""
        while self.open:
            close_entry(self.open.popitem()[1])

    def __enter__(self) -> "HypervoxelFiles":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def close_entry(entry: tuple[h5py.File, dict[str, TableReader]]) -> None:
    """Close an open hypervoxel file and its table readers."""
    f, tables = entry
    for reader in tables.values():
        reader.close()
    f.close()


def check_rows(
    rows: np.ndarray, t: str, paths: list[Path], starts: list[int], counts: np.ndarray, a: int, b: int, n_neurons: int
) -> np.ndarray:
    """Check gathered rows have valid sources, are (dest, src)-sorted per file and target [a, b); return dest*N+src."""
    bounds = np.r_[0, np.cumsum(counts)]

    def where(row: int) -> str:
        k = int(np.searchsorted(bounds, row, side="right")) - 1
        return f"{paths[k]}: network/{t} rows {starts[k]}..{starts[k] + int(counts[k])}"

    if len(rows) == 0:
        return np.zeros(0, np.int64)
    dest, src = rows[:, 1], rows[:, 0]
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
    if dest.min() < a or dest.max() >= b:  # sorted rows out of the block: the lookup table lies about them
        bad = int(np.flatnonzero((dest < a) | (dest >= b))[0])
        raise HypervoxelError(f"{where(bad)} hold destinations outside {a}..{b - 1} (lookup table and rows disagree)")
    return pair


def gather_block(
    files: HypervoxelFiles, t: str, block: Block, n_neurons: int, out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a block's rows of type `t` into `out` (file by file, ascending HID), checked.

    Returns the rows (a view of `out`), the (hid, rows) segments and dest * N + src per row.
    """
    segments = np.zeros((len(block.slices), 2), dtype=np.int64)
    pos = 0
    for k, (hid, s, e) in enumerate(block.slices):
        files.read(hid, t, s, e, out[pos : pos + e - s])
        segments[k] = (hid, e - s)
        pos += e - s
    rows = out[:pos]
    paths = [file_of(files.network, hid) for hid, _, _ in block.slices]
    pair = check_rows(rows, t, paths, [s for _, s, _ in block.slices], segments[:, 1], *block.dests, n_neurons)
    return rows, segments, pair
