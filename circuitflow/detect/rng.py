"""Random draws of one hypervoxel in Snudda's order (spec detect.md §2.5, §2.6), without a per-row loop.

Per synapse row Snudda draws `rng.lognormal(mu, sigma)` then `rng.integers(1000000)` on the
hypervoxel's PCG64 generator; after all synapses, one lognormal per gap junction. Conductances are
clipped to [0.1, 10] x the mean (Snudda 3.0).

The alternating scalar draws interleave in the PCG64 stream: a normal takes one 64-bit word (ziggurat
fast path, 99 % of draws), an integer takes a 32-bit half word (PCG64 caches the upper half for the next
call), and is rejected (Lemire) with probability 2e-4. `synapse_draws` reproduces this exactly and
vectorised: it reads the raw words of a copy of the generator and precomputes, per word, the ziggurat
fast-path normal (with numpy's own tables, read once from the installed numpy by probing its generator)
and the Lemire integers of both halves. Between two rows needing a slow path (about 1.5 %), rows sit on
the stream in a fixed pattern (3 words per 2 rows), so the next slow row is found by a binary search
among the words where a row would be slow; numpy itself draws that row at its stream position, and all
fast rows are filled in one vectorised pass at the end. A self-check against plain scalar draws guards
the method; if it ever fails, the scalar loop is used.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math

import numpy as np

MAX_PARAMETER_ID = 1000000
MULT = 0x2360ED051FC65DA44385DF649FCCF645  # PCG64's 128-bit LCG multiplier
MASK128 = (1 << 128) - 1
MULT_INV = pow(MULT, -1, 1 << 128)
WORDS_PER_ROW = 1.5 + 1 / 16  # 3 words per 2 rows, and slow rows' extra words (the table grows if short)
LEMIRE_THRESHOLD = (0xFFFFFFFF - (MAX_PARAMETER_ID - 1)) % MAX_PARAMETER_ID

log = logging.getLogger(__name__)


def clip(g: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Snudda 3.0's min(max(g, 0.1 mean), 10 mean), in place."""
    np.maximum(g, 0.1 * mean, out=g)
    return np.minimum(g, 10 * mean, out=g)


