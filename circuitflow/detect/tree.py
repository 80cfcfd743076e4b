"""Snudda's view of one morphology: float32 geometry, soma distances, per-type sections, sec_x, segments.

Reproduces `MorphologyData.load_swc_file` + `build_tree` (spec detect.md §1.2) with the same float32
arithmetic, vectorised over points and sections (loops run over tree levels / section lengths only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from circuitflow.io.morphology_points import APICAL, AXON, BASAL, SOMA, MorphologyError, PointTable

NEURITES = (AXON, BASAL)


@dataclass(frozen=True)
class Segments:
    """Voxelised line segments a->b of one neurite type, in Snudda's section-then-point order."""

    a: np.ndarray  # point row of the start
    b: np.ndarray  # point row of the end
    sec_id: np.ndarray  # section id (of b)
    sx_a: np.ndarray  # float64 section x at a
    sx_b: np.ndarray  # float64 section x at b


@dataclass(frozen=True)
class Tree:
    """One morphology in Snudda's arrays (local frame, metres, float32) with its segments per neurite type."""

    path: str
    xyz: np.ndarray  # (n,3) float32
    radius: np.ndarray  # (n,) float32
    soma_dist: np.ndarray  # (n,) float32
    kind: np.ndarray  # (n,) int: 0 (stub), 1 soma, 2 axon, 3 dendrite
    sec_id: np.ndarray  # (n,) int
    segments: dict  # kind -> Segments

    @property
    def max_dend_soma_dist(self) -> np.float32:
        """Largest soma distance on the dendrite (metres, float32; 0 without dendrite)."""
        d = self.soma_dist[self.kind == BASAL]
        return np.float32(d.max()) if len(d) else np.float32(0)


def build_tree(pts: PointTable) -> Tree:
    """Snudda's arrays for a point table: apical -> dendrite, sections, soma distances, sec_x and segments."""
    n = len(pts.kind)
    parent = pts.parent
    geom = np.zeros((n, 4), dtype=np.float32)
    geom[:, :3] = pts.xyz * 1e-6
    geom[:, 3] = pts.radius * 1e-6
    xyz = geom[:, :3]
    kind = pts.kind.copy()
    kind[kind == APICAL] = BASAL
    if np.any(parent[1:] < 0):
        raise MorphologyError(f"{pts.path}: more than one root point")
    if np.any(xyz[kind == SOMA] != 0):
        raise MorphologyError(f"{pts.path}: soma must be a single point at the origin")

    rows = np.arange(n)
    ch = np.arange(1, n)
    comp_len = np.linalg.norm(xyz[parent[1:]] - xyz[1:], axis=1)  # float32, as Snudda

    n_children = np.bincount(parent[1:], minlength=n)
    branch = n_children > 1
    edge = branch.copy()
    switch = ch[kind[parent[1:]] != kind[1:]]
    edge[parent[switch]] = True
    new = np.ones(n, dtype=bool)
    new[1:] = edge[parent[1:]]
    stub = new & (np.concatenate([[-1], parent[1:]]) == 0) & branch
    kind[stub] = 0
    cont = ch[~new[1:]]
    if np.any(parent[cont] != cont - 1):
        bad = int(cont[parent[cont] != cont - 1][0])
        raise MorphologyError(f"{pts.path}: points of a section must be consecutive rows (point {bad + 1})")

    start = np.maximum.accumulate(np.where(new, rows, 0))  # first row of each point's section
    starts = rows[new]
    sec_id = np.zeros(n, dtype=np.int64)
    for k in np.unique(kind[starts]):
        s = starts[kind[starts] == k]
        sec_id[s] = np.arange(len(s))
    sec_id = sec_id[start]

    soma_dist = section_accumulate(starts, start, parent, comp_len, n)
    sec_x = section_x(starts, start, parent, kind, soma_dist, n)

    segments = {}
    for k in NEURITES:
        end = ch[(kind[1:] == k)]
        prepend = new[end] & (kind[parent[end]] == k)
        keep = ~new[end] | prepend
        b = end[keep]
        a = parent[b]
        # sec_x at the list's first point is 0 unless the section hangs on the soma (where it is 0 anyway)
        zero_sx_a = new[b] | (new[a] & (kind[parent[a]] != k))
        sx_a = np.where(zero_sx_a, 0.0, sec_x[a] * 1e-3)  # Snudda multiplies by 1e-3 (not / 1e3)
        sx_b = sec_x[b] * 1e-3
        zero = comp_len[b - 1] == 0
        if np.any(zero):
            bad = int(b[zero][0])
            raise MorphologyError(f"{pts.path}: zero-length segment ending at point {bad + 1}")
        segments[k] = Segments(a=a, b=b, sec_id=sec_id[b], sx_a=sx_a, sx_b=sx_b)
    return Tree(
        path=pts.path, xyz=xyz, radius=geom[:, 3], soma_dist=soma_dist, kind=kind, sec_id=sec_id, segments=segments
    )


