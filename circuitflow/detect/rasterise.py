"""Per-neuron rasterisation: hypervoxel membership and first-visit voxel entries (spec detect.md §2.2, §2.4).

For one placed neuron, vectorised over all its segments at once: Snudda's membership rule (a section
is voxelised in a hypervoxel only if one of its own points lies there, a segment only if an end lies
within one voxel of it), its sampling rule (ceil(1.1 L) steps, floored), computed in each
hypervoxel's local float64 coordinates as Snudda does, and the first visit per (hypervoxel, voxel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuitflow.detect.grid import Grid
from circuitflow.detect.tree import AXON, BASAL, SOMA, Segments, Tree
from circuitflow.io.morphology_points import MorphologyError

SOMA_SEC = -1
SOMA_SEC_X = 0.5


@dataclass
class Table:
    """Column arrays of equal length."""

    cols: dict

    def __len__(self) -> int:
        return len(next(iter(self.cols.values()))) if self.cols else 0

    def take(self, idx: np.ndarray) -> "Table":
        """Rows `idx`."""
        return Table({k: v[idx] for k, v in self.cols.items()})

    @staticmethod
    def concat(tables: list["Table"], template: dict) -> "Table":
        """Concatenate tables (columns of `template`, with its dtypes, when empty)."""
        tables = [t for t in tables if len(t)]
        if not tables:
            return Table({k: np.zeros(0, dtype=dt) for k, dt in template.items()})
        return Table({k: np.concatenate([t.cols[k] for t in tables]).astype(dt) for k, dt in template.items()})


# compact column types (voxel keys < hyper_voxel_size**3, distances and section ids wrap at int16 anyway)
MEMBER_COLS = {"hid": np.int64, "neuron": np.int64, "kind": np.int8, "sec_id": np.int64}
AXON_COLS = {"hid": np.int64, "neuron": np.int32, "key": np.int32, "dist": np.int16, "count": np.int32}
DEND_COLS = {
    "hid": np.int64,
    "neuron": np.int32,
    "key": np.int32,
    "sec_id": np.int16,
    "sec_x": np.float64,
    "dist": np.int16,
    "count": np.int32,
}


def placed_columns(tree: Tree, position: np.ndarray, rotation: np.ndarray, where: str) -> np.ndarray:
    """(3,n) world coordinates (float32 metres): rotate in float64 and store float32, then add the position."""
    rot = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    if not abs(np.linalg.det(rot) - 1) < 1e-10 or not (np.abs(rot @ rot.T - np.eye(3)) < 1e-10).all():
        raise ValueError(f"{where}: rotation is not a rotation matrix: {rot.ravel().tolist()}")
    xyz = np.matmul(rot, tree.xyz.copy().T).astype(np.float32)
    # float32 + float64 position, rounded back to float32 (Snudda's in-place add)
    np.add(xyz, np.asarray(position, dtype=np.float64)[:, None], out=xyz, casting="same_kind")
    return xyz


def place(tree: Tree, position: np.ndarray, rotation: np.ndarray, where: str) -> np.ndarray:
    """(n,3) world coordinates (float32 metres), a view of `placed_columns`."""
    return placed_columns(tree, position, rotation, where).T


def soma_surface(centre: np.ndarray, radius: np.float32) -> np.ndarray:
    """Snudda's 600 soma-sphere surface samples (30 azimuths x 20 polar angles)."""
    u, v = np.mgrid[0 : 2 * np.pi : 30j, 0 : np.pi : 20j]
    x = radius * np.cos(u) * np.sin(v) + centre[0]
    y = radius * np.sin(u) * np.sin(v) + centre[1]
    z = radius * np.cos(v) + centre[2]
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


def unique_rows(a: np.ndarray) -> np.ndarray:
    """Sorted unique rows of an (n,3) int array (lexicographic), faster than np.unique(axis=0)."""
    if len(a) == 0:
        return a.reshape(0, 3)
    a = a[np.lexsort((a[:, 2], a[:, 1], a[:, 0]))]
    keep = np.concatenate([[True], np.any(a[1:] != a[:-1], axis=1)])
    return a[keep]


def run_starts(*cols: np.ndarray) -> np.ndarray:
    """Rows where any of the equal-length columns differs from the previous row (row 0 included)."""
    change = np.zeros(len(cols[0]), dtype=bool)
    change[:1] = True
    for c in cols:
        change[1:] |= c[1:] != c[:-1]
    return np.flatnonzero(change)


