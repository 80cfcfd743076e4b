"""Join the edge range files of the parallel `sonata_edges` jobs into one SONATA edges file.

A range file holds, for each edge population, the edges of one range of target nodes in their
final order (`/edges/<pop>/...` as in SONATA, without indices). The join copies every dataset range
file by range file in bounded chunks and writes the indices streaming (`io.sonata_index`), so it
never holds the circuit; datasets are allocated when created, so the file's bytes depend on the
edges only, never on how many ranges wrote them.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from circuitflow.io.atomic import tmp_name
from circuitflow.io.sonata_index import write_indices

COPY_ROWS = 1 << 20
EDGE_KEYS = ("source_node_id", "target_node_id", "edge_type_id")


class JoinError(ValueError):
    """Range files that do not belong together."""


def _dcpl() -> h5py.h5p.PropDCID:
    """Contiguous storage allocated at creation, never filled: the layout does not depend on write order."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    dcpl.set_obj_track_times(False)
    return dcpl


def write_range(path: str | os.PathLike, populations: dict, meta: dict) -> None:
    """One range file: populations {name: {"source_node_id": ..., "target_node_id": ..., "0": {attr: array}}}.

    `meta`: {"populations": [...], "source": node population, "n_nodes": int} (the same in every range)."""
    path = Path(path)
    tmp = tmp_name(path)
    with h5py.File(tmp, "w") as f:
        f.attrs["node_population"] = meta["source"]
        f.attrs["n_nodes"] = int(meta["n_nodes"])
        f.attrs["populations"] = list(meta["populations"])
        for name in meta["populations"]:
            data = populations[name]
            g = f.create_group(f"edges/{name}")
            n = len(data["source_node_id"])
            g.create_dataset("source_node_id", data=np.asarray(data["source_node_id"], dtype=np.uint64))
            g.create_dataset("target_node_id", data=np.asarray(data["target_node_id"], dtype=np.uint64))
            g.create_dataset("edge_type_id", data=np.full(n, -1, dtype=np.int64))
            group = g.create_group("0")
            for key, values in data["0"].items():
                if len(values) != n:
                    raise JoinError(f"{path}: {name}/0/{key} has {len(values)} values for {n} edges")
                group.create_dataset(key, data=values)
    os.replace(tmp, path)


def join(range_files: list, out: str | os.PathLike) -> dict:
    """Concatenate range files (in range order) into one SONATA edges file with indices; edge counts."""
    if not range_files:
        raise JoinError("no edge range files to join")
    out = Path(out)
    tmp = tmp_name(out)
    files = [h5py.File(p, "r") for p in range_files]
    counts = {}
    try:
        first = files[0]
        pops = [str(p) for p in first.attrs["populations"]]
        node_pop, n_nodes = str(first.attrs["node_population"]), int(first.attrs["n_nodes"])
        for p, f in zip(range_files, files):
            if [str(x) for x in f.attrs["populations"]] != pops or int(f.attrs["n_nodes"]) != n_nodes:
                raise JoinError(f"{p}: populations or node count differ from {range_files[0]}")
        with h5py.File(tmp, "w") as dst:
            dst.attrs["version"] = np.array([0, 1], dtype=np.uint32)
            dst.attrs["magic"] = np.uint32(0x0A7A)
            for pop in pops:
                sizes = [f[f"edges/{pop}/source_node_id"].shape[0] for f in files]
                total = int(sum(sizes))
                src_group = first[f"edges/{pop}"]
                keys = list(EDGE_KEYS) + [f"0/{k}" for k in src_group["0"]]
                g = dst.create_group(f"edges/{pop}")
                g.create_group("0")
                for key in keys:
                    dtype = src_group[key].dtype
                    dsid = h5py.h5d.create(g.id, key.encode(), h5py.h5t.py_create(dtype),
                                           h5py.h5s.create_simple((total,)), dcpl=_dcpl())
                    dsid.close()
                for key in ("source_node_id", "target_node_id"):
                    g[key].attrs["node_population"] = node_pop
                for key in keys:
                    ds, at = g[key], 0
                    for f, size in zip(files, sizes):
                        src = f[f"edges/{pop}/{key}"]
                        for lo in range(0, size, COPY_ROWS):
                            block = src[lo:lo + COPY_ROWS]
                            ds[at:at + len(block)] = block
                            at += len(block)
                write_indices(g, n_nodes, n_nodes)
                counts[pop] = total
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        for f in files:
            f.close()
    return counts
