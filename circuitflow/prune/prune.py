"""Prune merged putative synapses / gap junctions, reproducing Snudda's random draws bit for bit.

Spec prune.md §4. Rows arrive grouped by (dest, src[, channel]); a *block* is a maximal run of
equal (src, dest, channel) for synapses or (src, dest) for gap junctions. Each destination neuron
has its own PCG64 stream seeded from SeedSequence(seed).generate_state(N)[dest]; every block with
a rule draws random(3n+2) from it, in row order. Drawing one random(sum(3n+2)) per destination
gives the same numbers (§4.5), so everything else is whole-array numpy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from circuitflow.errors import CircuitflowError
from circuitflow.io.snudda import GAP_JUNCTION_CHANNEL
from circuitflow.prune.rule_table import neuron_type

log = logging.getLogger(__name__)

CLUSTER_DISTANCE = 10e-6  # metres (Snudda's cluster_distance)
CLUSTER_BATCH = 4_000_000  # max distance-matrix entries computed at once


class PruneError(CircuitflowError, ValueError):
    """Pruning cannot proceed (e.g. an expression gives values out of range)."""


@dataclass
class RuleTable:
    """Rules as arrays: sorted integer keys (pre type, post type, channel) -> parameter-set ids."""

    neuron_type: np.ndarray  # (N,) type index of each neuron
    type_names: list
    n_channels: int
    codes: np.ndarray  # sorted rule keys
    main: np.ndarray  # parameter set for each rule
    other: np.ndarray  # parameter set when population units differ, -1 if none
    f1: np.ndarray
    soft_max: np.ndarray  # NaN = not set
    mu2: np.ndarray
    a3: np.ndarray
    dist: list  # expression or None, per parameter set
    cluster: np.ndarray

    def key(self, pre_type: np.ndarray, post_type: np.ndarray, channel: np.ndarray) -> np.ndarray:
        """Integer key of (pre type, post type, channel) triples."""
        ch = np.where((channel >= 0) & (channel < self.n_channels), channel, self.n_channels)
        return (pre_type.astype(np.int64) * len(self.type_names) + post_type) * (self.n_channels + 1) + ch


def rule_table(rules: list[dict], names: np.ndarray) -> RuleTable:
    """Compile the rule list written by check_prune_config against the network's neuron names."""
    types = [neuron_type(str(n)) for n in names]
    type_names = sorted(set(types) | {r["pre"] for r in rules} | {r["post"] for r in rules})
    tindex = {t: k for k, t in enumerate(type_names)}
    n_channels = max([r["channel"] for r in rules] + [GAP_JUNCTION_CHANNEL]) + 1
    psets: list[dict] = []
    main, other, keys = [], [], []
    table = RuleTable(
        np.array([tindex[t] for t in types], dtype=np.int64),
        type_names,
        n_channels,
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0),
        np.zeros(0),
        np.zeros(0),
        np.zeros(0),
        [],
        np.zeros(0, bool),
    )
    for r in rules:
        keys.append(
            int(table.key(np.array([tindex[r["pre"]]]), np.array([tindex[r["post"]]]), np.array([r["channel"]]))[0])
        )
        psets.append(r["pruning"])
        main.append(len(psets) - 1)
        if r.get("pruning_other") is not None:
            psets.append(r["pruning_other"])
            other.append(len(psets) - 1)
        else:
            other.append(-1)
    order = np.argsort(keys)
    nan = float("nan")
    table.codes = np.asarray(keys, dtype=np.int64)[order]
    table.main = np.asarray(main, dtype=np.int64)[order]
    table.other = np.asarray(other, dtype=np.int64)[order]
    table.f1 = np.array([p["f1"] for p in psets], dtype=np.float64)
    table.soft_max = np.array([nan if p["soft_max"] is None else p["soft_max"] for p in psets], dtype=np.float64)
    table.mu2 = np.array([nan if p["mu2"] is None else p["mu2"] for p in psets], dtype=np.float64)
    table.a3 = np.array([nan if p["a3"] is None else p["a3"] for p in psets], dtype=np.float64)
    table.dist = [p["dist_pruning"] for p in psets]
    table.cluster = np.array([bool(p["cluster_pruning"]) for p in psets], dtype=bool)
    return table


