"""Snudda synapse locations (dendrite section, sec_x) -> SONATA locations on MorphIO morphologies.

Snudda numbers a cell's dendrite sections (basal, then apical) in the row order of the point table
`io.morphology_points.read_morphio` builds: MorphIO's root sections sorted by type, each walked
depth first, and a section continuing across a unifurcation (a point with one child). So a Snudda
section is a chain of MorphIO sections, numbered in that walk's order, and its `sec_x` (int, 1000 ×
the fraction of its path length) is mapped through cumulative lengths to (MorphIO section, position),
then to (segment, offset in µm) and the point on the centre line (`afferent_center_*`).
`cell_maps` reads this straight from MorphIO's flat arrays, the array work done once for a block
of cells (about 0.25 ms a cell, most of it MorphIO's read): the walk too, from the block's
connectivity, where a cell's section ids are a depth-first pre-order (MorphIO's files; others are
walked cell by cell); a morphology it cannot read that way (a section of fewer than 2 points, or a
child section not starting at its parent's last point) goes through the point table and
`detect.tree.build_tree` instead, which give the same numbering for every morphology.

The surface point (`afferent_surface_*`) is the centre moved by the local radius (interpolated
along the segment) perpendicular to the segment, toward the presynaptic side: the centre of the
voxel in which detection found the touch. When that voxel centre lies on the centre line the
surface point is the centre itself. On the soma (section id 0 in SONATA, position 0.5) the centre
is the soma centre and the surface point lies at the soma radius toward the voxel.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

from circuitflow.errors import CircuitflowError

SOMA_TYPE = 1
BASAL_TYPE, APICAL_TYPE = 3, 4


class LocationError(CircuitflowError, ValueError):
    """A location cannot be mapped onto its morphology."""


@dataclass(frozen=True)
class CellMap:
    """One morphology's Snudda dendrite sections in MorphIO terms (local frame, µm).

    Parts are the MorphIO sections making up the Snudda sections, in Snudda row order (so the parts
    of a Snudda section are consecutive); part k is points[part_lo[k]:part_hi[k]] (at least 2)."""

    points: np.ndarray  # (n_points, 3)
    radii: np.ndarray  # (n_points,)
    part_lo: np.ndarray  # (n_parts,)
    part_hi: np.ndarray  # (n_parts,)
    part_snudda: np.ndarray  # (n_parts,) Snudda dendrite section id, non-decreasing
    part_section: np.ndarray  # (n_parts,) MorphIO section id
    part_type: np.ndarray  # (n_parts,) 3 basal, 4 apical
    soma_radius: float


def _read(path: str):
    import morphio

    try:
        return morphio.Morphology(str(path))
    except Exception as exc:  # morphio raises its own exception hierarchy
        raise LocationError(f"{path}: MorphIO cannot read it ({str(exc).strip().splitlines()[0]})") from None


def _soma_radius(morph) -> float:
    """As `read_morphio`: half the diameter of a one-point soma, else the mean distance of its contour."""
    soma = morph.soma
    pts = soma.points.astype(np.float64)
    if len(pts) == 1:
        return float(soma.diameters[0]) / 2
    return float(np.sqrt(np.add.reduce(pts * pts, axis=1)).mean()) if len(pts) else 0.0  # np.linalg.norm's sum


def _walk(morph) -> tuple:
    """(A morphology's dendrite sections in Snudda row order, their parents, 1 where a Snudda section starts)."""
    types = morph.section_types
    children = morph.connectivity
    roots = [r for r in children.get(-1, []) if types[r] in (BASAL_TYPE, APICAL_TYPE)]
    roots.sort(key=lambda r: types[r])  # stable: basal roots, then apical, in file order
    parent_of = {k: p for p, kids in children.items() for k in kids}  # a root's parent is -1
    unifurcations = {p for p, kids in children.items() if p >= 0 and len(kids) == 1}
    order, stack = [], roots[::-1]
    while stack:  # depth first, children in order (MorphIO's iter())
        sec = stack.pop()
        order.append(sec)
        kids = children.get(sec)
        if kids:
            stack.extend(kids[::-1])
    parent = [parent_of[sec] for sec in order]
    # a section starts a new Snudda section unless it continues a unifurcation (its parent's only child)
    new = [p not in unifurcations for p in parent]
    return order, parent, new


def cell_map(path: str) -> CellMap:
    """The CellMap of one morphology file, read from MorphIO's flat arrays."""
    return cell_maps([path])[0]


def _excl(sizes: np.ndarray) -> np.ndarray:
    """Exclusive prefix sums with the total appended: [0, s0, s0 + s1, ...] (int64)."""
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _block_walk(morphs: list) -> tuple:
    """`_walk`'s results for a block of cells, from their connectivity in one set of array operations.

    Valid where a cell's section ids are a depth-first pre-order of its trees (children in id order):
    then a root's tree is the ids from it to the next root, and Snudda's order is the dendrite roots'
    trees, basal then apical, each in id order. Returns (cell, section, parent of each walked section
    (-1 for a root), 1 where a Snudda section starts, cells not in pre-order): sections and parents are
    the cell's own ids, the walked sections grouped by cell in walk order."""
    n_cells = len(morphs)
    conns = [m.connectivity for m in morphs]
    n_sec = np.array([len(m.section_types) for m in morphs], dtype=np.int64)
    base = _excl(n_sec)
    keys, lens, kids = [], [], []
    n_lists = np.empty(n_cells, dtype=np.int64)
    for k, conn in enumerate(conns):
        values = list(conn.values())
        n_lists[k] = len(values)
        keys.extend(conn)
        lens.extend(map(len, values))
        kids.extend(chain.from_iterable(values))
    lens = np.array(lens, dtype=np.int64)
    list_cell = np.repeat(np.arange(n_cells), n_lists)
    entry_cell = np.repeat(list_cell, lens)
    entry_list = np.repeat(np.arange(len(lens)), lens)
    kid = np.array(kids, dtype=np.int64).reshape(-1)
    par = np.repeat(np.array(keys, dtype=np.int64).reshape(-1), lens)
    # every section a child exactly once (a root: of -1), every parent a section of the cell, children in id order
    bad = np.zeros(n_cells, dtype=bool)
    bad[entry_cell[(kid < 0) | (kid >= n_sec[entry_cell]) | (par < -1) | (par >= n_sec[entry_cell])]] = True
    same = entry_list[1:] == entry_list[:-1]
    bad[entry_cell[1:][same & (kid[1:] <= kid[:-1])]] = True
    ok_entry = ~bad[entry_cell]
    total = int(base[-1])
    seen = np.bincount((kid + base[entry_cell])[ok_entry], minlength=total)
    bad[np.repeat(np.arange(n_cells), n_sec)[seen != 1]] = True
    ok_entry = ~bad[entry_cell]
    # parent of every section (global ids; -1 for a root); the cells found bad keep -1 everywhere
    parent = np.full(total, -1, dtype=np.int64)
    g = kid[ok_entry] + base[entry_cell[ok_entry]]
    p = par[ok_entry]
    parent[g] = np.where(p >= 0, p + base[entry_cell[ok_entry]], -1)
    sec_cell = np.repeat(np.arange(n_cells), n_sec)
    # depth by pointer jumping (a cycle never reaches a root: its cell is bad)
    depth = (parent >= 0).astype(np.int64)
    jump = parent.copy()
    for _ in range(64):
        up = np.flatnonzero(jump >= 0)
        if not len(up):
            break
        depth[up] += depth[jump[up]]
        jump[up] = jump[jump[up]]
    else:
        bad[sec_cell[jump >= 0]] = True
    depth[bad[sec_cell]] = 0  # (a cycle's depths grow without bound)
    # pre-order: each section's depth at most one more than the previous section's, and its parent
    # the last section before it one level up
    ids = np.arange(total, dtype=np.int64)
    first = base[:-1][sec_cell] == ids
    bad[sec_cell[1:][~first[1:] & (depth[1:] > depth[:-1] + 1)]] = True
    by_depth = np.argsort(depth, kind="stable")  # ids in order within a depth
    key = depth[by_depth] * total + by_depth
    child = np.flatnonzero(depth > 0)
    at = np.searchsorted(key, (depth[child] - 1) * total + child) - 1
    bad[sec_cell[child[(at < 0) | (by_depth[np.maximum(at, 0)] != parent[child])]]] = True
    # Snudda's order: the dendrite roots' trees (basal, then apical, each in id order)
    types = np.concatenate([np.asarray(m.section_types) for m in morphs]).astype(np.int64)
    roots = np.flatnonzero(parent < 0)
    root = roots[np.searchsorted(roots, ids, side="right") - 1]
    root_type = types[root]
    walked = ((root_type == BASAL_TYPE) | (root_type == APICAL_TYPE)) & ~bad[sec_cell]
    order = np.flatnonzero(walked)
    order = order[np.argsort(sec_cell[order] * 8 + root_type[order], kind="stable")]
    n_kids = np.bincount(parent[parent >= 0], minlength=total)
    up = parent[order]
    new = (up < 0) | (n_kids[np.maximum(up, 0)] != 1)
    cell = sec_cell[order]
    return cell, order - base[cell], np.where(up >= 0, up - base[cell], -1), new, np.flatnonzero(bad)


def _block(paths: list) -> "_Block":
    """The arrays of the CellMaps of morphology files (at least one), the array work done once for them all."""
    import morphio

    morphio.set_maximum_warnings(0)
    morphs = [_read(p) for p in paths]
    n_cells = len(paths)
    excl = _excl
    part_cell, parts, parent, new, slow = _block_walk(morphs)
    if len(slow):  # cells whose ids are not in pre-order: walked one by one, as they always were
        walks = {int(k): _walk(morphs[k]) for k in slow}
        extra = [np.full(len(walks[k][0]), k) for k in walks]
        part_cell = np.concatenate([part_cell, *extra])
        parts = np.concatenate([parts, *[np.asarray(w[0], dtype=np.int64) for w in walks.values()]])
        parent = np.concatenate([parent, *[np.asarray(w[1], dtype=np.int64) for w in walks.values()]])
        new = np.concatenate([new, *[np.asarray(w[2], dtype=bool) for w in walks.values()]])
        o = np.argsort(part_cell, kind="stable")
        part_cell, parts, parent, new = part_cell[o], parts[o], parent[o], new[o]
    n_off = np.array([len(m.section_offsets) for m in morphs], dtype=np.int64)
    n_parts = np.bincount(part_cell, minlength=n_cells).astype(np.int64)
    n_points = np.array([m.n_points for m in morphs], dtype=np.int64)
    # every cell's sections and points, concatenated: offsets shifted to the cell's first point
    offsets = np.concatenate([m.section_offsets for m in morphs]).astype(np.int64)
    offsets += np.repeat(excl(n_points)[:-1], n_off)
    sec_base = excl(n_off)[:-1][part_cell]
    points = np.concatenate([m.points for m in morphs])
    diameters = np.concatenate([m.diameters for m in morphs])
    types = np.concatenate([m.section_types for m in morphs]).astype(np.int64)
    parts = parts + sec_base
    lo, hi = offsets[parts], offsets[parts + 1]
    size = hi - lo
    child = parent >= 0
    discontinued = np.zeros(len(parts), dtype=bool)
    discontinued[child] = np.any(points[lo[child]] != points[offsets[parent[child] + sec_base[child] + 1] - 1], axis=1)
    irregular = np.bincount(part_cell, weights=discontinued | (size < 2), minlength=n_cells) > 0
    # keep the dendrites' points only (the axon's are never located on); float32 -> float64 is exact
    start = excl(size)
    rows = np.repeat(lo - start[:-1], size) + np.arange(start[-1])
    cell_points = excl(np.bincount(part_cell, weights=size, minlength=n_cells).astype(np.int64))
    cell_parts = excl(n_parts)
    all_points = points[rows].astype(np.float64)
    all_radii = diameters[rows].astype(np.float64) / 2
    part_lo = start[:-1] - cell_points[part_cell]
    snudda = np.cumsum(new)
    part_snudda = snudda - 1 - np.concatenate([[0], snudda])[cell_parts[:-1]][part_cell]
    part_section = parts - sec_base
    part_type = types[part_section + excl(n_off - 1)[:-1][part_cell]]  # a cell's types: one per section
    part_hi = part_lo + size
    return _Block(
        paths=paths,
        morphs=morphs,
        points=all_points,
        radii=all_radii,
        part_lo=part_lo,
        part_hi=part_hi,
        part_snudda=part_snudda,
        part_section=part_section,
        part_type=part_type,
        cell_parts=cell_parts,
        cell_points=cell_points,
        soma_radius=np.array([_soma_radius(m) for m in morphs]),
        irregular=irregular,
    )


@dataclass(frozen=True)
class _Block:
    """The CellMaps of a block of cells, concatenated (part_lo, part_hi and part_snudda each cell's
    own): a regular cell's map is a slice of them; an irregular one's goes through the point table."""

    paths: list
    morphs: list
    points: np.ndarray
    radii: np.ndarray
    part_lo: np.ndarray
    part_hi: np.ndarray
    part_snudda: np.ndarray
    part_section: np.ndarray
    part_type: np.ndarray
    cell_parts: np.ndarray  # (n_cells + 1,) first part of each cell, then the total
    cell_points: np.ndarray  # (n_cells + 1,) first point of each cell, then the total
    soma_radius: np.ndarray
    irregular: np.ndarray  # (n_cells,) bool

    def cell_map(self, k: int) -> CellMap:
        """Cell k's CellMap (views of the block's arrays)."""
        if self.irregular[k]:
            return _cell_map_from_points(self.paths[k], self.morphs[k])
        p0, p1, q0, q1 = self.cell_parts[k], self.cell_parts[k + 1], self.cell_points[k], self.cell_points[k + 1]
        return CellMap(
            points=self.points[q0:q1],
            radii=self.radii[q0:q1],
            part_lo=self.part_lo[p0:p1],
            part_hi=self.part_hi[p0:p1],
            part_snudda=self.part_snudda[p0:p1],
            part_section=self.part_section[p0:p1],
            part_type=self.part_type[p0:p1],
            soma_radius=float(self.soma_radius[k]),
        )

    def map_set(self) -> "MapSet":
        """`map_set` of every cell's map, straight from the block's arrays (no irregular cell)."""
        n_parts = np.diff(self.cell_parts)
        last = np.maximum(self.cell_parts[1:] - 1, 0)
        n_sec = np.where(n_parts > 0, self.part_snudda[last] + 1 if len(self.part_snudda) else 0, 0)
        return _map_set(
            self.points,
            self.radii,
            np.diff(self.cell_points),
            n_parts,
            n_sec.astype(np.int64),
            self.part_lo,
            self.part_hi,
            self.part_snudda,
            self.part_section,
            self.part_type,
            self.soma_radius,
        )


def cell_maps(paths: list) -> list:
    """The CellMaps of morphology files (each as `cell_map`), the array work done once for them all.

    The maps' arrays are views of the block's: copy a map kept beyond the block (`owned`)."""
    if not paths:
        return []
    block = _block(paths)
    return [block.cell_map(k) for k in range(len(paths))]


def owned(cmap: CellMap) -> CellMap:
    """A CellMap holding its own arrays (not views of its block's)."""
    return CellMap(**{k: v.copy() if isinstance(v, np.ndarray) else v for k, v in cmap.__dict__.items()})


def _cell_map_from_points(path: str, morph) -> CellMap:
    """CellMap through `read_morphio` + `build_tree` (Snudda's own sectioning, any morphology)."""
    from circuitflow.detect.tree import BASAL, build_tree
    from circuitflow.io.morphology_points import AXON, read_morphio

    pts = read_morphio(path)
    tree = build_tree(pts)
    # MorphIO section of every point row, following read_morphio's traversal exactly
    order = {2: AXON, BASAL_TYPE: BASAL, APICAL_TYPE: 4}
    rows, last_point = [np.array([-1])], {}
    for root in sorted(morph.root_sections, key=lambda s: order.get(int(s.type), 99)):
        for sec in root.iter():
            p = np.asarray(sec.points, dtype=np.float64)
            kept = len(p)
            if (
                not sec.is_root
                and kept
                and sec.parent.id in last_point
                and np.array_equal(p[0], last_point[sec.parent.id])
            ):
                kept -= 1
            if kept:
                last_point[sec.id] = p[-1]
            elif not sec.is_root:
                last_point[sec.id] = last_point.get(sec.parent.id)
            rows.append(np.full(kept, sec.id))
    row_sec = np.concatenate(rows)
    if len(row_sec) != len(pts.kind):
        raise LocationError(
            f"{path}: {len(row_sec)} rows from the MorphIO traversal, {len(pts.kind)} from read_morphio"
        )
    dend = np.flatnonzero(tree.kind == BASAL)
    snudda, sec = tree.sec_id[dend], row_sec[dend]
    change = np.concatenate([[True], (snudda[1:] != snudda[:-1]) | (sec[1:] != sec[:-1])])
    p_snudda, p_sec = snudda[change], sec[change]
    o = np.argsort(p_snudda, kind="stable")
    p_snudda, p_sec = p_snudda[o], p_sec[o]
    # each part's points on their own (a one-point section gets a zero-length segment: its point twice)
    pieces, radii = [], []
    for sid in p_sec:
        section = morph.section(int(sid))
        q, r = np.asarray(section.points, dtype=np.float64), np.asarray(section.diameters, dtype=np.float64) / 2
        if len(q) < 2:
            q, r = (np.vstack([q, q]), np.concatenate([r, r])) if len(q) else (np.zeros((2, 3)), np.zeros(2))
        pieces.append(q)
        radii.append(r)
    sizes = np.array([len(q) for q in pieces], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return CellMap(
        points=np.concatenate(pieces) if pieces else np.zeros((0, 3)),
        radii=np.concatenate(radii) if radii else np.zeros(0),
        part_lo=offsets[:-1],
        part_hi=offsets[1:],
        part_snudda=p_snudda.astype(np.int64),
        part_section=p_sec.astype(np.int64),
        part_type=np.asarray(morph.section_types, dtype=np.int64)[p_sec],
        soma_radius=_soma_radius(morph),
    )


@dataclass(frozen=True)
class MapSet:
    """The CellMaps of several cells, concatenated: every index global, every length and cumulative
    length the cell's own (so a location never depends on which other cells share the set)."""

    sec_base: np.ndarray  # (n_cells,) first Snudda section of each cell
    n_sec: np.ndarray  # (n_cells,)
    soma_radius: np.ndarray  # (n_cells,)
    part_first: np.ndarray
    part_count: np.ndarray
    part_start: np.ndarray
    part_len: np.ndarray
    part_section: np.ndarray
    part_type: np.ndarray
    seg_first: np.ndarray
    seg_count: np.ndarray
    seg_start: np.ndarray
    seg_point: np.ndarray  # (n_segments,) row of the segment's start in `points` (its end is the next row)
    points: np.ndarray  # (n_points, 3) every cell's points, concatenated
    radii: np.ndarray  # (n_points,)


def map_set(maps: list) -> MapSet:
    """Concatenate CellMaps (cell k of the set is maps[k]), vectorised over the cells."""
    if not maps:
        raise LocationError("no cells to locate on")
    return _map_set(
        np.concatenate([m.points for m in maps]),
        np.concatenate([m.radii for m in maps]),
        np.array([len(m.points) for m in maps], dtype=np.int64),
        np.array([len(m.part_lo) for m in maps], dtype=np.int64),
        np.array([int(m.part_snudda[-1]) + 1 if len(m.part_snudda) else 0 for m in maps], dtype=np.int64),
        np.concatenate([m.part_lo for m in maps]),
        np.concatenate([m.part_hi for m in maps]),
        np.concatenate([m.part_snudda for m in maps]),
        np.concatenate([m.part_section for m in maps]),
        np.concatenate([m.part_type for m in maps]),
        np.array([m.soma_radius for m in maps]),
    )


def _map_set(
    points: np.ndarray,
    radii: np.ndarray,
    n_points: np.ndarray,
    n_parts: np.ndarray,
    n_sec: np.ndarray,
    part_lo: np.ndarray,
    part_hi: np.ndarray,
    part_snudda: np.ndarray,
    part_section: np.ndarray,
    part_type: np.ndarray,
    soma_radius: np.ndarray,
) -> MapSet:
    """The MapSet of cells whose CellMaps' arrays are concatenated (indices each cell's own)."""
    n_cells = len(n_points)

    def excl(sizes: np.ndarray) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    part_cell = np.repeat(np.arange(n_cells), n_parts)
    point_base = excl(n_points)[part_cell]
    lo = part_lo.astype(np.int64) + point_base
    hi = part_hi.astype(np.int64) + point_base
    seg_count = np.maximum(hi - lo - 1, 0)
    seg_first = excl(seg_count)
    total = int(seg_count.sum())
    idx = np.repeat(lo - seg_first, seg_count) + np.arange(total)
    d = np.diff(points, axis=0)  # every pair of consecutive points; a segment's is d[its start row]
    seg_len = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2])[idx]
    # cumulative lengths from each cell's own start (as if the cell were alone)
    seg_start = np.zeros(total)
    cell_seg = np.concatenate([[0], np.cumsum(np.bincount(part_cell, weights=seg_count, minlength=n_cells))]).astype(
        np.int64
    )
    for k in range(n_cells):
        s0, s1 = cell_seg[k], cell_seg[k + 1]
        if s1 - s0 > 1:
            seg_start[s0 + 1 : s1] = np.cumsum(seg_len[s0 : s1 - 1])
    part_len = np.add.reduceat(seg_len, np.minimum(seg_first, max(total - 1, 0))) if total else np.zeros(len(lo))
    part_len[seg_count == 0] = 0.0
    part_start = seg_start[np.minimum(seg_first, max(total - 1, 0))] if total else np.zeros(len(lo))
    sec_base = excl(n_sec)
    snudda = part_snudda.astype(np.int64) + sec_base[part_cell]
    part_count = np.bincount(snudda, minlength=int(n_sec.sum())).astype(np.int64)
    return MapSet(
        sec_base=sec_base,
        n_sec=n_sec,
        soma_radius=np.asarray(soma_radius, dtype=np.float64),
        part_first=excl(part_count),
        part_count=part_count,
        part_start=part_start,
        part_len=part_len,
        part_section=part_section.astype(np.int64),
        part_type=part_type.astype(np.int64),
        seg_first=seg_first,
        seg_count=seg_count,
        seg_start=seg_start,
        seg_point=idx,
        points=points,
        radii=radii,
    )


