"""Merge one range's gathered rows into Snudda's order, then group rows by (src, dest, type).

Snudda's merge (spec prune.md §3.4): lookup groups (one per (src, dest) run of a file, tagged with
unique_id = (dest*N + src)*T + type of the run's first row) stably sorted by (unique_id, HID).
circuitflow then stably sorts by (dest, src, channel) (decision P-1), which changes nothing except
for destinations whose pairs interleave types across hypervoxels; those are reported.

The `gather_merge` rule runs gather and merge in one job per range (`gather_merge_range`), a block of
whole destinations at a time (the order sorts by destination first, so blocks merge independently):
the only file written is the merged one that re-pruning reads.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from circuitflow.io.atomic import atomic_h5
from circuitflow.progress import progress
from circuitflow.prune.gather import BLOCK_ROWS, HypervoxelFiles, RangeIndex, blocks_of, gather_block, read_range_index
from circuitflow.prune.index import TYPES

log = logging.getLogger(__name__)

INTERLEAVED = "network/type_interleaved_dest_ids"


def run_types(rows: np.ndarray, segments: np.ndarray, pair: np.ndarray) -> np.ndarray:
    """Per row, the channel of the first row of its (src, dest) run within its file (Snudda's lookup type)."""
    n = len(rows)
    run_start = np.empty(n, dtype=bool)
    run_start[0] = True
    np.not_equal(pair[1:], pair[:-1], out=run_start[1:])
    run_start[np.cumsum(segments[:, 1])[:-1]] = True
    starts = np.flatnonzero(run_start)
    return np.repeat(rows[starts, 6], np.diff(np.r_[starts, n]))


def pair_keys(rows: np.ndarray, n_neurons: int) -> np.ndarray:
    """dest * N + src of every row (int64)."""
    pair = rows[:, 1].astype(np.int64)
    pair *= n_neurons
    pair += rows[:, 0]
    return pair


def snudda_order(
    rows: np.ndarray,
    segments: np.ndarray,
    n_neurons: int,
    n_types: int,
    gap_junctions: bool,
    pair: np.ndarray | None = None,
) -> np.ndarray:
    """Permutation putting gathered rows (ascending HID segments, file order) into Snudda's merge order."""
    n = len(rows)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if pair is None:
        pair = pair_keys(rows, n_neurons)
    uid = pair * n_types
    uid += 3 if gap_junctions else run_types(rows, segments, pair)
    return np.argsort(uid, kind="stable")


def type_interleaved(rows: np.ndarray) -> np.ndarray:
    """Destinations where some pair's channel decreases from one row to the next (decision P-1)."""
    if len(rows) < 2:
        return np.zeros(0, dtype=np.int64)
    same = (rows[1:, 0] == rows[:-1, 0]) & (rows[1:, 1] == rows[:-1, 1])
    down = same & (rows[1:, 6] < rows[:-1, 6])
    return np.unique(rows[1:, 1][down]).astype(np.int64)


def group_by_type(rows: np.ndarray, n_neurons: int, n_types: int) -> np.ndarray:
    """Stable sort of Snudda-ordered synapse rows by (dest, src, channel); identity when not interleaved."""
    key = (rows[:, 1].astype(np.int64) * n_neurons + rows[:, 0]) * n_types + rows[:, 6]
    if len(key) < 2 or np.all(key[1:] >= key[:-1]):
        return rows
    return rows[np.argsort(key, kind="stable")]


def merge_order(
    rows: np.ndarray,
    segments: np.ndarray,
    n_neurons: int,
    n_types: int,
    gap_junctions: bool,
    pair: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Permutation to the merged order (Snudda's, then grouped by type for synapses) and the interleaved dests.

    The same result as snudda_order, then type_interleaved and group_by_type on the permuted rows,
    without permuting the rows themselves.
    """
    if pair is None:
        pair = pair_keys(rows, n_neurons)
    perm = snudda_order(rows, segments, n_neurons, n_types, gap_junctions, pair)
    none = np.zeros(0, dtype=np.int64)
    if gap_junctions or len(perm) < 2:
        return perm, none
    pair_s = pair[perm]
    ch_s = rows[:, 6][perm]
    # Snudda's order sorts by pair first, so the (pair, channel) key only falls where a pair's channel does.
    down = (pair_s[1:] == pair_s[:-1]) & (ch_s[1:] < ch_s[:-1])
    if not down.any():
        return perm, none
    interleaved = np.unique(pair_s[1:][down] // n_neurons).astype(np.int64)
    key = pair_s * n_types
    key += ch_s
    return perm[np.argsort(key, kind="stable")], interleaved


def merge_type(files: HypervoxelFiles, idx: RangeIndex, t: str, h5, block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """Gather, merge and write one type of a range block by block; return the type-interleaved destinations."""
    width = TYPES[t]
    a, b = idx.range
    N, T = idx.n_neurons, idx.n_types
    blocks = blocks_of(idx.entries[t], a, b, block_rows)
    n = sum(blk.n_rows for blk in blocks)
    ds = h5.create_dataset(f"network/{t}", shape=(n, width), dtype=np.int32)
    cap = max((blk.n_rows for blk in blocks), default=0)
    rows_buf, out_buf = np.empty((cap, width), dtype=np.int32), np.empty((cap, width), dtype=np.int32)
    interleaved, hids, pos = [], set(), 0
    for blk in progress(blocks, f"merge {t}", unit="block"):
        rows, segments, pair = gather_block(files, t, blk, N, rows_buf)
        if t == "synapses":
            T = max(T, int(rows[:, 6].max()) + 1)
        perm, inter = merge_order(rows, segments, N, T, t == "gap_junctions", pair)
        merged = np.take(rows, perm, axis=0, out=out_buf[: len(perm)])
        ds[pos : pos + len(merged)] = merged
        pos += len(merged)
        interleaved.append(inter)
        hids.update(segments[:, 0].tolist())
    # Uncompressed and contiguous: merge files are re-read on every re-prune, speed matters most.
    h5.attrs[f"source_hids_{t}"] = np.array(sorted(hids), dtype=np.int64)
    return np.concatenate(interleaved) if interleaved else np.zeros(0, dtype=np.int64)


def gather_merge_range(
    network: str | Path,
    index_path: str | Path,
    n_ranges: int,
    i: int,
    out: str | Path,
    block_rows: int = BLOCK_ROWS,
    open_files: int | None = None,
) -> dict:
    """The `gather_merge` rule: gather range `i` of `n_ranges` block by block and write its merge file (both types).

    `open_files` caps the hypervoxel files kept open at once (default: an eighth of the file descriptor limit, at
    most 256; each open file holds two descriptors).
    """
    idx = read_range_index(index_path, n_ranges, i)
    a, b = idx.range
    with HypervoxelFiles(network, open_files) as files, atomic_h5(out) as h5:
        h5.attrs["range"] = (a, b)
        h5.attrs["n_neurons"] = idx.n_neurons
        interleaved_of = {t: merge_type(files, idx, t, h5, block_rows) for t in TYPES}
        interleaved = interleaved_of["synapses"]  # gap junctions have no types to interleave
        h5[INTERLEAVED] = interleaved
        counts = {t: int(h5[f"network/{t}"].shape[0]) for t in TYPES}
    if len(interleaved):
        log.warning(
            "%d destination neurons have pairs whose synapse types interleave across hypervoxels; their rows "
            "are grouped by type (decision P-1) and may differ from Snudda's: %s",
            len(interleaved),
            interleaved[:10].tolist(),
        )
    log.info(
        "range %d/%d: merged neurons %d..%d: %d synapses, %d gap junctions",
        i,
        n_ranges,
        a,
        b - 1,
        counts["synapses"],
        counts["gap_junctions"],
    )
    return {"range": (a, b), "type_interleaved_dest_ids": interleaved, **counts}
