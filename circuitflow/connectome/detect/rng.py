"""Random draws of one hypervoxel in Snudda's order (spec detect.md §2.5, §2.6), without a per-row loop.

Per synapse row Snudda draws `rng.lognormal(mu, sigma)` then `rng.integers(1000000)` on the
hypervoxel's PCG64 generator; after all synapses, one lognormal per gap junction. Conductances are
clipped to [0.1, 10] x the mean (Snudda 3.0).

The alternating scalar draws interleave in the PCG64 stream: a normal takes one 64-bit word (ziggurat
fast path, 99 % of draws), an integer takes a 32-bit half word (PCG64 caches the upper half for the next
call), and is rejected (Lemire) with probability 2e-4. `synapse_draws` reproduces this exactly and
vectorised: it reads the raw words of a copy of the generator and precomputes, per word, the ziggurat
fast-path normal (with numpy's own tables, read once from the installed numpy by probing its generator)
and the Lemire integers of both halves; rows are then mapped onto words block by block, every row up
to the first one needing a slow path (about 1.5 %) is accepted, and numpy itself draws that row at the
same stream position. A self-check against plain scalar draws guards the method; if it ever fails,
the scalar loop is used.
"""

from __future__ import annotations

import functools
import logging
import math

import numpy as np

MAX_PARAMETER_ID = 1000000
MULT = 0x2360ED051FC65DA44385DF649FCCF645  # PCG64's 128-bit LCG multiplier
MASK128 = (1 << 128) - 1
BLOCK = 512  # rows evaluated per vectorised attempt (a slow path occurs about every 70 rows)
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
    return ((word - inc) * pow(MULT, -1, 1 << 128)) & MASK128


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
    bg.state = {"bit_generator": "PCG64", "state": {"state": _state_before(12345, inc), "inc": inc},
                "has_uint32": 0, "uinteger": 0}
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
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _probe(bg, gen, (mid << 9) | idx, inc)[1]:
                lo = mid
            else:
                hi = mid
        ki[idx] = hi
    return wi, ki


def libm_exp(x: np.ndarray) -> np.ndarray:
    """exp with the C library's rounding (numpy's lognormal calls libm; np.exp's SIMD code can differ by 1 ulp)."""
    return np.fromiter(map(math.exp, x.tolist()), dtype=np.float64, count=len(x))


class Words:
    """A window of the raw 64-bit words of a PCG64 stream (counted from a fixed state), with what every word
    yields if a normal or an integer half-word is drawn from it (independent of how draws are aligned on
    the stream). Only the current window is kept, so memory does not grow with the number of rows."""

    PAGE = 1 << 16

    def __init__(self, state: int, inc: int, tables):
        self.state, self.inc, self.tables = state, inc, tables
        self.w0 = self.w1 = 0

    def ensure(self, pos: int, n: int) -> None:
        """Make words [pos, pos + n) available."""
        if self.w0 <= pos and pos + n <= self.w1:
            return
        probe = np.random.PCG64()
        probe.state = {"bit_generator": "PCG64", "state": {"state": self.state, "inc": self.inc},
                       "has_uint32": 0, "uinteger": 0}
        probe.advance(pos)
        raw = probe.random_raw(max(n, self.PAGE))
        wi, ki = self.tables
        idx = (raw & np.uint64(0xFF)).astype(np.intp)
        rabs = (raw >> np.uint64(9)) & np.uint64((1 << 52) - 1)
        x = rabs.astype(np.float64) * wi[idx]
        self.n_val = np.where((raw >> np.uint64(8)) & np.uint64(1), -x, x)
        self.n_ok = rabs < ki[idx]
        self.hi_u32 = (raw >> np.uint64(32)).astype(np.uint32)
        self.lo_ok, self.lo_val = lemire(raw & np.uint64(0xFFFFFFFF))
        self.hi_ok, self.hi_val = lemire(self.hi_u32)
        self.w0, self.w1 = pos, pos + len(raw)


def lemire(u32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy's bounded integer in [0, 1e6) from a 32-bit value: (accepted without redraw, value)."""
    prod = np.asarray(u32, dtype=np.uint64) * np.uint64(MAX_PARAMETER_ID)
    ok = (prod & np.uint64(0xFFFFFFFF)) >= np.uint64(LEMIRE_THRESHOLD)
    return ok, (prod >> np.uint64(32)).astype(np.int32)


def fast_synapse_draws(rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray,
                       tables) -> tuple[np.ndarray, np.ndarray]:
    """Same numbers as `scalar_synapse_draws`: fast-path rows from the precomputed words, numpy for the rest."""
    bg = rng.bit_generator
    st = bg.state
    base, inc = st["state"]["state"], st["state"]["inc"]
    cache, cached = st["has_uint32"], st["uinteger"]
    words = Words(base, inc, tables)
    n = len(mu)
    g = np.empty(n, dtype=np.float64)
    pid = np.empty(n, dtype=np.int64)
    i, pos = 0, 0
    while i < n:
        m = min(n - i, BLOCK)
        words.ensure(pos, 2 * m + 2)
        use_cache = (np.arange(m) + cache) % 2 == 1
        step = 2 - use_cache
        start = pos - words.w0 + np.cumsum(step) - step  # word index within the window
        ipos = start + 1  # own integer word of rows that do not read the cache
        prev = np.concatenate([[0], ipos[:-1]])  # rows reading the cache: high half of the previous row's word
        ok = words.n_ok[start] & np.where(use_cache, words.hi_ok[prev], words.lo_ok[ipos])
        val = np.where(use_cache, words.hi_val[prev], words.lo_val[ipos])
        if cache:
            c_ok, c_val = lemire(np.array([cached]))
            ok[0], val[0] = words.n_ok[start[0]] & c_ok[0], c_val[0]
        j = m if ok.all() else int(np.argmin(ok))
        g[i:i + j] = libm_exp(mu[i:i + j] + sigma[i:i + j] * words.n_val[start[:j]])
        pid[i:i + j] = val[:j]
        if j:
            pos = words.w0 + int(start[j - 1] + step[j - 1])
            if use_cache[j - 1]:
                cache, cached = 0, 0
            else:
                cache, cached = 1, int(words.hi_u32[ipos[j - 1]])
        i += j
        if i < n and j < m:  # row i needs a slow path: numpy draws it at the same stream position
            before = _position(bg, base, inc, pos, cache, cached)
            g[i] = rng.lognormal(mu[i], sigma[i])
            pid[i] = rng.integers(MAX_PARAMETER_ID)
            st = bg.state
            pos += _steps_between(before, st["state"]["state"], inc)
            cache, cached = st["has_uint32"], st["uinteger"]
            i += 1
    _position(bg, base, inc, pos, cache, cached)
    return g, pid


def _position(bg: np.random.PCG64, base: int, inc: int, pos: int, cache: int, cached: int) -> int:
    """Put `bg` `pos` words after `base` with the given 32-bit cache; return its 128-bit state."""
    bg.state = {"bit_generator": "PCG64", "state": {"state": base, "inc": inc}, "has_uint32": 0, "uinteger": 0}
    bg.advance(pos)
    st = bg.state
    st["has_uint32"], st["uinteger"] = cache, cached
    bg.state = st
    return st["state"]["state"]


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
        if not (np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0])
                and rng.standard_normal() == ref.standard_normal()):
            log.warning("detect: vectorised random draws differ from numpy's scalar draws; using scalar draws")
            return False
    return True


def synapse_draws(rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray,
                  mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