def unique(values: np.ndarray) -> np.ndarray:
    """`np.unique` of a 1-d array, in one pass (no sort) when it is sorted already (a target column)."""
    values = np.asarray(values).ravel()
    if np.all(values[1:] >= values[:-1]):
        return values[np.concatenate([[True], values[1:] != values[:-1]])] if len(values) else values.copy()
    return np.unique(values)


def bisect_right(values: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per element, the first index in [lo, hi) with values[index] > x (else hi); values sorted there."""
    lo, hi = lo.copy(), hi.copy()
    active = lo < hi
    while np.any(active):
        mid = (lo + hi) // 2
        right = values[np.where(active, mid, 0)] <= x
        lo = np.where(active & right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)
        active = lo < hi
    return lo


def _rotate(rot: np.ndarray, v: np.ndarray, transpose: bool = False) -> np.ndarray:
    """rot[k] @ v[k] (or rot[k].T @ v[k]) per row, elementwise (each row's result depends on that row only)."""
    r = np.swapaxes(rot, 1, 2) if transpose else rot
    return r[:, :, 0] * v[:, 0:1] + r[:, :, 1] * v[:, 1:2] + r[:, :, 2] * v[:, 2:3]


def locate_set(
    ms: MapSet,
    cell: np.ndarray,
    sec_id: np.ndarray,
    sec_x: np.ndarray,
    toward: np.ndarray | None = None,
    paths: list | None = None,
) -> dict:
    """SONATA locations of Snudda (sec_id, int sec_x) on cells `cell` of a MapSet (local frames, µm).

    `toward` (n, 3), local frames: the presynaptic side, for the surface point (else the centre)."""
    sec_id = np.asarray(sec_id, dtype=np.int64)
    cell = np.asarray(cell, dtype=np.int64)
    frac = np.clip(np.asarray(sec_x, dtype=np.float64) / 1000.0, 0.0, 1.0)
    n = len(sec_id)
    out = {
        "section_id": np.zeros(n, np.int64),
        "section_pos": np.full(n, 0.5),
        "section_type": np.full(n, SOMA_TYPE),
        "segment_id": np.zeros(n, np.int64),
        "segment_offset": np.zeros(n),
        "center": np.zeros((n, 3)),
        "surface": np.zeros((n, 3)),
    }
    dend = sec_id >= 0
    if toward is not None and not np.all(dend):
        v = toward[~dend]
        norm = np.linalg.norm(v, axis=1)
        radius = ms.soma_radius[cell[~dend]]
        out["surface"][~dend] = np.divide(
            v * radius[:, None], norm[:, None], out=np.zeros_like(v), where=norm[:, None] > 0
        )
    if not np.any(dend):
        return out
    s, c = sec_id[dend], cell[dend]
    g = ms.sec_base[c] + np.minimum(s, np.maximum(ms.n_sec[c] - 1, 0))
    missing = (
        (s >= ms.n_sec[c]) | (ms.part_count[np.minimum(g, max(len(ms.part_count) - 1, 0))] == 0)
        if len(ms.part_count)
        else np.ones(len(s), dtype=bool)
    )
    if np.any(missing):
        k = int(np.flatnonzero(missing)[0])
        where = paths[int(c[k])] if paths is not None else f"cell {int(c[k])}"
        raise LocationError(
            f"{where}: dendrite section {int(s[k])} (Snudda numbering) does not exist; "
            f"the morphology has {int(ms.n_sec[c[k]])}"
        )
    first, count = ms.part_first[g], ms.part_count[g]
    last = first + count - 1
    begin = ms.part_start[first]
    total = ms.part_start[last] + ms.part_len[last] - begin
    target = begin + frac[dend] * total
    part = np.clip(bisect_right(ms.part_start, target, first, last + 1) - 1, first, last)
    plen = ms.part_len[part]
    along = np.clip(target - ms.part_start[part], 0.0, plen)
    pos = np.divide(along, plen, out=np.zeros_like(along), where=plen > 0)
    sfirst = ms.seg_first[part]
    slast = sfirst + ms.seg_count[part] - 1
    starget = ms.seg_start[sfirst] + along
    seg = np.clip(bisect_right(ms.seg_start, starget, sfirst, slast + 1) - 1, sfirst, slast)
    row = ms.seg_point[seg]
    a, b = ms.points[row], ms.points[row + 1]
    d = b - a
    slen = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2])
    offset = np.clip(starget - ms.seg_start[seg], 0.0, slen)
    t = np.divide(offset, slen, out=np.zeros_like(offset), where=slen > 0)
    center = a + d * t[:, None]
    out["section_id"][dend] = ms.part_section[part] + 1
    out["section_pos"][dend] = pos
    out["section_type"][dend] = ms.part_type[part]
    out["segment_id"][dend] = seg - sfirst
    out["segment_offset"][dend] = offset
    out["center"][dend] = center
    out["surface"][dend] = center
    if toward is not None:
        radius = ms.radii[row] + (ms.radii[row + 1] - ms.radii[row]) * t
        unit = np.divide(d, slen[:, None], out=np.zeros_like(d), where=slen[:, None] > 0)
        v = toward[dend] - center
        perp = v - np.sum(v * unit, axis=1)[:, None] * unit
        norm = np.linalg.norm(perp, axis=1)
        out["surface"][dend] = center + np.divide(
            perp * radius[:, None], norm[:, None], out=np.zeros_like(perp), where=norm[:, None] > 1e-9
        )
    return out


