"""Join the edge range files of the parallel `sonata_edges` jobs into one SONATA edges file.

A range file holds, for each edge population, the edges of one range of target nodes in their
final order (`/edges/<pop>/...` as in SONATA, without indices). The join copies every dataset range
file by range file in bounded chunks and writes the indices streaming (`io.sonata_edges`), so it
never holds the circuit; datasets are allocated when created, so the file's bytes depend on the
edges only, never on how many ranges wrote them.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from circuitflow.errors import CircuitflowError
from circuitflow.io.atomic import tmp_name
from circuitflow.io.sonata_edges import write_indices

COPY_ROWS = 1 << 20
EDGE_KEYS = ("source_node_id", "target_node_id", "edge_type_id")


class JoinError(CircuitflowError, ValueError):
    """Range files that do not belong together."""


def _dcpl() -> h5py.h5p.PropDCID:
    """Contiguous storage allocated at creation, never filled: the layout does not depend on write order."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    dcpl.set_obj_track_times(False)
    return dcpl


class RangeWriter:
    """One range file, written chunk by chunk: `/edges/<pop>/...` with every population's size known
    up front; `close()` renames it into place (a failed job leaves no file that looks complete)."""

    def __init__(self, path: str | os.PathLike, sizes: dict, attributes: dict, source: str, n_nodes: int):
        self.path = Path(path)
        self.tmp = tmp_name(self.path)
        self.sizes = {k: int(v) for k, v in sizes.items()}
        self.done = {k: 0 for k in sizes}
        self.file = h5py.File(self.tmp, "w")
        self.file.attrs["node_population"] = source
        self.file.attrs["n_nodes"] = int(n_nodes)
        self.file.attrs["populations"] = list(sizes)
        for name, n in self.sizes.items():
            g = self.file.create_group(f"edges/{name}")
            for key, dtype in (
                ("source_node_id", np.uint64),
                ("target_node_id", np.uint64),
                ("edge_type_id", np.int64),
            ):
                g.create_dataset(key, shape=(n,), dtype=dtype)
            for key, dtype in attributes[name].items():
                g.create_dataset(f"0/{key}", shape=(n,), dtype=dtype)

    def append(self, name: str, source: np.ndarray, target: np.ndarray, attributes: dict) -> None:
        """Append edges of population `name`: node ids and every attribute, in final order."""
        g = self.file[f"edges/{name}"]
        at, n = self.done[name], len(source)
        if at + n > self.sizes[name]:
            raise JoinError(f"{self.path}: more than the {self.sizes[name]} edges announced for {name}")
        g["source_node_id"][at : at + n] = np.asarray(source, dtype=np.uint64)
        g["target_node_id"][at : at + n] = np.asarray(target, dtype=np.uint64)
        g["edge_type_id"][at : at + n] = np.full(n, -1, dtype=np.int64)
        for key in g["0"]:
            values = attributes[key]
            if len(values) != n:
                raise JoinError(f"{self.path}: {name}/0/{key} has {len(values)} values for {n} edges")
            g[f"0/{key}"][at : at + n] = values
        self.done[name] = at + n

    def close(self) -> None:
        """Check every population is complete, close and rename."""
        short = [k for k in self.sizes if self.done[k] != self.sizes[k]]
        if short:
            self.abort()
            raise JoinError(f"{self.path}: {short[0]} has {self.done[short[0]]} of {self.sizes[short[0]]} edges")
        self.file.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Close and delete the temporary file."""
        try:
            self.file.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def join(range_files: list, outputs: dict) -> dict:
    """Concatenate range files (in range order) into SONATA edges files with indices; edge counts.

    `outputs` maps each population to write to its file (populations sharing a file go together;
    bluepysnap validates a file against one edge type, so chemical and electrical need their own)."""
    if not range_files:
        raise JoinError("no edge range files to join")
    files = [h5py.File(p, "r") for p in range_files]
    counts = {}
    try:
        first = files[0]
        pops = [str(p) for p in first.attrs["populations"]]
        node_pop, n_nodes = str(first.attrs["node_population"]), int(first.attrs["n_nodes"])
        for p, f in zip(range_files, files):
            if [str(x) for x in f.attrs["populations"]] != pops or int(f.attrs["n_nodes"]) != n_nodes:
                raise JoinError(f"{p}: populations or node count differ from {range_files[0]}")
        unknown = sorted(set(outputs) - set(pops))
        if unknown:
            raise JoinError(f"{range_files[0]}: no edge population {unknown[0]} (has {pops})")
        by_file: dict = {}
        for pop, path in outputs.items():
            by_file.setdefault(str(path), []).append(pop)
        for path, names in by_file.items():
            counts.update(_write(files, [p for p in pops if p in names], Path(path), node_pop, n_nodes))
    finally:
        for f in files:
            f.close()
    return counts


def _write(files: list, pops: list, out: Path, node_pop: str, n_nodes: int) -> dict:
    """One edges file holding `pops`, copied from the open range files."""
    tmp = tmp_name(out)
    counts = {}
    try:
        with h5py.File(tmp, "w") as dst:
            dst.attrs["version"] = np.array([0, 1], dtype=np.uint32)
            dst.attrs["magic"] = np.uint32(0x0A7A)
            for pop in pops:
                sizes = [f[f"edges/{pop}/source_node_id"].shape[0] for f in files]
                total = int(sum(sizes))
                src_group = files[0][f"edges/{pop}"]
                keys = list(EDGE_KEYS) + [f"0/{k}" for k in src_group["0"]]
                g = dst.create_group(f"edges/{pop}")
                g.create_group("0")
                for key in keys:
                    dtype = src_group[key].dtype
                    dsid = h5py.h5d.create(
                        g.id, key.encode(), h5py.h5t.py_create(dtype), h5py.h5s.create_simple((total,)), dcpl=_dcpl()
                    )
                    dsid.close()
                for key in ("source_node_id", "target_node_id"):
                    g[key].attrs["node_population"] = node_pop
                for key in keys:
                    ds, at = g[key], 0
                    for f, size in zip(files, sizes):
                        src = f[f"edges/{pop}/{key}"]
                        for lo in range(0, size, COPY_ROWS):
                            block = src[lo : lo + COPY_ROWS]
                            ds[at : at + len(block)] = block
                            at += len(block)
                write_indices(g, n_nodes, n_nodes)
                counts[pop] = total
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counts
