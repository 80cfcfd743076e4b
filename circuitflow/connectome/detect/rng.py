"""Random draws of one hypervoxel in Snudda's order (spec detect.md §2.5, §2.6), without a per-row loop.

Per synapse row Snudda draws `rng.lognormal(mu, sigma)` then `rng.integers(1000000)` on the
hypervoxel's PCG64 generator; after all synapses, one lognormal per gap junction. Conductances are
clipped to [0.1, 10] x the mean (Snudda 3.0).

The alternating scalar draws interleave in the PCG64 stream: a normal takes one 64-bit word (ziggurat
fast path, 99 % of draws), an integer takes a 32-bit half word (PCG64 caches the upper half for the next
call), and is rejected (Lemire) with probability 2e-4. `synapse_draws` reproduces this exactly and
vectorised: it reads the raw words of a copy of the generator, evaluates the ziggurat fast path with
numpy's own tables (read once from the installed numpy by probing its generator) and the Lemire
multiply, accepts every row up to the first one that needs a slow path, advances the real generator
past them, and lets numpy itself draw that one row. A self-check against plain scalar draws guards the
method; if it ever fails, the scalar loop is used.
"""

from __future__ import annotations

import functools
import logging
import math

import numpy as np

MAX_PARAMETER_ID = 1000000
MULT = 0x2360ED051FC65DA44385DF649FCCF645  # PCG64's 128-bit LCG multiplier
MASK128 = (1 << 128) - 1
BLOCK = 128  # rows evaluated per vectorised attempt (a slow path occurs about every 140 rows)
LEMIRE_THRESHOLD = (0xFFFFFFFF - (MAX_PARAMETER_ID - 1)) % MAX_PARAMETER_ID

log = logging.getLogger(__name__)


def clip(g: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Snudda 3.0's min(max(g, 0.1 mean), 10 mean)."""
    return np.minimum(np.maximum(g, 0.1 * mean), 10 * mean)


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


def _block(raw: np.ndarray, has32: int, cached: int, mu: np.ndarray, sigma: np.ndarray, tables) -> tuple:
    """Fast-path draws for rows of a block; returns (g, pid, n_ok, words_used, has32_after, cached_after)."""
    wi, ki = tables
    m = len(mu)
    r = np.arange(m)
    use_cache = (r + has32) % 2 == 1
    words = 1 + (~use_cache).astype(np.int64)
    start = np.cumsum(words) - words
    n_word = raw[start]
    own_int = start + 1
    # a row reading the cache takes the high half of the previous row's integer word (or the carried cache)
    int_word = np.where(use_cache, np.concatenate([[-1], own_int[:-1]]), own_int)
    lowhalf = raw[np.maximum(int_word, 0)] & np.uint64(0xFFFFFFFF)
    highhalf = raw[np.maximum(int_word, 0)] >> np.uint64(32)
    u32 = np.where(use_cache, highhalf, lowhalf)
    if has32 and m:
        u32[0] = cached
    idx = (n_word & np.uint64(0xFF)).astype(np.int64)
    sign = (n_word >> np.uint64(8)) & np.uint64(1)
    rabs = (n_word >> np.uint64(9)) & np.uint64((1 << 52) - 1)
    x = rabs.astype(np.float64) * wi[idx]
    x = np.where(sign == 1, -x, x)
    fast = rabs < ki[idx]
    prod = u32.astype(np.uint64) * np.uint64(MAX_PARAMETER_ID)
    leftover = prod & np.uint64(0xFFFFFFFF)
    ok = fast & (leftover >= np.uint64(LEMIRE_THRESHOLD))
    n_ok = int(np.argmin(ok)) if not ok.all() else m
    g = libm_exp(mu[:n_ok] + sigma[:n_ok] * x[:n_ok])
    pid = (prod[:n_ok] >> np.uint64(32)).astype(np.int64)
    if n_ok == 0:
        return g, pid, 0, 0, has32, cached
    last = n_ok - 1
    used = int(start[last] + words[last])
    if use_cache[last]:
        return g, pid, n_ok, used, 0, 0
    return g, pid, n_ok, used, 1, int(highhalf[last])


def fast_synapse_draws(rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray,
                       tables) -> tuple[np.ndarray, np.ndarray]:
    """Same numbers as `scalar_synapse_draws`, vectorised block by block (see module docstring)."""
    bg = rng.bit_generator
    n = len(mu)
    g = np.empty(n, dtype=np.float64)
    pid = np.empty(n, dtype=np.int64)
    i = 0
    probe = np.random.PCG64()
    while i < n:
        st = bg.state
        m = min(n - i, BLOCK)
        probe.state = st
        raw = probe.random_raw(2 * m + 2)
        gb, pb, k, used, has32, cached = _block(raw, st["has_uint32"], st["uinteger"], mu[i:i + m],
                                                sigma[i:i + m], tables)
        g[i:i + k], pid[i:i + k] = gb, pb
        if k:
            bg.advance(used)
            st = bg.state
            st["has_uint32"], st["uinteger"] = has32, cached
            bg.state = st
        i += k
        if i < n and k < m:  # row i needs a slow path: let numpy draw it
            g[i] = rng.lognormal(mu[i], sigma[i])
            pid[i] = rng.integers(MAX_PARAMETER_ID)
            i += 1
    return g, pid


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