def locate(
    cmap: CellMap, sec_id: np.ndarray, sec_x: np.ndarray, toward: np.ndarray | None = None, path: str = ""
) -> dict:
    """SONATA location of Snudda (sec_id, int sec_x) pairs on one morphology (local frame, µm)."""
    return locate_set(map_set([cmap]), np.zeros(len(sec_id), dtype=np.int64), sec_id, sec_x, toward, [path])


class Locator:
    """Locations on placed cells (world frame, µm), cells taken in blocks (bounded memory).

    `ids` (sorted, unique) are the node ids it knows: their positions (µm), rotation matrices and
    morphology paths, in that order. `cache` (CellMaps by node id) may be shared with other
    Locators (another pass over the same cells); the maps of the nodes in `keep` are stored there."""

    def __init__(
        self,
        ids: np.ndarray,
        positions: np.ndarray,
        rotations: np.ndarray,
        paths: list,
        block_cells: int = 128,
        cache: dict | None = None,
        keep: np.ndarray | None = None,
    ):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.positions = positions
        self.rotations = rotations
        self.paths = paths
        self.block_cells = block_cells
        self.cache: dict[int, CellMap] = {} if cache is None else cache
        self.keep = np.zeros(0, dtype=np.int64) if keep is None else np.asarray(keep, dtype=np.int64)

    def map_set(self, cells: np.ndarray) -> MapSet:
        """The MapSet of the known nodes `cells` (positions in `ids`): maps from the cache, else read
        (and kept in the cache if their node is in `keep`)."""
        nodes = self.ids[cells]
        found = [self.cache.get(int(node)) for node in nodes]
        missing = [k for k, m in enumerate(found) if m is None]
        if not missing:
            return map_set(found)
        block = _block([self.paths[int(cells[k])] for k in missing])
        for j in np.flatnonzero(np.isin(nodes[missing], self.keep)):
            self.cache[int(nodes[missing[j]])] = owned(block.cell_map(int(j)))
        if len(missing) == len(cells) and not np.any(block.irregular):
            return block.map_set()  # straight from the block's arrays
        for j, k in enumerate(missing):
            found[k] = block.cell_map(j)
        return map_set(found)

    def locate(self, node: np.ndarray, sec_id: np.ndarray, sec_x: np.ndarray, toward: np.ndarray | None = None) -> dict:
        """SONATA locations (world frame, µm) of Snudda (node, sec_id, sec_x); `toward` in the world frame."""
        node = np.asarray(node, dtype=np.int64)
        n = len(node)
        out = {
            "section_id": np.zeros(n, np.int64),
            "section_pos": np.zeros(n),
            "section_type": np.zeros(n, np.int64),
            "segment_id": np.zeros(n, np.int64),
            "segment_offset": np.zeros(n),
            "center": np.zeros((n, 3)),
            "surface": np.zeros((n, 3)),
        }
        if n == 0:
            return out
        index = np.searchsorted(self.ids, node)
        if np.any(index >= len(self.ids)) or np.any(self.ids[np.minimum(index, len(self.ids) - 1)] != node):
            raise LocationError("a node to locate on was not loaded")
        order = np.argsort(index, kind="stable")
        cells = unique(index)
        for lo in range(0, len(cells), self.block_cells):
            block = cells[lo : lo + self.block_cells]
            r0, r1 = np.searchsorted(index[order], [block[0], block[-1] + 1])
            rows = order[r0:r1]
            ms = self.map_set(block)
            k = np.searchsorted(block, index[rows])  # cell within the block
            idx = index[rows]
            rot, pos = self.rotations[idx], self.positions[idx]
            local = None if toward is None else _rotate(rot, toward[rows] - pos, transpose=True)
            loc = locate_set(
                ms, k, np.asarray(sec_id)[rows], np.asarray(sec_x)[rows], local, [self.paths[i] for i in block]
            )
            loc["center"] = _rotate(rot, loc["center"]) + pos
            loc["surface"] = _rotate(rot, loc["surface"]) + pos
            for key, values in loc.items():
                out[key][rows] = values
        return out