def membership(nid: int, tree: Tree, xyz: np.ndarray, grid: Grid, hid: np.ndarray | None = None) -> Table:
    """(hid, neuron, kind, sec_id) rows: soma (kind 1, sec -1) and every section with an own point in the hid
    (`xyz`: (3,n) placed points; `hid`: the points' hypervoxels, if already known)."""
    hid = grid.hids_of(xyz.T) if hid is None else hid
    rows = []
    soma_rows = np.flatnonzero(tree.kind == SOMA)
    if len(soma_rows):
        s = soma_surface(xyz[:, soma_rows[0]], tree.radius[soma_rows[0]])
        soma_hids = np.unique(np.concatenate([hid[soma_rows], grid.hids_of(s)]))
        soma_hids = soma_hids[soma_hids >= 0]
        rows.append(np.stack([soma_hids, np.full(len(soma_hids), SOMA), np.full(len(soma_hids), SOMA_SEC)], 1))
    neurite = np.flatnonzero(((tree.kind == AXON) | (tree.kind == BASAL)) & (hid >= 0))
    h, k, s = hid[neurite], tree.kind[neurite], tree.sec_id[neurite]
    first = run_starts(h, k, s)  # points come section by section: drop repeats before the sort
    rows.append(np.stack([h[first], k[first], s[first]], axis=1))
    allrows = unique_rows(np.concatenate(rows).astype(np.int64))
    return Table(
        {
            "hid": allrows[:, 0],
            "neuron": np.full(len(allrows), nid, dtype=np.int64),
            "kind": allrows[:, 1].astype(np.int8),
            "sec_id": allrows[:, 2],
        }
    )


