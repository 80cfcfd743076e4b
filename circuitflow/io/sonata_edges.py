"""SONATA edge files: the layout (libsonata reads it) and the indices, written streaming.

Layout of one population `<pop>` (SONATA spec, "Edges"):

* `/edges/<pop>/source_node_id`, `target_node_id` (uint64, attribute `node_population`);
* `/edges/<pop>/edge_type_id` (int64; -1: no edge-types CSV);
* `/edges/<pop>/0/<attribute>`: one dataset per edge attribute;
* `/edges/<pop>/indices/source_to_target` and `target_to_source`: `node_id_to_ranges` (n_nodes, 2)
  rows into `range_to_edge_id` (n_ranges, 2), each a half-open run of edge ids. libsonata needs them
  for `afferent_edges` / `efferent_edges` / `connecting_edges`.

Datasets are contiguous and uncompressed (the libsonata wheels are built without deflate). The
edges step writes the attributes (`sonata.join`); this module writes the indices: a range is a
maximal run of consecutive edges with the same node id, node n's ranges are rows
`node_id_to_ranges[n, 0]:[n, 1]` of `range_to_edge_id` in edge order (nodes without edges: [0, 0]).
They are computed from the node-id dataset in fixed chunks: one pass counts the runs per node, then
each pass over the dataset fills the rows of one block of nodes whose runs fit in `max_runs` rows.
Memory: three integers per node and `max_runs` rows, whatever the edge count; nothing depends on how
the edges were written, so the index bytes are the same for any job partition.
"""

from __future__ import annotations

from typing import Iterator

import h5py
import numpy as np

from circuitflow.errors import CircuitflowError

CHUNK = 1 << 22


class EdgesFileError(CircuitflowError, ValueError):
    """Node ids that cannot be indexed (outside the node population)."""


def _runs(ids: h5py.Dataset, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(start, end, node) of every run of equal ids, chunk by chunk; a run spanning chunks comes whole."""
    n = ids.shape[0]
    carry_start, carry_node = None, None
    for lo in range(0, n, chunk):
        v = ids[lo : lo + chunk].astype(np.int64)
        change = np.ones(len(v), dtype=bool)
        change[1:] = v[1:] != v[:-1]
        if carry_node is not None:
            change[0] = v[0] != carry_node
        starts = lo + np.flatnonzero(change)
        nodes = v[change]
        if carry_node is not None:  # the open run ends where this chunk starts, or goes on into it
            starts = np.concatenate([[carry_start], starts])
            nodes = np.concatenate([[carry_node], nodes])
        # every run but the last one is complete
        if len(starts) > 1:
            yield starts[:-1], starts[1:], nodes[:-1]
        carry_start, carry_node = int(starts[-1]), int(nodes[-1])
    if carry_node is not None:
        yield np.array([carry_start]), np.array([n]), np.array([carry_node])


def write_index(
    group: h5py.Group, ids: h5py.Dataset, n_nodes: int, chunk: int = CHUNK, max_runs: int = 1 << 24
) -> None:
    """Write `node_id_to_ranges` and `range_to_edge_id` of `ids` (one node id per edge) into `group`."""
    counts = np.zeros(n_nodes, dtype=np.int64)
    for _, _, nodes in _runs(ids, chunk):
        if len(nodes) and (nodes.min() < 0 or nodes.max() >= n_nodes):
            raise EdgesFileError(f"{ids.name}: node ids must lie in [0, {n_nodes}); got [{nodes.min()}, {nodes.max()}]")
        counts += np.bincount(nodes, minlength=n_nodes)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    node_to_ranges = np.zeros((n_nodes, 2), dtype=np.uint64)
    has = counts > 0
    node_to_ranges[has, 0] = first[has]
    node_to_ranges[has, 1] = (first + counts)[has]
    group.create_dataset("node_id_to_ranges", data=node_to_ranges)
    total = int(counts.sum())
    out = group.create_dataset("range_to_edge_id", shape=(total, 2), dtype=np.uint64)
    # blocks of nodes whose runs fit in max_runs rows (a node with more runs is a block of its own)
    block_lo = 0
    while block_lo < n_nodes:
        end_runs = first[block_lo] + max(max_runs, int(counts[block_lo]))
        block_hi = max(int(np.searchsorted(first + counts, end_runs, side="right")), block_lo + 1)
        block_hi = min(block_hi, n_nodes)
        base = int(first[block_lo])
        size = int(first[block_hi - 1] + counts[block_hi - 1]) - base
        if size:
            buf = np.zeros((size, 2), dtype=np.uint64)
            seen = np.zeros(block_hi - block_lo, dtype=np.int64)
            for starts, ends, nodes in _runs(ids, chunk):
                sel = (nodes >= block_lo) & (nodes < block_hi)
                if not np.any(sel):
                    continue
                local = nodes[sel] - block_lo
                order = np.argsort(local, kind="stable")
                local = local[order]
                group_start = np.flatnonzero(np.concatenate([[True], local[1:] != local[:-1]]))
                rank = np.arange(len(local)) - np.repeat(group_start, np.diff(np.append(group_start, len(local))))
                pos = first[local + block_lo] - base + seen[local] + rank
                buf[pos, 0] = starts[sel][order]
                buf[pos, 1] = ends[sel][order]
                seen += np.bincount(local, minlength=len(seen))
            out[base : base + size] = buf
        block_lo = block_hi


def write_indices(pop: h5py.Group, n_source_nodes: int, n_target_nodes: int, **kwargs) -> None:
    """(Re)write `indices/source_to_target` and `target_to_source` of an edge population, streaming."""
    if "indices" in pop:
        del pop["indices"]
    for name, key, n in (
        ("source_to_target", "source_node_id", n_source_nodes),
        ("target_to_source", "target_node_id", n_target_nodes),
    ):
        write_index(pop.create_group(f"indices/{name}"), pop[key], n, **kwargs)
