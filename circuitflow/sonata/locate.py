"""Snudda synapse locations (dendrite section, sec_x) -> SONATA locations on MorphIO morphologies.

Snudda numbers a cell's dendrite sections (basal, then apical) in the row order of the point table
`io.morphology_points.read_morphio` builds: MorphIO's root sections sorted by type, each walked
depth first, and a section continuing across a unifurcation (a point with one child). So a Snudda
section is a chain of MorphIO sections, numbered in that walk's order, and its `sec_x` (int, 1000 ×
the fraction of its path length) is mapped through cumulative lengths to (MorphIO section, position),
then to (segment, offset in µm) and the point on the centre line (`afferent_center_*`).
`cell_map` reads this straight from MorphIO's flat arrays (about 0.5 ms a cell); a morphology it
cannot read that way (a section of fewer than 2 points, or a child section not starting at its
parent's last point) goes through the point table and `detect.tree.build_tree` instead, which
give the same numbering for every morphology.

The surface point (`afferent_surface_*`) is the centre moved by the local radius (interpolated
along the segment) perpendicular to the segment, toward the presynaptic side: the centre of the
voxel in which detection found the touch. When that voxel centre lies on the centre line the
surface point is the centre itself. On the soma (section id 0 in SONATA, position 0.5) the centre
is the soma centre and the surface point lies at the soma radius toward the voxel.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

SOMA_TYPE = 1
BASAL_TYPE, APICAL_TYPE = 3, 4


class LocationError(ValueError):
    """A location cannot be mapped onto its morphology."""


@dataclass(frozen=True)
class CellMap:
    """One morphology's Snudda dendrite sections in MorphIO terms (local frame, µm).

    Parts: the MorphIO sections making up each Snudda section, contiguous per Snudda section;
    segments: every segment of those MorphIO sections, contiguous per part."""

    part_first: np.ndarray  # (n_snudda_sec,) first part of each Snudda dendrite section
    part_count: np.ndarray  # (n_snudda_sec,)
    part_start: np.ndarray  # (n_parts,) cumulative length at the part's start (over the cell's parts)
    part_len: np.ndarray  # (n_parts,)
    part_section: np.ndarray  # (n_parts,) MorphIO section id
    part_type: np.ndarray  # (n_parts,) 3 basal, 4 apical
    seg_first: np.ndarray  # (n_parts,) first segment of each part
    seg_count: np.ndarray  # (n_parts,)
    seg_start: np.ndarray  # (n_segments,) cumulative length at the segment's start (over the cell)
    seg_a: np.ndarray  # (n_segments, 3)
    seg_b: np.ndarray  # (n_segments, 3)
    seg_ra: np.ndarray  # (n_segments,) radius at a
    seg_rb: np.ndarray  # (n_segments,) radius at b
    soma_radius: float


def _read(path: str):
    import morphio

    morphio.set_maximum_warnings(0)
    try:
        return morphio.Morphology(str(path))
    except Exception as exc:  # morphio raises its own exception hierarchy
        raise LocationError(f"{path}: MorphIO cannot read it ({str(exc).strip().splitlines()[0]})") from None


def _soma_radius(morph) -> float:
    """As `read_morphio`: half the diameter of a one-point soma, else the mean distance of its contour."""
    pts = np.asarray(morph.soma.points, dtype=np.float64)
    if len(pts) == 1:
        return float(np.asarray(morph.soma.diameters, dtype=np.float64)[0]) / 2
    return float(np.linalg.norm(pts, axis=1).mean()) if len(pts) else 0.0


def _assemble(parts: np.ndarray, snudda_of_part: np.ndarray, part_type: np.ndarray, offsets: np.ndarray,
              points: np.ndarray, radii: np.ndarray, soma_radius: float) -> CellMap:
    """A CellMap from the dendrite MorphIO sections in Snudda row order and their Snudda section ids."""
    n_snudda = int(snudda_of_part.max()) + 1 if len(parts) else 0
    part_count = np.bincount(snudda_of_part, minlength=n_snudda).astype(np.int64)
    part_first = np.concatenate([[0], np.cumsum(part_count)[:-1]]).astype(np.int64)
    n_pts = offsets[parts + 1] - offsets[parts]
    seg_count = np.maximum(n_pts - 1, 0).astype(np.int64)
    total = int(seg_count.sum())
    seg_first = np.concatenate([[0], np.cumsum(seg_count)[:-1]]).astype(np.int64)
    idx = np.repeat(offsets[parts] - seg_first, seg_count) + np.arange(total)
    seg_a, seg_b = points[idx], points[idx + 1]
    seg_len = np.linalg.norm(seg_b - seg_a, axis=1)
    seg_start = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]]) if total else np.zeros(0)
    part_len = np.add.reduceat(seg_len, seg_first) if total else np.zeros(len(parts))
    part_len[seg_count == 0] = 0.0
    part_start = seg_start[np.minimum(seg_first, max(total - 1, 0))] if total else np.zeros(len(parts))
    return CellMap(part_first=part_first, part_count=part_count, part_start=part_start, part_len=part_len,
                   part_section=parts.astype(np.int64), part_type=part_type.astype(np.int16),
                   seg_first=seg_first, seg_count=seg_count, seg_start=seg_start, seg_a=seg_a, seg_b=seg_b,
                   seg_ra=radii[idx], seg_rb=radii[idx + 1], soma_radius=soma_radius)


def cell_map(path: str) -> CellMap:
    """The CellMap of one morphology file, read from MorphIO's flat arrays."""
    morph = _read(path)
    types = np.asarray(morph.section_types, dtype=np.int64)
    offsets = np.asarray(morph.section_offsets, dtype=np.int64)
    points = np.asarray(morph.points, dtype=np.float64)
    radii = np.asarray(morph.diameters, dtype=np.float64) / 2
    children = morph.connectivity
    roots = [r for r in children.get(-1, []) if types[r] in (BASAL_TYPE, APICAL_TYPE)]
    roots.sort(key=lambda r: types[r])  # stable: basal roots, then apical, in file order
    order, new = [], []
    for root in roots:
        stack = [(root, True)]
        while stack:
            sec, starts = stack.pop()
            order.append(sec)
            new.append(starts)
            kids = children.get(sec, [])
            stack.extend((k, len(kids) != 1) for k in reversed(kids))
    parts = np.asarray(order, dtype=np.int64)
    if len(parts):
        n_pts = offsets[parts + 1] - offsets[parts]
        parent = {k: p for p, kids in children.items() if p >= 0 for k in kids}
        non_roots = np.array([s for s in order if s in parent], dtype=np.int64)
        continued = np.ones(len(non_roots), dtype=bool)
        if len(non_roots):
            par = np.array([parent[s] for s in non_roots], dtype=np.int64)
            continued = np.all(points[offsets[non_roots]] == points[offsets[par + 1] - 1], axis=1)
        if np.any(n_pts < 2) or not np.all(continued):
            return _cell_map_from_points(path, morph)
    snudda = np.cumsum(new) - 1
    return _assemble(parts, snudda.astype(np.int64), types[parts], offsets, points, radii, _soma_radius(morph))