def neuron_seeds(seed: int, n_neurons: int) -> np.ndarray:
    """Per-destination seeds: SeedSequence(seed).generate_state(N), uint32 (spec §4.3)."""
    return np.random.SeedSequence(seed).generate_state(n_neurons)


def block_starts(rows: np.ndarray, gap_junctions: bool) -> np.ndarray:
    """Start row of every block (run of equal src, dest and, for synapses, channel)."""
    change = (rows[1:, 0] != rows[:-1, 0]) | (rows[1:, 1] != rows[:-1, 1])
    if not gap_junctions:
        change |= rows[1:, 6] != rows[:-1, 6]
    return np.flatnonzero(np.r_[True, change])


# numpy's SeedSequence and PCG64 seeding constants (numpy/random/bit_generator.pyx, pcg64.h).
_M32, _M128 = 0xFFFFFFFF, (1 << 128) - 1
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645


def seed_sequence_words(seeds: np.ndarray) -> np.ndarray:
    """SeedSequence(s).generate_state(4, uint64) for many uint32 seeds at once, (k, 4) uint64.

    numpy's SeedSequence hash (pool of 4 words, one entropy word) in vectorised uint32 arithmetic:
    constructing one SeedSequence per destination costs more than drawing its numbers.
    """
    e = np.asarray(seeds, dtype=np.uint32)
    hc = [_INIT_A]

    def hashmix(v: np.ndarray) -> np.ndarray:
        v = v ^ np.uint32(hc[0])
        hc[0] = (hc[0] * _MULT_A) & _M32
        v = v * np.uint32(hc[0])
        return v ^ (v >> np.uint32(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
        return r ^ (r >> np.uint32(16))

    pool = [hashmix(e)] + [hashmix(np.zeros_like(e)) for _ in range(3)]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hashmix(pool[i_src]))
    hb, words = _INIT_B, []
    for i in range(8):
        v = pool[i % 4] ^ np.uint32(hb)
        hb = (hb * _MULT_B) & _M32
        v = v * np.uint32(hb)
        words.append(v ^ (v >> np.uint32(16)))
    return np.stack(
        [words[2 * j].astype(np.uint64) | (words[2 * j + 1].astype(np.uint64) << np.uint64(32)) for j in range(4)],
        axis=1,
    )


def pcg64_state(words: np.ndarray) -> dict:
    """The state dict of PCG64(SeedSequence) from its 4 seed words (pcg64_set_seed, 128-bit integers)."""
    w0, w1, w2, w3 = (int(x) for x in words)
    inc = ((((w2 << 64) | w3) << 1) | 1) & _M128
    state = (((inc + ((w0 << 64) | w1)) & _M128) * _PCG_MULT + inc) & _M128
    return {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0, "uinteger": 0}


def draw_uniforms(dest: np.ndarray, draws: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Concatenated random(sum of draws) per destination, for blocks in order (one generator per dest).

    Destination d's numbers are default_rng(seeds[d]).random(n): one PCG64 is re-seeded per
    destination with the state numpy's seeding would give it (checked against numpy in the tests).
    """
    total = int(draws.sum())
    out = np.empty(total, dtype=np.float64)
    if total == 0:
        return out
    first = np.flatnonzero(np.r_[True, dest[1:] != dest[:-1]])
    lengths = np.add.reduceat(draws, first)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    words = seed_sequence_words(seeds[dest[first]])
    bitgen = np.random.PCG64()
    gen = np.random.Generator(bitgen)
    for w, o, n in zip(words, offsets.tolist(), lengths.tolist()):
        bitgen.state = pcg64_state(w)
        gen.random(out=out[o : o + n])
    return out


def distance_probability(expr: str, d: np.ndarray, dest: np.ndarray, max_dist: np.ndarray | None) -> np.ndarray:
    """Evaluate a dist_pruning expression with numexpr, with only d (and r) in scope (P-16)."""
    import numexpr

    names, _ = numexpr.necompiler.getExprNames(expr, {})
    scope = {"d": d}
    if "r" in names:
        scope["r"] = relative_distance(expr, d, dest, max_dist)
    return np.asarray(numexpr.evaluate(expr, local_dict=scope, global_dict={}))


def expression_uses_r(expr: str) -> bool:
    """True if a dist_pruning expression reads r (relative distance)."""
    import numexpr

    return "r" in numexpr.necompiler.getExprNames(expr, {})[0]


def relative_distance(expr: str, d: np.ndarray, dest: np.ndarray, max_dist: np.ndarray | None) -> np.ndarray:
    """r = d / max_soma_distance_dend of the destination, which must lie in [0, 1]."""
    if max_dist is None:
        raise PruneError(f"dist_pruning {expr!r} uses r but the worklog has no network/neurons/max_soma_distance_dend")
    r = d / max_dist[dest].astype(np.float64)
    if len(r) and (np.nanmin(r) < 0 or np.nanmax(r) > 1 or np.isnan(r).any()):
        raise PruneError(f"dist_pruning {expr!r}: r = d / max_soma_distance_dend is outside [0, 1]")
    return r


def cluster_select(
    rows: np.ndarray, cand: np.ndarray, cand_block: np.ndarray, m: np.ndarray, voxel_size: float
) -> np.ndarray:
    """Rows kept by cluster pruning: per block, the first m candidates of argsort(-cluster size).

    `cand` are candidate row indices grouped by block (`cand_block`, ascending), `m` the number to
    keep per block (indexed by block id). Blocks with equal candidate counts are stacked, so numpy's
    default argsort runs on each block's own array exactly as in Snudda (P-29).
    """
    threshold = CLUSTER_DISTANCE / voxel_size
    first = np.flatnonzero(np.r_[True, cand_block[1:] != cand_block[:-1]])
    counts = np.diff(np.r_[first, len(cand)])
    kept = []
    for c in np.unique(counts).tolist():
        starts = first[counts == c]
        batch = max(1, CLUSTER_BATCH // (c * c))
        for s in range(0, len(starts), batch):
            idx = cand[starts[s : s + batch, None] + np.arange(c)]
            xyz = rows[idx][:, :, 2:5].astype(np.float64)
            diff = xyz[:, :, None, :] - xyz[:, None, :, :]
            dist = np.sqrt((diff * diff).sum(axis=3))
            size = (dist < threshold).sum(axis=1)
            order = np.argsort(-size, axis=1)
            keep_n = m[cand_block[starts[s : s + batch]]]
            sel = np.arange(c)[None, :] < keep_n[:, None]
            kept.append(np.take_along_axis(idx, order, axis=1)[sel])
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)


def prune_rows(
    rows: np.ndarray,
    table: RuleTable,
    seeds: np.ndarray,
    population_unit: np.ndarray,
    gap_junctions: bool,
    share_parameter_id: bool = True,
    voxel_size: float = 3e-6,
    max_soma_distance: np.ndarray | None = None,
    stats: dict | None = None,
) -> np.ndarray:
    """Boolean keep-mask of `rows` (grouped by dest, src[, channel]); rewrites col 12 of kept rows when sharing ids."""
    n = len(rows)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    starts = block_starts(rows, gap_junctions)
    nb = len(starts)
    blen = np.diff(np.r_[starts, n])
    bsrc = rows[starts, 0].astype(np.int64)
    bdst = rows[starts, 1].astype(np.int64)
    channel = np.full(nb, GAP_JUNCTION_CHANNEL, np.int64) if gap_junctions else rows[starts, 6].astype(np.int64)
    code = table.key(table.neuron_type[bsrc], table.neuron_type[bdst], channel)
    pos = np.clip(np.searchsorted(table.codes, code), 0, max(len(table.codes) - 1, 0))
    covered = (table.codes[pos] == code) if len(table.codes) else np.zeros(nb, bool)
    other = table.other[pos] if len(table.codes) else np.full(nb, -1)
    use_other = covered & (other >= 0) & (population_unit[bsrc] != population_unit[bdst])
    pset = np.where(covered, np.where(use_other, other, table.main[pos] if len(table.codes) else -1), -1)
    if stats is not None:
        lost = ~covered
        if lost.any():
            for c, cnt in zip(*np.unique(code[lost], return_counts=True)):
                stats[int(c)] = stats.get(int(c), 0) + int(blen[lost][code[lost] == c].sum())
    cov = np.flatnonzero(covered)
    if len(cov) == 0:
        return keep
    draws = np.zeros(nb, dtype=np.int64)
    draws[cov] = 3 * blen[cov] + 2
    boff = np.cumsum(draws) - draws
    U = draw_uniforms(bdst[cov], draws[cov], seeds)

    # a3 first: rows of blocks it drops take no further part. Row r of block b (k-th row of n)
    # has its draws at boff[b] + k (f1), + n (distance), + 2n (soft_max); u(a3) at 3n + 1, u(mu2) at 3n.
    alive = covered.copy()
    a3 = np.full(nb, np.nan)
    a3[cov] = table.a3[pset[cov]]
    u_a = np.zeros(nb)
    u_a[cov] = U[boff[cov] + 3 * blen[cov] + 1]
    alive &= ~(~np.isnan(a3) & (u_a > a3))
    bi = np.repeat(np.arange(nb, dtype=np.int32), blen)
    arow = np.flatnonzero(alive[bi])  # rows of alive blocks; the arrays below are over these
    rb = bi[arow]
    ui = arow + (boff - starts)[rb]  # index of each row's f1 draw
    ps = pset[rb]
    K = U[ui] < table.f1[ps]

    # Distance-dependent pruning only where it can change the result: rows f1 kept, and every row
    # of a cluster-pruning block (its candidates are the rows passing the distance draw).
    has_dist = np.array([x is not None for x in table.dist], dtype=bool)
    dist_used = np.zeros(nb, dtype=bool)
    dist_used[alive] = has_dist[pset[alive]]
    need = K | table.cluster[ps]
    D = np.ones(len(arow), dtype=bool)
    for e in sorted({x for x in table.dist if x is not None}):
        in_set = np.array([x == e for x in table.dist], dtype=bool)[ps]
        if expression_uses_r(e) and in_set.any():  # out-of-range r is an error on any row reaching the draw
            rs = np.flatnonzero(in_set)
            relative_distance(e, rows[arow[rs], 8] * 1e-6, rows[arow[rs], 1].astype(np.int64), max_soma_distance)
        sel = np.flatnonzero(need & in_set)
        if len(sel) == 0:
            continue
        r_sel = arow[sel]
        p = distance_probability(e, rows[r_sel, 8] * 1e-6, rows[r_sel, 1].astype(np.int64), max_soma_distance)
        D[sel] = U[ui[sel] + blen[rb[sel]]] < p
    K &= D
    m = np.bincount(rb[K], minlength=nb)

    S = np.full(nb, np.nan)
    S[cov] = table.soft_max[pset[cov]]
    soft = alive & ~np.isnan(S) & (m > S)
    if soft.any():
        P = np.zeros(nb)
        P[soft] = np.divide(2 * S[soft], (1 + np.exp(-(m[soft] - S[soft]) / 5)) * m[soft])
        rsel = np.flatnonzero(K & soft[rb])
        K[rsel] = P[rb[rsel]] > U[ui[rsel] + 2 * blen[rb[rsel]]]
        m = np.bincount(rb[K], minlength=nb)

    MU = np.full(nb, np.nan)
    MU[cov] = table.mu2[pset[cov]]
    mu_set = alive & ~np.isnan(MU)
    if mu_set.any():
        b = np.flatnonzero(mu_set)
        p_mu = 1.0 / (1.0 + np.exp(-8.0 / MU[b] * (m[b] - MU[b])))
        alive[b[p_mu < U[boff[b] + 3 * blen[b]]]] = False
        K &= alive[rb]

    clus = np.zeros(nb, dtype=bool)
    clus[cov] = table.cluster[pset[cov]]
    clus &= alive & (m > 0)
    if clus.any():
        in_c = clus[rb]
        cand = np.flatnonzero(in_c & np.where(dist_used[rb], D, True))
        chosen = cluster_select(rows, arow[cand], rb[cand], m, voxel_size)
        K[in_c] = False
        K[np.searchsorted(arow, chosen)] = True
    kept = arow[K]
    keep[kept] = True
    if not gap_junctions and share_parameter_id:
        rows[kept, 12] = rows[starts[bi[kept]], 12]
    return keep
