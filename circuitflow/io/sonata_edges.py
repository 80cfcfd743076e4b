"""SONATA edge files written from arrays with h5py (the layout libsonata reads).

Layout of one population `<pop>` (SONATA spec, "Edges"):

* `/edges/<pop>/source_node_id`, `target_node_id` (uint64, attribute `node_population`);
* `/edges/<pop>/edge_type_id` (int64; -1: no edge-types CSV);
* `/edges/<pop>/0/<attribute>`: one dataset per edge attribute;
* `/edges/<pop>/indices/source_to_target` and `target_to_source`: `node_id_to_ranges` (n_nodes, 2)
  rows into `range_to_edge_id` (n_ranges, 2), each a half-open run of edge ids. libsonata needs them
  for `afferent_edges` / `efferent_edges` / `connecting_edges`.

Edges are appended in chunks (`EdgesWriter.append`); with the edge count known up front the datasets
are contiguous and exactly sized (no compression: the libsonata wheels are built without deflate,
and fixed chunks would inflate small files), otherwise chunked and growable. The file is written under a temporary name and
renamed on a clean `close`, so a failed run never leaves a file that looks complete.
"""

from __future__ import annotations

from circuitflow.errors import CircuitflowError
import os
from pathlib import Path

import h5py
import numpy as np

from circuitflow.io.atomic import tmp_name

NODE_ID_DTYPE = np.uint64


class EdgesFileError(CircuitflowError, ValueError):
    """Edge arrays that cannot form a valid SONATA edge population."""