def _cell_map_from_points(path: str, morph) -> CellMap:
    """CellMap through `read_morphio` + `build_tree` (Snudda's own sectioning, any morphology)."""
    from circuitflow.connectome.detect.tree import BASAL, build_tree
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
            if not sec.is_root and kept and sec.parent.id in last_point and np.array_equal(p[0], last_point[sec.parent.id]):
                kept -= 1
            if kept:
                last_point[sec.id] = p[-1]
            elif not sec.is_root:
                last_point[sec.id] = last_point.get(sec.parent.id)
            rows.append(np.full(kept, sec.id))
    row_sec = np.concatenate(rows)
    if len(row_sec) != len(pts.kind):
        raise LocationError(f"{path}: {len(row_sec)} rows from the MorphIO traversal, {len(pts.kind)} from read_morphio")
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
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    points = np.concatenate(pieces) if pieces else np.zeros((0, 3))
    radius = np.concatenate(radii) if radii else np.zeros(0)
    cmap = _assemble(np.arange(len(p_sec)), p_snudda.astype(np.int64), np.asarray(morph.section_types)[p_sec],
                     offsets, points, radius, _soma_radius(morph))
    return CellMap(**{**cmap.__dict__, "part_section": p_sec.astype(np.int64)})


def locate(cmap: CellMap, sec_id: np.ndarray, sec_x: np.ndarray, toward: np.ndarray | None = None,
           path: str = "") -> dict:
    """SONATA location of Snudda (sec_id, int sec_x) pairs on one morphology (local frame, µm).

    `toward` (n, 3), local frame: the presynaptic side, for the surface point (else the centre)."""
    sec_id = np.asarray(sec_id, dtype=np.int64)
    frac = np.clip(np.asarray(sec_x, dtype=np.float64) / 1000.0, 0.0, 1.0)
    n = len(sec_id)
    out = {"section_id": np.zeros(n, np.int64), "section_pos": np.full(n, 0.5), "section_type": np.full(n, SOMA_TYPE),
           "segment_id": np.zeros(n, np.int64), "segment_offset": np.zeros(n), "center": np.zeros((n, 3)),
           "surface": np.zeros((n, 3))}
    dend = sec_id >= 0
    if toward is not None and not np.all(dend):
        v = toward[~dend]
        norm = np.linalg.norm(v, axis=1)
        out["surface"][~dend] = np.divide(v * cmap.soma_radius, norm[:, None], out=np.zeros_like(v),
                                          where=norm[:, None] > 0)
    if not np.any(dend):
        return out
    s = sec_id[dend]
    n_sec = len(cmap.part_first)
    if s.max() >= n_sec or np.any(cmap.part_count[np.minimum(s, max(n_sec - 1, 0))] == 0) or n_sec == 0:
        bad = int(s[(s >= n_sec) | (cmap.part_count[np.minimum(s, max(n_sec - 1, 0))] == 0)][0]) if n_sec else int(s[0])
        raise LocationError(f"{path}: dendrite section {bad} (Snudda numbering) does not exist; "
                            f"the morphology has {n_sec}")
    first, count = cmap.part_first[s], cmap.part_count[s]
    last = first + count - 1
    begin = cmap.part_start[first]
    total = cmap.part_start[last] + cmap.part_len[last] - begin
    target = begin + frac[dend] * total
    part = np.clip(np.searchsorted(cmap.part_start, target, side="right") - 1, first, last)
    plen = cmap.part_len[part]
    along = np.clip(target - cmap.part_start[part], 0.0, plen)
    pos = np.divide(along, plen, out=np.zeros_like(along), where=plen > 0)
    sfirst = cmap.seg_first[part]
    slast = sfirst + cmap.seg_count[part] - 1
    starget = cmap.seg_start[sfirst] + along
    seg = np.clip(np.searchsorted(cmap.seg_start, starget, side="right") - 1, sfirst, slast)
    a, b = cmap.seg_a[seg], cmap.seg_b[seg]
    d = b - a
    slen = np.linalg.norm(d, axis=1)
    offset = np.clip(starget - cmap.seg_start[seg], 0.0, slen)
    t = np.divide(offset, slen, out=np.zeros_like(offset), where=slen > 0)
    center = a + d * t[:, None]
    out["section_id"][dend] = cmap.part_section[part] + 1
    out["section_pos"][dend] = pos
    out["section_type"][dend] = cmap.part_type[part]
    out["segment_id"][dend] = seg - sfirst
    out["segment_offset"][dend] = offset
    out["center"][dend] = center
    out["surface"][dend] = center
    if toward is not None:
        radius = cmap.seg_ra[seg] + (cmap.seg_rb[seg] - cmap.seg_ra[seg]) * t
        unit = np.divide(d, slen[:, None], out=np.zeros_like(d), where=slen[:, None] > 0)
        v = toward[dend] - center
        perp = v - np.sum(v * unit, axis=1)[:, None] * unit
        norm = np.linalg.norm(perp, axis=1)
        out["surface"][dend] = center + np.divide(perp * radius[:, None], norm[:, None], out=np.zeros_like(perp),
                                                  where=norm[:, None] > 1e-9)
    return out


