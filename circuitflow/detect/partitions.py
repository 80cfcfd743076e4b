"""Intermediate files between the detect rules: per-chunk raster partitions indexed by hypervoxel.

A raster file holds three tables (membership, axon entries, dendrite entries), sorted by hypervoxel id,
then (entries) voxel key, then neuron id, with CSR pointers `ptr[hid]..ptr[hid+1]` so that a hypervoxel job
reads only its own rows, already in the join's voxel order when there is one chunk.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from circuitflow.detect.rasterise import AXON_COLS, DEND_COLS, MEMBER_COLS, Table
from circuitflow.io.atomic import atomic_h5

TABLES = {"member": MEMBER_COLS, "axon": AXON_COLS, "dend": DEND_COLS}
ORDER = {"member": ("hid", "neuron"), "axon": ("hid", "key", "neuron"), "dend": ("hid", "key", "neuron")}


def table_order(t: Table, cols: tuple) -> np.ndarray:
    """Stable order of the rows by `cols` (first column first): one stable sort of a packed key when it fits
    (a chunk's rows come neuron by neuron, each sorted already: the merge sort only merges those runs)."""
    lows = [int(t.cols[c].min()) if len(t) else 0 for c in cols]
    spans = [int(t.cols[c].max()) + 1 if len(t) else 1 for c in cols]
    if min(lows) < 0 or np.prod([float(s) for s in spans]) >= 2.0**62:
        return np.lexsort([t.cols[c] for c in cols[::-1]])
    key = t.cols[cols[0]].astype(np.int64)
    for c, span in zip(cols[1:], spans[1:]):
        key *= span
        key += t.cols[c]
    return np.argsort(key, kind="stable")


def write_raster(path: str | os.PathLike, tables: dict, n_hv: int) -> None:
    """Write {name: Table} sorted by `ORDER[name]` with per-hid pointers."""
    with atomic_h5(path) as f:
        for name, t in tables.items():
            t = t.take(table_order(t, ORDER[name]))
            g = f.create_group(name)
            for col, arr in t.cols.items():
                g.create_dataset(col, data=arr)
            g.create_dataset("ptr", data=np.searchsorted(t.cols["hid"], np.arange(n_hv + 1)).astype(np.int64))


def read_range(files: list, name: str, hid_lo: int, hid_hi: int) -> Table:
    """Rows of table `name` with hid in [hid_lo, hid_hi), from every raster file (paths or open h5py files,
    in chunk order), sorted by hid, then as each file is (stable)."""
    parts = []
    for p in files:
        f = p if isinstance(p, h5py.File) else h5py.File(p, "r")
        try:
            g = f[name]
            ptr = g["ptr"]
            a, b = (int(v) for v in ptr[[hid_lo, hid_hi]])
            if b > a:
                parts.append(Table({c: g[c][a:b] for c in TABLES[name]}))
        finally:
            if f is not p:
                f.close()
    t = Table.concat(parts, TABLES[name])
    return t if len(parts) <= 1 else t.take(np.argsort(t.cols["hid"], kind="stable"))


def chunk_range(chunk: int, n_chunks: int, n_items: int) -> tuple[int, int]:
    """[start, end) of chunk `chunk` of `n_chunks` over `n_items` items."""
    return chunk * n_items // n_chunks, (chunk + 1) * n_items // n_chunks


def balanced_ranges(hids: np.ndarray, cost: np.ndarray, n_parts: int) -> list:
    """Split sorted `hids` into `n_parts` contiguous lists of about equal total cost."""
    if len(hids) == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(n_parts)]
    cum = np.cumsum(cost.astype(np.float64) + 1)
    bounds = np.searchsorted(cum, cum[-1] * np.arange(1, n_parts) / n_parts, "right")
    return np.split(hids, bounds)


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create a folder (and parents) and return it."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p
