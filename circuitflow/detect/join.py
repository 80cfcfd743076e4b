"""Per-hypervoxel sparse join: putative synapses and gap junctions of one hypervoxel (spec detect.md §2.4-2.7).

Input: the hypervoxel's axon and dendrite entries in ascending neuron id (one per neuron and voxel).
Steps: cap each voxel's slots (45 axon / 20 dendrite), axon x dendrite product per voxel in C order,
expansion by connection type, random draws in Snudda's order, gap-junction pairs, stable sort,
global voxel offset, lookup tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuitflow.detect.connectivity import Rules
from circuitflow.detect.rasterise import Table
from circuitflow.detect.rng import gap_junction_draws, synapse_draws
from circuitflow.io.snudda import GAP_JUNCTION_CHANNEL

MAX_AXON = 45
MAX_DEND = 20


@dataclass(frozen=True)
class HypervoxelResult:
    """Rows, lookups and counters of one hypervoxel."""

    hid: int
    synapses: np.ndarray  # (n,13) int32
    gap_junctions: np.ndarray  # (m,11) int32
    synapse_lookup: np.ndarray  # (k,3) int64
    gap_junction_lookup: np.ndarray  # (l,3) int64
    overflow: int
    max_axon: int
    max_dend: int


def cap_slots(t: Table, cap: int) -> tuple[Table, int, int]:
    """Keep the first `cap` neurons of each voxel (entries sorted by voxel, then neuron); overflow and max occupancy."""
    # (voxel, neuron) pairs are unique: one packed key orders them as a lexsort would; the raster files
    # of one chunk come in this order already
    packed = (t.cols["key"].astype(np.int64) << 32) | t.cols["neuron"].astype(np.int64)
    if np.any(packed[1:] <= packed[:-1]):
        t = t.take(np.argsort(packed))
    key = t.cols["key"]
    if len(key) == 0:
        return t, 0, 0
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    group_len = np.diff(np.concatenate([starts, [len(key)]]))
    rank = np.arange(len(key)) - np.repeat(starts, group_len)
    keep = rank < cap
    overflow = int(t.cols["count"][~keep].sum())
    return t.take(np.flatnonzero(keep)), overflow, int(min(group_len.max(), cap))


def group_bounds(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique sorted keys with their start and length in `key` (sorted)."""
    if len(key) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    return key[starts], starts, np.diff(np.concatenate([starts, [len(key)]]))


