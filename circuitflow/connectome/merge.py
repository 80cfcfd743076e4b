"""Merge one range's gathered rows into Snudda's order, then group rows by (src, dest, type).

Snudda's merge (spec prune.md §3.4): lookup groups (one per (src, dest) run of a file, tagged with
unique_id = (dest*N + src)*T + type of the run's first row) stably sorted by (unique_id, HID).
circuitflow then stably sorts by (dest, src, channel) (decision P-1), which changes nothing except
for destinations whose pairs interleave types across hypervoxels; those are reported.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from circuitflow.connectome.hypervoxels import TYPES
from circuitflow.io import snudda as sio

log = logging.getLogger(__name__)

INTERLEAVED = "network/type_interleaved_dest_ids"


def snudda_order(rows: np.ndarray, segments: np.ndarray, n_neurons: int, n_types: int, gap_junctions: bool) -> np.ndarray:
    """Permutation putting gathered rows (ascending HID segments, file order) into Snudda's merge order."""
    n = len(rows)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    src = rows[:, 0].astype(np.int64)
    dest = rows[:, 1].astype(np.int64)
    pair = dest * n_neurons + src
    if gap_junctions:
        uid = pair * n_types + 3
    else:
        seg_start = np.zeros(n, dtype=bool)
        seg_start[np.cumsum(segments[:, 1])[:-1]] = True
        run_start = np.r_[True, pair[1:] != pair[:-1]] | seg_start
        first = np.maximum.accumulate(np.where(run_start, np.arange(n), 0))
        uid = pair * n_types + rows[first, 6].astype(np.int64)
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


def merge_range(gathered: str | Path, index_path: str | Path, out: str | Path) -> dict:
    """Merge a gathered range file into a merge file (both types, plus the interleaved destinations)."""
    with sio.open_h5(index_path, "prune index") as f:
        N = int(f.attrs["n_neurons"])
        T = max(int(f.attrs["max_channel_type_id"]), 4)
    counts = {}
    with sio.open_h5(gathered, "gathered range file") as g, sio.atomic_h5(out) as h5:
        a, b = (int(x) for x in g.attrs["range"])
        h5.attrs["range"] = (a, b)
        h5.attrs["n_neurons"] = N
        interleaved = np.zeros(0, dtype=np.int64)
        for t, width in TYPES.items():
            rows = np.asarray(g[t][()], dtype=np.int32)
            segments = np.asarray(g[f"{t}_segments"][()], dtype=np.int64)
            if t == "synapses" and len(rows):
                T = max(T, int(rows[:, 6].max()) + 1)
            rows = rows[snudda_order(rows, segments, N, T, t == "gap_junctions")]
            if t == "synapses":
                interleaved = type_interleaved(rows)
                rows = group_by_type(rows, N, T)
            # Uncompressed and contiguous: merge files are re-read on every re-prune, speed matters most.
            h5.create_dataset(f"network/{t}", data=rows.reshape(-1, width))
            h5.attrs[f"source_hids_{t}"] = segments[:, 0] if len(segments) else np.zeros(0, np.int64)
            counts[t] = len(rows)
        h5[INTERLEAVED] = interleaved
    if len(interleaved):
        log.warning("%d destination neurons have pairs whose synapse types interleave across hypervoxels; their rows "
                    "are grouped by type (decision P-1) and may differ from Snudda's: %s", len(interleaved),
                    interleaved[:10].tolist())
    log.info("merged range %d..%d: %d synapses, %d gap junctions", a, b - 1, counts["synapses"], counts["gap_junctions"])
    return {"range": (a, b), "type_interleaved_dest_ids": interleaved, **counts}