def segment_pairs(seg: Segments, kind: int, member: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(segment, member hypervoxel) pairs: each segment with every hypervoxel its section is a member of."""
    sel = member.cols["kind"] == kind
    m_sec, m_hid = member.cols["sec_id"][sel], member.cols["hid"][sel]
    order = np.lexsort((m_hid, m_sec))
    m_sec, m_hid = m_sec[order], m_hid[order]
    n_sec = int(max(seg.sec_id.max(initial=-1), m_sec.max(initial=-1))) + 1
    sec_lo = np.searchsorted(m_sec, np.arange(n_sec), "left")  # member rows of each section
    sec_cnt = np.searchsorted(m_sec, np.arange(n_sec), "right") - sec_lo
    lo, cnt = sec_lo[seg.sec_id], sec_cnt[seg.sec_id]
    if np.all(cnt == 1):  # common case: every section lies in one hypervoxel
        return np.arange(len(seg.a)), lo, m_hid
    s_idx = np.repeat(np.arange(len(seg.a)), cnt)
    m_idx = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) + np.arange(cnt.sum())
    return s_idx, m_idx, m_hid


def segment_samples(
    tree: Tree, xyz: np.ndarray, kind: int, member: Table, grid: Grid, hids: np.ndarray, where: str
) -> dict:
    """Samples of all (segment, member hid) pairs of one neurite kind, in visit order, inside their hypervoxel.

    `xyz`: (3,n) placed points; `hids`: the neuron's sorted hypervoxels. Returns per inside sample its
    `vkey` (index of the hid in `hids` * nb**3 + C-order voxel key) and `g` (its index among all samples),
    and per pair what `sample_values` needs."""
    seg = tree.segments[kind]
    s_idx, m_idx, m_hid = segment_pairs(seg, kind, member)
    # visit order inside a hypervoxel: section id, then point order (segments are already in that order)
    hvo = grid.origins(m_hid)[m_idx]
    vs, nb = grid.voxel_size, grid.hyper_voxel_size
    a, b = seg.a[s_idx], seg.b[s_idx]
    va = [(xyz[c][a] - hvo[:, c]) / vs for c in range(3)]
    vb = [(xyz[c][b] - hvo[:, c]) / vs for c in range(3)]
    ina = (va[0] >= -1) & (va[0] < nb + 1) & (va[1] >= -1) & (va[1] < nb + 1) & (va[2] >= -1) & (va[2] < nb + 1)
    inb = (vb[0] >= -1) & (vb[0] < nb + 1) & (vb[1] >= -1) & (vb[1] < nb + 1) & (vb[2] >= -1) & (vb[2] < nb + 1)
    pad = np.flatnonzero(ina | inb)
    s_idx, m_idx = s_idx[pad], m_idx[pad]
    va = [v[pad] for v in va]
    d = [vb[c][pad] - va[c] for c in range(3)]
    n = np.ceil(1.1 * np.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)).astype(np.int64)
    if np.any(n == 0):
        bad = int(seg.b[s_idx[n == 0][0]]) + 1
        raise MorphologyError(f"{where}: zero-length segment ending at point {bad}")
    reps = n + 1
    start = np.cumsum(reps) - reps
    pair = np.repeat(np.arange(len(n), dtype=np.int32), reps)  # the pair of every sample
    x = sample_coordinates(va, d, n, start, len(pair))
    # C-order key; astype is the floor for the samples inside the hypervoxel (x >= 0), the only ones kept
    vkey = x[0].astype(np.int64)
    for xc in x[1:]:
        vkey *= nb
        vkey += xc.astype(np.int64)
    vkey += np.repeat(np.searchsorted(hids, m_hid[m_idx]) * nb**3, reps)
    # samples outside the hypervoxel: only pairs not safely inside need a test; floor(x) lies in [0, nb)
    # exactly when x does, and x runs monotonically from va to va + step * n (within 1e-12 of vb)
    eps = 1e-6
    test = np.flatnonzero(
        ~np.all([(v >= eps) & (v < nb - eps) for v in (*va, *(vb[c][pad] for c in range(3)))], axis=0)
    )
    if len(test):
        idx = np.repeat(start[test] - (np.cumsum(reps[test]) - reps[test]), reps[test]) + np.arange(reps[test].sum())
        out = np.any([(xc[idx] < 0) | (xc[idx] >= nb) for xc in x], axis=0)
        keep = np.ones(len(pair), dtype=bool)
        keep[idx[out]] = False
        g = np.flatnonzero(keep)
        vkey = vkey[g]
    else:
        g = np.arange(len(pair))
    da = tree.soma_dist[seg.a[s_idx]] * 1e6
    db = tree.soma_dist[seg.b[s_idx]] * 1e6
    sxa, sxb = seg.sx_a[s_idx], seg.sx_b[s_idx]
    return {
        "vkey": vkey,
        "g": g,
        "start": start,
        "da": da,
        "dstep": (db - da) / n,
        "sxa": sxa,
        "sxstep": (sxb - sxa) / n,
        "sec_id": seg.sec_id[s_idx],
        "pair": pair,
    }


def sample_coordinates(va: list, d: list, n: np.ndarray, start: np.ndarray, n_samples: int) -> list:
    """Local voxel coordinates va + (d / n) * k, k = 0..n, of every pair's samples (pair i's at start[i]...),
    as Snudda computes them; most segments are shorter than a voxel (n = 1: va and va + d, no repeats)."""
    x = [np.empty(n_samples) for _ in range(3)]
    one = np.flatnonzero(n == 1)
    s1 = start[one]
    for c in range(3):
        v = va[c][one]
        x[c][s1] = v  # + (d / 1) * 0
        x[c][s1 + 1] = v + d[c][one]  # + (d / 1) * 1
    more = np.flatnonzero(n > 1)
    if len(more):
        reps = n[more] + 1
        first = np.repeat(start[more], reps)
        idx = first + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps))
        k = (idx - first).astype(np.float64)
        for c in range(3):
            xc = np.repeat(d[c][more] / n[more], reps)
            xc *= k
            xc += np.repeat(va[c][more], reps)
            x[c][idx] = xc
    return x


def sample_values(smp: dict, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soma distance (µm, floored), section x and section id of the selected inside samples."""
    g = smp["g"][sel]
    p = smp["pair"][g]
    k = g - smp["start"][p]
    dist = np.floor(smp["da"][p].astype(np.float64) + smp["dstep"][p] * k).astype(np.int64)
    return dist, smp["sxa"][p] + smp["sxstep"][p] * k, smp["sec_id"][p]