def intersect_sorted(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Common values of two sorted unique arrays and their indices in each (as np.intersect1d gives)."""
    pos = np.searchsorted(b, a)
    ia = np.flatnonzero(b[np.minimum(pos, len(b) - 1)] == a) if len(b) else np.zeros(0, dtype=np.int64)
    return a[ia], ia, pos[ia]


def voxel_xyz(key: np.ndarray, nb: int) -> np.ndarray:
    """(n,3) local voxel coordinates of C-order keys."""
    return np.stack([key // (nb * nb), (key // nb) % nb, key % nb], axis=1)


def synapse_rows(
    axon: Table, dend: Table, ntype: np.ndarray, rules: Rules, rng: np.random.Generator, hid: int, nb: int
) -> np.ndarray:
    """Putative synapse rows in detection order (voxel C order, axon slot, dendrite slot, con type)."""
    ak, a_start, a_len = group_bounds(axon.cols["key"])
    dk, d_start, d_len = group_bounds(dend.cols["key"])
    common, ia, id_ = intersect_sorted(ak, dk)
    na, nd = a_len[ia], d_len[id_]
    npair = na * nd
    total = int(npair.sum())
    if total == 0:
        return np.zeros((0, 13), dtype=np.int32)
    # int32 indices: a hypervoxel holds far fewer than 2**31 pairs
    npair, nd = npair.astype(np.int32), nd.astype(np.int32)
    g = np.repeat(np.arange(len(common), dtype=np.int32), npair)
    within = np.arange(total, dtype=np.int32) - np.repeat((np.cumsum(npair) - npair).astype(np.int32), npair)
    ai = a_start[ia].astype(np.int32)[g] + within // nd[g]
    di = d_start[id_].astype(np.int32)[g] + within % nd[g]
    del within
    pre, post = axon.cols["neuron"][ai], dend.cols["neuron"][di]
    keep = pre != post
    ai, di, g = ai[keep], di[keep], g[keep]
    tp, tq = ntype[pre[keep]], ntype[post[keep]]
    del pre, post, keep
    cnt = rules.syn_count[tp, tq]
    if np.all(cnt == 1):  # one connection type per pair: no expansion
        entry = rules.syn_start[tp, tq]
    else:
        rep = np.repeat(np.arange(len(ai), dtype=np.int32), cnt)
        entry = np.repeat(rules.syn_start[tp, tq] - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) + np.arange(
            cnt.sum()
        )
        ai, di, g = ai[rep], di[rep], g[rep]
        del rep
    del tp, tq, cnt
    entry = entry.astype(np.int32)
    cond, pid = synapse_draws(rng, rules.syn_mu[entry], rules.syn_sigma[entry], rules.syn_mean[entry])
    # int32 columns; float columns truncate toward zero as Snudda's float64 -> int32 row conversion
    rows = np.empty((len(ai), 13), dtype=np.int32)
    rows[:, 0] = axon.cols["neuron"][ai]
    rows[:, 1] = dend.cols["neuron"][di]
    key = common[g]
    rows[:, 2], rows[:, 3], rows[:, 4] = key // (nb * nb), (key // nb) % nb, key % nb
    del key
    rows[:, 5] = hid
    rows[:, 6] = rules.syn_channel[entry]
    rows[:, 7] = axon.cols["dist"][ai].astype(np.int16)
    rows[:, 8] = dend.cols["dist"][di].astype(np.int16)
    rows[:, 9] = dend.cols["sec_id"][di].astype(np.int16)
    rows[:, 10] = (dend.cols["sec_x"][di] * 1000).astype(np.int32)
    rows[:, 11] = (cond * 1e12).astype(np.int32)
    rows[:, 12] = pid
    return rows


def gap_junction_rows(
    dend: Table, ntype: np.ndarray, rules: Rules, rng: np.random.Generator, hid: int, nb: int
) -> np.ndarray:
    """Gap-junction rows: every dendrite/soma slot pair i < j of each voxel, in voxel C order."""
    dk, d_start, d_len = group_bounds(dend.cols["key"])
    multi = d_len >= 2
    dk, d_start, d_len = dk[multi], d_start[multi], d_len[multi]
    if not rules.gj.any() or len(dk) == 0:
        return np.zeros((0, 11), dtype=np.int32)
    # all (i, j) i < j pairs of each group, in itertools.combinations order
    maxlen = int(d_len.max())
    ii, jj = np.triu_indices(maxlen, k=1)  # row-major: (0,1),(0,2),...,(1,2),...
    ok = jj[None, :] < d_len[:, None]
    grp = np.repeat(np.arange(len(dk)), ok.sum(axis=1))
    i = (d_start[:, None] + ii[None, :])[ok]
    j = (d_start[:, None] + jj[None, :])[ok]
    n1, n2 = dend.cols["neuron"][i], dend.cols["neuron"][j]
    t1, t2 = ntype[n1], ntype[n2]
    keep = rules.gj[t1, t2]
    i, j, grp, t1, t2 = i[keep], j[keep], grp[keep], t1[keep], t2[keep]
    cond = gap_junction_draws(rng, rules.gj_mu[t1, t2], rules.gj_sigma[t1, t2], rules.gj_mean[t1, t2])
    rows = np.zeros((len(i), 11), dtype=np.float64)
    rows[:, 0] = dend.cols["neuron"][i]
    rows[:, 1] = dend.cols["neuron"][j]
    rows[:, 2] = dend.cols["sec_id"][i].astype(np.int16)
    rows[:, 3] = dend.cols["sec_id"][j].astype(np.int16)
    rows[:, 4] = dend.cols["sec_x"][i] * 1000
    rows[:, 5] = dend.cols["sec_x"][j] * 1000
    rows[:, 6:9] = voxel_xyz(dk[grp], nb)
    rows[:, 9] = hid
    rows[:, 10] = cond * 1e12
    return rows.astype(np.int32)


def lookup(src: np.ndarray, dest: np.ndarray, channel: np.ndarray, n_neurons: int, max_channel: int) -> np.ndarray:
    """[(dest*N + src)*T + type of first row, start, end) per run of equal (src, dest)."""
    if len(src) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    change = np.concatenate([[True], (src[1:] != src[:-1]) | (dest[1:] != dest[:-1])])
    start = np.flatnonzero(change)
    end = np.concatenate([start[1:], [len(src)]])
    uid = (dest[start].astype(np.int64) * n_neurons + src[start]) * max_channel + channel[start]
    return np.stack([uid, start, end], axis=1).astype(np.int64)


def row_order(dest: np.ndarray, src: np.ndarray, channel: np.ndarray, n_neurons: int, n_channels: int) -> np.ndarray:
    """Stable order of rows by (dest, src, channel): one plain sort of a packed key with the row number in
    its low bits (unique, so the fast sort is stable) when it fits in int64."""
    n = len(dest)
    if n_neurons * n_neurons * (n_channels + 1) * n >= 1 << 62 or np.any(channel < 0) or np.any(channel > n_channels):
        return np.lexsort((channel, src, dest))
    key = dest.astype(np.int64)  # in place from here: a hypervoxel's rows are the largest arrays of the step
    key *= n_neurons
    key += src
    key *= n_channels + 1
    key += channel
    key *= n
    key += np.arange(n)
    key.sort()
    key %= n
    return key


def join_hypervoxel(
    hid: int, axon: Table, dend: Table, ntype: np.ndarray, rules: Rules, seed: int, offset: np.ndarray, nb: int
) -> HypervoxelResult:
    """Detect one hypervoxel: `offset` is the hypervoxel's first global voxel index (3,)."""
    axon, ov_a, max_a = cap_slots(axon, MAX_AXON)
    dend, ov_d, max_d = cap_slots(dend, MAX_DEND)
    rng = np.random.default_rng(seed)
    syn = synapse_rows(axon, dend, ntype, rules, rng, hid, nb)
    gj = gap_junction_rows(dend, ntype, rules, rng, hid, nb)
    if len(syn):
        syn = syn[row_order(syn[:, 1], syn[:, 0], syn[:, 6], len(ntype), rules.max_channel)]
    gj = gj[np.lexsort((gj[:, 0], gj[:, 1]))]
    syn[:, 2:5] += offset.astype(np.int32)
    gj[:, 6:9] += offset.astype(np.int32)
    n = len(ntype)
    T = rules.max_channel
    syn_lookup = lookup(syn[:, 0], syn[:, 1], syn[:, 6], n, T)
    gj_lookup = lookup(gj[:, 0], gj[:, 1], np.full(len(gj), GAP_JUNCTION_CHANNEL), n, T)
    return HypervoxelResult(
        hid=hid,
        synapses=syn,
        gap_junctions=gj,
        synapse_lookup=syn_lookup,
        gap_junction_lookup=gj_lookup,
        overflow=ov_a + ov_d,
        max_axon=max_a,
        max_dend=max_d,
    )