class Locator:
    """Locations on placed cells (world frame, µm), with a bounded cache of per-cell maps."""

    def __init__(self, positions: np.ndarray, rotations: np.ndarray, paths, cache_size: int = 4096):
        self.positions = positions  # (n, 3) µm, indexed by node id
        self.rotations = rotations  # (n, 3, 3)
        self.paths = paths  # node id -> morphology path
        self.cache: OrderedDict[int, CellMap] = OrderedDict()
        self.cache_size = cache_size

    def cell_map(self, node: int) -> CellMap:
        """The node's CellMap (cached)."""
        cmap = self.cache.get(node)
        if cmap is None:
            cmap = cell_map(self.paths[node])
            self.cache[node] = cmap
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(node)
        return cmap

    def locate(self, node: np.ndarray, sec_id: np.ndarray, sec_x: np.ndarray, toward: np.ndarray | None = None) -> dict:
        """SONATA locations (world frame, µm) of Snudda (node, sec_id, sec_x); `toward` in the world frame."""
        node = np.asarray(node, dtype=np.int64)
        n = len(node)
        out = {"section_id": np.zeros(n, np.int64), "section_pos": np.zeros(n), "section_type": np.zeros(n, np.int64),
               "segment_id": np.zeros(n, np.int64), "segment_offset": np.zeros(n), "center": np.zeros((n, 3)),
               "surface": np.zeros((n, 3))}
        if n == 0:
            return out
        order = np.argsort(node, kind="stable")
        sorted_nodes = node[order]
        bounds = np.flatnonzero(np.concatenate([[True], sorted_nodes[1:] != sorted_nodes[:-1], [True]]))
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            rows = order[lo:hi]
            nid = int(sorted_nodes[lo])
            rot, pos = self.rotations[nid], self.positions[nid]
            local_toward = None if toward is None else (toward[rows] - pos) @ rot
            loc = locate(self.cell_map(nid), sec_id[rows], sec_x[rows], local_toward, self.paths[nid])
            loc["center"] = loc["center"] @ rot.T + pos
            loc["surface"] = loc["surface"] @ rot.T + pos
            for key, values in loc.items():
                out[key][rows] = values
        return out