def section_accumulate(
    starts: np.ndarray, start: np.ndarray, parent: np.ndarray, comp_len: np.ndarray, n: int
) -> np.ndarray:
    """soma_dist[i] = soma_dist[parent] + length, accumulated in float32 in row order (section by section)."""
    dist = np.zeros(n, dtype=np.float32)
    sec_index = np.searchsorted(starts, start)
    lengths = np.bincount(sec_index, minlength=len(starts))
    # depth of each section in the section tree (parent section of a section = section of its parent point)
    par_sec = np.full(len(starts), -1)
    par_sec[1:] = sec_index[parent[starts[1:]]]
    depth = np.zeros(len(starts), dtype=np.int64)
    todo = par_sec >= 0
    cur = par_sec.copy()
    while np.any(todo):
        depth[todo] += 1
        cur[todo] = par_sec[cur[todo]]
        todo = cur >= 0
    clen = np.concatenate([np.zeros(1, dtype=np.float32), comp_len])
    for lvl in range(0, depth.max() + 1):
        secs = np.flatnonzero(depth == lvl)
        width = lengths[secs].max()
        pos = np.arange(width)
        grid = np.zeros((len(secs), width + 1), dtype=np.float32)
        grid[:, 0] = np.where(starts[secs] == 0, np.float32(0), dist[np.maximum(parent[starts[secs]], 0)])
        valid = pos[None, :] < lengths[secs][:, None]
        prow = starts[secs][:, None] + pos[None, :]
        grid[:, 1:][valid] = clen[prow[valid]]
        acc = np.add.accumulate(grid, axis=1, dtype=np.float32)
        dist[prow[valid]] = acc[:, 1:][valid]
    return dist


def section_x(
    starts: np.ndarray, start: np.ndarray, parent: np.ndarray, kind: np.ndarray, soma_dist: np.ndarray, n: int
) -> np.ndarray:
    """Snudda's int32 sec_x per point: int32(1000*cumsum(dx)/sum(dx)) per section in float32; soma 500."""
    sx = np.zeros(n, dtype=np.int32)
    sec_index = np.searchsorted(starts, start)
    lengths = np.bincount(sec_index, minlength=len(starts))
    par = parent.copy()
    par[0] = 0
    dx = (soma_dist - soma_dist[par]).astype(np.float32)
    first_from_soma = np.zeros(n, dtype=bool)
    first_from_soma[starts[1:]] = kind[parent[starts[1:]]] == SOMA
    dx[first_from_soma] = 0
    dx[0] = 0
    soma_single = (kind[starts] == SOMA) & (lengths == 1)
    sx[starts[soma_single]] = 500
    with np.errstate(invalid="ignore", divide="ignore"):
        for length in np.unique(lengths):
            secs = np.flatnonzero((lengths == length) & ~soma_single)
            if len(secs) == 0:
                continue
            prow = starts[secs][:, None] + np.arange(length)[None, :]
            d = dx[prow]
            if length == 1:
                single_zero = d[:, 0] == 0
                vals = np.where(single_zero, np.float32(0), np.float32(1000) * d[:, 0] / d[:, 0])[:, None]
            else:
                cum = np.float32(1000) * np.cumsum(d, axis=1, dtype=np.float32)
                tot = row_sums(d)
                vals = cum / tot[:, None]
            sx[prow] = vals.astype(np.int32)
    return sx


def row_sums(d: np.ndarray) -> np.ndarray:
    """float32 sum of each row; numpy reduces each contiguous row with the same pairwise order as np.sum(row)."""
    return np.sum(np.ascontiguousarray(d), axis=1, dtype=np.float32)


TREE_ARRAYS = ("xyz", "radius", "soma_dist", "kind", "sec_id")
SEGMENT_ARRAYS = ("a", "b", "sec_id", "sx_a", "sx_b")


def write_tree(fh: BinaryIO, tree: Tree) -> None:
    """Append a tree's arrays to an open binary file (.npy records; integer columns stored as int32)."""
    arrays = [getattr(tree, n) for n in TREE_ARRAYS]
    arrays += [getattr(tree.segments[k], n) for k in NEURITES for n in SEGMENT_ARRAYS]
    for a in arrays:
        np.save(fh, a.astype(np.int32) if a.dtype == np.int64 else a, allow_pickle=False)


def read_tree(fh: BinaryIO, path: str) -> Tree:
    """The tree that `write_tree` wrote at the file's current position (same values and dtypes)."""

    def load() -> np.ndarray:
        a = np.load(fh, allow_pickle=False)
        return a.astype(np.int64) if a.dtype == np.int32 else a

    fields = {n: load() for n in TREE_ARRAYS}
    segments = {k: Segments(**{n: load() for n in SEGMENT_ARRAYS}) for k in NEURITES}
    return Tree(path=path, segments=segments, **fields)