def scalar_synapse_draws(rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference: Snudda's scalar draws, one (lognormal, integers) pair per row."""
    g = np.empty(len(mu), dtype=np.float64)
    pid = np.empty(len(mu), dtype=np.int64)
    for i, (m, s) in enumerate(zip(mu.tolist(), sigma.tolist())):
        g[i] = rng.lognormal(m, s)
        pid[i] = rng.integers(MAX_PARAMETER_ID)
    return g, pid


def _state_before(word: int, inc: int) -> int:
    """A PCG64 state whose next raw output is `word` (post-step state with high half 0, so no rotation)."""
    return ((word - inc) * MULT_INV) & MASK128


def _probe(bg: np.random.PCG64, gen: np.random.Generator, word: int, inc: int) -> tuple[float, bool]:
    """standard_normal() when the next raw word is `word`, and whether it used exactly that one word."""
    s0 = _state_before(word, inc)
    bg.state = {"bit_generator": "PCG64", "state": {"state": s0, "inc": inc}, "has_uint32": 0, "uinteger": 0}
    x = gen.standard_normal()
    return x, bg.state["state"]["state"] == word


@functools.lru_cache(maxsize=1)
def ziggurat_tables() -> tuple[np.ndarray, np.ndarray] | None:
    """numpy's ziggurat (wi, ki) tables for standard_normal, read by probing; None if probing fails."""
    bg = np.random.PCG64(0)
    gen = np.random.Generator(bg)
    inc = bg.state["state"]["inc"]
    bg.state = {
        "bit_generator": "PCG64",
        "state": {"state": _state_before(12345, inc), "inc": inc},
        "has_uint32": 0,
        "uinteger": 0,
    }
    if int(bg.random_raw()) != 12345:
        return None
    wi = np.zeros(256)
    ki = np.zeros(256, dtype=np.uint64)
    for idx in range(256):
        x, fast = _probe(bg, gen, (1 << 9) | idx, inc)
        if not fast:  # ki[idx] <= 1: the fast path returns 0 (rabs = 0) or never happens
            ki[idx] = 1 if _probe(bg, gen, idx, inc)[1] else 0
            continue
        wi[idx] = x
        lo, hi = 1, 1 << 52  # fast for rabs=lo; find the smallest rabs that is not fast
        if _probe(bg, gen, ((hi - 1) << 9) | idx, inc)[1]:
            ki[idx] = hi
            continue
        hi -= 1
        if idx > 1 and wi[idx - 1] > 0:  # ziggurat: ki[i] ~ 2**52 x[i-1] / x[i]; narrow the search if it brackets
            est = int(wi[idx - 1] / x * 2.0**52)
            a, b = max(lo, est - (1 << 12)), min(hi, est + (1 << 12))
            if a < b and _probe(bg, gen, (a << 9) | idx, inc)[1] and not _probe(bg, gen, (b << 9) | idx, inc)[1]:
                lo, hi = a, b
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _probe(bg, gen, (mid << 9) | idx, inc)[1]:
                lo = mid
            else:
                hi = mid
        ki[idx] = hi
    return wi, ki


def libm_exp(x: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """exp with the C library's rounding (numpy's lognormal calls libm; np.exp's SIMD code can differ by 1 ulp)."""
    out = np.empty(len(x))
    for i in range(0, len(x), block):  # blocks: a list of Python floats costs 32 bytes per value
        out[i : i + block] = np.fromiter(
            map(math.exp, x[i : i + block].tolist()), dtype=np.float64, count=len(x[i : i + block])
        )
    return out


class Words:
    """The raw 64-bit words [0, n) of a PCG64 stream (counted from a fixed state), with what every word
    yields if a normal or an integer half-word is drawn from it (independent of how draws are aligned on
    the stream), and the words where a row starting there would need numpy's slow path. Computed page by
    page, keeping 19 bytes per word."""

    PAGE = 1 << 16

    def __init__(self, state: int, inc: int, tables, n: int):
        probe = np.random.PCG64()
        probe.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0, "uinteger": 0}
        self.n = n = max(n, 4)
        self.n_val = np.empty(n)
        self.lo_val = np.empty(n, dtype=np.int32)
        self.hi_val = np.empty(n, dtype=np.int32)
        n_ok, lo_ok, hi_ok = (np.empty(n, dtype=bool) for _ in range(3))
        wi, ki = tables
        for a in range(0, n, self.PAGE):
            b = min(a + self.PAGE, n)
            raw = probe.random_raw(b - a)
            idx = (raw & np.uint64(0xFF)).astype(np.intp)
            rabs = (raw >> np.uint64(9)) & np.uint64((1 << 52) - 1)
            x = rabs.astype(np.float64) * wi[idx]
            self.n_val[a:b] = np.where((raw >> np.uint64(8)) & np.uint64(1), -x, x)
            n_ok[a:b] = rabs < ki[idx]
            lo_ok[a:b], self.lo_val[a:b] = lemire(raw & np.uint64(0xFFFFFFFF))
            hi_ok[a:b], self.hi_val[a:b] = lemire(raw >> np.uint64(32))
        # a row at word w reads its normal from w and its integer from the low half of w + 1 (no cached half)
        # or from the high half of w - 1 (cached half); it is fast if both are accepted
        bad0 = np.flatnonzero(~(n_ok[:-1] & lo_ok[1:]))
        bad1 = np.flatnonzero(~(n_ok[1:] & hi_ok[:-1])) + 1
        self.bad = [[b[b % 3 == r].tolist() for r in range(3)] for b in (bad0, bad1)]

    def next_bad(self, pos: int, cache: int) -> int:
        """Rows from word `pos` with `cache` (0/1) that stay on the fast path before the first slow one."""
        best = None
        for k, (c, offset) in enumerate(((cache, 0), (1 - cache, 2 - cache))):
            start = pos + offset  # rows of this cache state sit at start, start + 3, ... (rows k, k + 2, ...)
            lst = self.bad[c][start % 3]
            j = bisect.bisect_left(lst, start)
            if j < len(lst):
                row = 2 * ((lst[j] - start) // 3) + k
                best = row if best is None else min(best, row)
        # the last usable row must not read past the table (at most 2 words per row)
        return (
            min(best, max(0, 2 * ((self.n - 2 - pos) // 3)))
            if best is not None
            else max(0, 2 * ((self.n - 2 - pos) // 3))
        )


def lemire(u32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy's bounded integer in [0, 1e6) from a 32-bit value: (accepted without redraw, value)."""
    prod = np.asarray(u32, dtype=np.uint64) * np.uint64(MAX_PARAMETER_ID)
    ok = (prod & np.uint64(0xFFFFFFFF)) >= np.uint64(LEMIRE_THRESHOLD)
    return ok, (prod >> np.uint64(32)).astype(np.int32)


def run_positions(pos: np.ndarray, cache: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word and cache state of every row of fast runs starting at (`pos`, `cache`) with `length` rows each."""
    total = int(length.sum())
    j = np.arange(total, dtype=np.int32) - np.repeat((np.cumsum(length) - length).astype(np.int32), length)
    c0 = np.repeat(cache.astype(np.int32), length)
    odd = j % 2
    # cache 0 first: rows at +0, +2, +3, +5, ...; cache 1 first: +0, +1, +3, +4, ...
    word = np.repeat(pos.astype(np.int32), length) + 3 * (j // 2) + odd * (2 - c0)
    return word, c0 ^ odd


def fast_synapse_draws(
    rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray, tables
) -> tuple[np.ndarray, np.ndarray]:
    """Same numbers as `scalar_synapse_draws`: fast-path rows from the precomputed words, numpy for the rest.

    Between two slow rows the rows sit on the stream in a fixed pattern, so the next slow row is found by
    a search among the precomputed slow-path words; numpy draws each slow row at its stream position."""
    n = len(mu)
    g = np.empty(n, dtype=np.float64)
    pid = np.empty(n, dtype=np.int64)
    if n == 0:
        return g, pid
    bg = rng.bit_generator
    st = bg.state
    base, inc = st["state"]["state"], st["state"]["inc"]
    words = Words(base, inc, tables, int(n * WORDS_PER_ROW) + 64)
    runs = []  # (first row, rows, word, cache)
    i, pos, cache = 0, 0, st["has_uint32"]
    cur = 0  # the generator's word (its cached half always matches `cache` when cur == pos)
    while i < n:
        if i or not cache:  # a cached half pending at the start is not in the table: numpy draws row 0
            r = min(words.next_bad(pos, cache), n - i)
            if r:
                runs.append((i, r, pos, cache))
                pos += 3 * (r // 2) + (r % 2) * (2 - cache)
                cache ^= r % 2
                i += r
            if i == n:
                break
            if pos + 8 > words.n:  # table too short (many slow rows): recompute a longer one
                words = Words(base, inc, tables, 2 * words.n)
                continue
            _move(bg, rng, cur, pos, cache)
        before = bg.state["state"]["state"]
        g[i] = rng.lognormal(mu[i], sigma[i])
        pid[i] = rng.integers(MAX_PARAMETER_ID)
        st = bg.state
        cur = pos = pos + _steps_between(before, st["state"]["state"], inc)
        cache = st["has_uint32"]
        i += 1
    if runs:
        first, length, rpos, rcache = (np.array(v, dtype=np.int64) for v in zip(*runs))
        rows = (np.arange(int(length.sum())) + np.repeat(first - (np.cumsum(length) - length), length)).astype(np.int32)
        word, c = run_positions(rpos, rcache, length)
        g[rows] = libm_exp(mu[rows] + sigma[rows] * words.n_val[word])
        pid[rows] = np.where(c == 0, words.lo_val[np.minimum(word + 1, words.n - 1)], words.hi_val[word - 1])
    _move(bg, rng, cur, pos, cache)
    return g, pid


def _move(bg: np.random.PCG64, gen: np.random.Generator, cur: int, pos: int, cache: int) -> None:
    """Move the generator from word `cur` to word `pos` with `cache` (then the high half of word pos - 1)."""
    if pos == cur:
        return
    if cache:
        bg.advance(pos - 1 - cur)  # advance clears the cached half; drawing one uint32 sets it again
        gen.integers(0, 1 << 32, dtype=np.uint32)
    else:
        bg.advance(pos - cur)


def _steps_between(a: int, b: int, inc: int, limit: int = 10000) -> int:
    """Number of PCG64 steps from state a to state b (a few, after one slow-path draw)."""
    for k in range(limit):
        if a == b:
            return k
        a = (a * MULT + inc) & MASK128
    raise RuntimeError("PCG64 state not reached")


@functools.lru_cache(maxsize=1)
def fast_path_ok() -> bool:
    """Self-check of the vectorised draws against numpy's scalar draws (run once per process)."""
    tables = ziggurat_tables()
    if tables is None:
        log.warning("detect: cannot read numpy's ziggurat tables; using scalar random draws")
        return False
    mu = np.linspace(-21.5, -20.5, 3000)
    sigma = np.linspace(0.1, 1.2, 3000)
    for seed in (1, 261007997):
        a = scalar_synapse_draws(np.random.default_rng(seed), mu, sigma)
        rng = np.random.default_rng(seed)
        b = fast_synapse_draws(rng, mu, sigma, tables)
        ref = np.random.default_rng(seed)
        scalar_synapse_draws(ref, mu, sigma)
        if not (
            np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0]) and rng.standard_normal() == ref.standard_normal()
        ):
            log.warning("detect: vectorised random draws differ from numpy's scalar draws; using scalar draws")
            return False
    return True


def synapse_draws(
    rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray, mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Clipped conductance and parameter id per synapse row, identical to Snudda's alternating scalar draws."""
    if fast_path_ok():
        g, pid = fast_synapse_draws(rng, mu, sigma, ziggurat_tables())
    else:
        g, pid = scalar_synapse_draws(rng, mu, sigma)
    return clip(g, mean), pid


def gap_junction_draws(rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """One lognormal conductance per gap junction (a vectorised draw consumes the stream like scalar draws)."""
    if len(mu) == 0:
        return np.zeros(0, dtype=np.float64)
    return clip(rng.lognormal(mu, sigma), mean)