def index_ranges(node_ids: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """SONATA index of `node_ids` (one per edge, in edge order): (node_id_to_ranges, range_to_edge_id).

    A range is a maximal run of consecutive edges with the same node id; node `n`'s ranges are rows
    `node_id_to_ranges[n, 0] : node_id_to_ranges[n, 1]` of `range_to_edge_id`. Nodes without edges
    get [0, 0]. Vectorised: runs from the change points, grouped per node with a stable sort."""
    node_ids = np.asarray(node_ids, dtype=np.int64)
    if len(node_ids) and (node_ids.min() < 0 or node_ids.max() >= n_nodes):
        raise EdgesFileError(f"node ids must lie in [0, {n_nodes}); got [{node_ids.min()}, {node_ids.max()}]")
    node_to_ranges = np.zeros((n_nodes, 2), dtype=np.uint64)
    if len(node_ids) == 0:
        return node_to_ranges, np.zeros((0, 2), dtype=np.uint64)
    starts = np.flatnonzero(np.concatenate([[True], node_ids[1:] != node_ids[:-1]]))
    ends = np.concatenate([starts[1:], [len(node_ids)]])
    run_node = node_ids[starts]
    order = np.argsort(run_node, kind="stable")
    range_to_edge = np.stack([starts[order], ends[order]], axis=1).astype(np.uint64)
    counts = np.bincount(run_node, minlength=n_nodes)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    node_to_ranges[has, 0] = first[has]
    node_to_ranges[has, 1] = first[has] + counts[has]
    return node_to_ranges, range_to_edge


def write_indices(pop: h5py.Group, n_source_nodes: int, n_target_nodes: int) -> None:
    """(Re)write `indices/source_to_target` and `target_to_source` of an edge population group."""
    if "indices" in pop:
        del pop["indices"]
    for name, ids_key, n in (("source_to_target", "source_node_id", n_source_nodes),
                             ("target_to_source", "target_node_id", n_target_nodes)):
        node_to_ranges, range_to_edge = index_ranges(pop[ids_key][()], n)
        g = pop.create_group(f"indices/{name}")
        g.create_dataset("node_id_to_ranges", data=node_to_ranges)
        g.create_dataset("range_to_edge_id", data=range_to_edge)


class EdgesWriter:
    """Append edges of one population chunk by chunk; `close()` writes the indices and renames.

    `attributes` maps attribute name -> numpy dtype; every `append` must give all of them."""

    def __init__(self, path: str | os.PathLike, population: str, source_population: str,
                 target_population: str, n_source_nodes: int, n_target_nodes: int, attributes: dict,
                 n_edges: int | None = None, chunk: int = 65_536):
        self.path = Path(path)
        self.tmp = tmp_name(self.path)
        self.n_source, self.n_target = int(n_source_nodes), int(n_target_nodes)
        self.attributes = {k: np.dtype(v) for k, v in attributes.items()}
        self.n_edges = 0
        self.expected = n_edges
        self.file = h5py.File(self.tmp, "w")
        self.file.attrs["version"] = np.array([0, 1], dtype=np.uint32)
        self.file.attrs["magic"] = np.uint32(0x0A7A)
        self.pop = self.file.create_group(f"edges/{population}")
        size = 0 if n_edges is None else int(n_edges)
        opts = {} if n_edges is not None else dict(maxshape=(None,), chunks=(chunk,))
        for key, node_pop in (("source_node_id", source_population), ("target_node_id", target_population)):
            ds = self.pop.create_dataset(key, shape=(size,), dtype=NODE_ID_DTYPE, **opts)
            ds.attrs["node_population"] = node_pop
        self.pop.create_dataset("edge_type_id", shape=(size,), dtype=np.int64, **opts)
        group = self.pop.create_group("0")
        for key, dtype in self.attributes.items():
            group.create_dataset(key, shape=(size,), dtype=dtype, **opts)

    def append(self, source: np.ndarray, target: np.ndarray, attributes: dict,
               edge_type_id: np.ndarray | None = None) -> None:
        """Append edges: node ids and every declared attribute, all of one length."""
        n = len(source)
        if len(target) != n:
            raise EdgesFileError(f"{len(source)} source ids but {len(target)} target ids")
        missing = set(self.attributes) - set(attributes)
        extra = set(attributes) - set(self.attributes)
        if missing or extra:
            raise EdgesFileError(f"edge attributes: missing {sorted(missing)}, undeclared {sorted(extra)}")
        for key, ids, limit in (("source", source, self.n_source), ("target", target, self.n_target)):
            ids = np.asarray(ids)
            if n and (ids.min() < 0 or ids.max() >= limit):
                raise EdgesFileError(f"{key} node ids must lie in [0, {limit}); got [{ids.min()}, {ids.max()}]")
        columns = {"source_node_id": np.asarray(source, dtype=NODE_ID_DTYPE),
                   "target_node_id": np.asarray(target, dtype=NODE_ID_DTYPE),
                   "edge_type_id": (np.full(n, -1, dtype=np.int64) if edge_type_id is None
                                    else np.asarray(edge_type_id, dtype=np.int64))}
        for key, values in attributes.items():
            values = np.asarray(values, dtype=self.attributes[key])
            if len(values) != n:
                raise EdgesFileError(f"attribute {key}: {len(values)} values for {n} edges")
            columns[f"0/{key}"] = values
        if self.expected is not None and self.n_edges + n > self.expected:
            raise EdgesFileError(f"more than the {self.expected} edges announced")
        for key, values in columns.items():
            ds = self.pop[key]
            if self.expected is None:
                ds.resize((self.n_edges + n,))
            ds[self.n_edges:self.n_edges + n] = values
        self.n_edges += n

    def close(self) -> None:
        """Write the indices, close the file and move it into place."""
        if self.expected is not None and self.n_edges != self.expected:
            self.abort()
            raise EdgesFileError(f"{self.n_edges} edges written, {self.expected} announced")
        write_indices(self.pop, self.n_source, self.n_target)
        self.file.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Close and delete the temporary file (after an error)."""
        try:
            self.file.close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "EdgesWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_edges(path: str | os.PathLike, population: str, source_population: str, target_population: str,
                source: np.ndarray, target: np.ndarray, attributes: dict, n_source_nodes: int,
                n_target_nodes: int, edge_type_id: np.ndarray | None = None) -> None:
    """Write one edge population from whole arrays (attribute dtypes taken from the arrays)."""
    dtypes = {k: np.asarray(v).dtype for k, v in attributes.items()}
    with EdgesWriter(path, population, source_population, target_population, n_source_nodes,
                     n_target_nodes, dtypes, n_edges=len(source)) as writer:
        writer.append(source, target, attributes, edge_type_id)