def soma_voxels(tree: Tree, xyz: np.ndarray, hids: np.ndarray, grid: Grid) -> dict:
    """Voxels of each hypervoxel in `hids` whose centre is strictly inside the soma sphere (`xyz`: (3,n))."""
    row = int(np.flatnonzero(tree.kind == SOMA)[0])
    c, r = xyz[:, row], tree.radius[row]
    vs, nb = grid.voxel_size, grid.hyper_voxel_size
    rv = int(np.ceil(r / vs))
    out_h, out_k = [], []
    for h, hvo in zip(hids, grid.origins(hids)):
        lo = np.floor((c - hvo) / vs).astype(np.int64)
        axes = [np.arange(max(lo[i] - rv, 0), min(lo[i] + rv + 1, nb)) for i in range(3)]
        if any(len(a) == 0 for a in axes):
            continue
        vx, vy, vz = np.meshgrid(*axes, indexing="ij")
        v = np.stack([vx.ravel(), vy.ravel(), vz.ravel()], axis=1)
        d2 = np.sum(((v + 0.5) * vs + hvo - c) ** 2, axis=1)
        v = v[d2 < r * r]
        out_h.append(np.full(len(v), h, dtype=np.int64))
        out_k.append((v[:, 0] * nb + v[:, 1]) * nb + v[:, 2])
    if not out_h:
        return {"hid": np.zeros(0, dtype=np.int64), "key": np.zeros(0, dtype=np.int64)}
    return {"hid": np.concatenate(out_h), "key": np.concatenate(out_k)}


POS_BITS = 24


def first_visits(vkey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first visit of each distinct `vkey` (sorted by vkey) and the number of visits."""
    n = len(vkey)
    if n >= 1 << POS_BITS or (n and int(vkey.max()) >= 1 << (62 - POS_BITS)):
        _, first, count = np.unique(vkey, return_index=True, return_counts=True)
        return first, count
    # consecutive samples mostly share a voxel: sort one entry per run (about 4x fewer) ...
    run = np.flatnonzero(np.concatenate([[True], vkey[1:] != vkey[:-1]]))
    run_len = np.diff(np.concatenate([run, [n]]))
    # ... with a plain sort of (voxel, run index) packed in an int64: faster than a stable argsort
    packed = np.sort((vkey[run] << POS_BITS) | np.arange(len(run)))
    group = packed >> POS_BITS
    start = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
    j = packed & ((1 << POS_BITS) - 1)
    return run[j[start]], np.add.reduceat(run_len[j], start) if len(start) else np.zeros(0, dtype=np.int64)


def place_rows(is_soma: np.ndarray, soma_value, values: np.ndarray) -> np.ndarray:
    """`soma_value` where `is_soma`, else `values` in order."""
    out = np.full(len(is_soma), soma_value, dtype=values.dtype)
    out[~is_soma] = values
    return out


def rasterise_neuron(
    nid: int, tree: Tree, position: np.ndarray, rotation: np.ndarray, grid: Grid, where: str
) -> tuple[Table, Table, Table]:
    """Membership, axon entries and dendrite entries of one placed neuron."""
    xyz = placed_columns(tree, position, rotation, where)
    point_hid = grid.hids_of(xyz.T)
    outside = np.flatnonzero(point_hid < 0)
    if len(outside):
        raise ValueError(f"{where}: point {int(outside[0]) + 1} lies outside the hypervoxel grid")
    member = membership(nid, tree, xyz, grid, point_hid)
    nb3 = grid.hyper_voxel_size**3

    hids = np.unique(member.cols["hid"])
    ax = segment_samples(tree, xyz, AXON, member, grid, hids, where)
    first, count = first_visits(ax["vkey"])
    vk = ax["vkey"][first]
    axon = Table(
        {
            "hid": hids[vk // nb3],
            "neuron": np.full(len(first), nid, dtype=np.int32),
            "key": (vk % nb3).astype(np.int32),
            "dist": sample_values(ax, first)[0].astype(np.int16),
            "count": count.astype(np.int32),
        }
    )

    de = segment_samples(tree, xyz, BASAL, member, grid, hids, where)
    soma_h = member.cols["hid"][member.cols["kind"] == SOMA]
    so = (
        soma_voxels(tree, xyz, soma_h, grid)
        if len(soma_h)
        else {"hid": np.zeros(0, np.int64), "key": np.zeros(0, np.int64)}
    )
    ns = len(so["hid"])
    vkey = np.concatenate([np.searchsorted(hids, so["hid"]) * nb3 + so["key"], de["vkey"]])
    first, count = first_visits(vkey)
    soma = first < ns
    dist, sec_x, sec_id = sample_values(de, first[~soma] - ns)
    vk = vkey[first]
    dend = Table(
        {
            "hid": hids[vk // nb3],
            "neuron": np.full(len(first), nid, dtype=np.int32),
            "key": (vk % nb3).astype(np.int32),
            "sec_id": place_rows(soma, SOMA_SEC, sec_id).astype(np.int16),
            "sec_x": place_rows(soma, SOMA_SEC_X, sec_x),
            "dist": place_rows(soma, 0, dist).astype(np.int16),
            "count": count.astype(np.int32),
        }
    )
    return member, axon, dend
