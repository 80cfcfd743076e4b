"""Compiled (numba) arithmetic of NeuroTS 3.7's per-point section growth, bit for bit (spec/neurots-numerics.md).

Every function here reproduces one NeuroTS/numpy computation in the same floating-point order:
- `norm3`: `np.linalg.norm` / `neurots.morphmath.utils.norm` of a 3-vector, which OpenBLAS' ddot
  computes as a forward FMA chain;
- `history`: `np.dot(WEIGHTS[MEMORY - k:], latest_directions)`, OpenBLAS' dgemv_n on a 3 x k
  column-major matrix: pairs of columns as `fma(a, x, b * y)`, added to a zero accumulator, and an
  odd fifth column as one more FMA;
- random draws come from raw PCG64 words drawn in advance with `BitGenerator.random_raw` (the same
  stream the Generator would read): `next_double` is numpy's `(word >> 11) * 2**-53`, `uniform` is
  `low + range * next_double`, `standard_normal` is numpy's ziggurat (tables from numba's copy of
  numpy's); of `get_random_point`'s trigonometry, the arccos is computed by numpy itself on the drawn
  words (`engine.RandomWords`), since numpy's arccos (SVML) differs from the C library's, and the sines
  and cosines here (`random_point`): numpy 1.26 computes float64 sin and cos with the C library, as
  numba does (`engine.trig_check` compares them once per process);
- `exp_less`: `rng.random() < np.exp(-x)`, decided with the C library's exp when the draw is more
  than 16 ulp away from it and with numpy's own exp (object mode) otherwise.
The driver (engine.py) keeps NeuroTS' Python objects for the tree structure and per-section decisions;
`run` advances every active section of a neuron, in NeuroTS' order, until a section bifurcates or
terminates, a neurite ends, or the buffers need refilling. Before each step it re-picks the section's
stop bars another section used, as TMDAlgo.extend does (`curate`: Barcode's min_bif, min_term and
curate_stop_criterion on the barcode as arrays, searched in its OrderedDicts' order).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, objmode, types
from numba.extending import intrinsic
from numba.np.random._constants import fi_double, ki_double, wi_double, ziggurat_nor_inv_r, ziggurat_nor_r

MEMORY = 5
DISTANCE_MIN = 1e-8
WEIGHTS = np.exp(np.arange(1, MEMORY + 1) - MEMORY)  # neurots.generate.section.WEIGHTS
TO_DOUBLE = 1.0 / 9007199254740992.0
TWO_PI = 2.0 * np.pi
EXP_MARGIN_ULP = 16

# run() return codes (BROKEN: a stop criterion NeuroTS' Barcode.curate_stop_criterion rejects)
DONE, BIFURCATE, TERMINATE, NEURITE_END, BROKEN, NEED_WORDS, NEED_POOL = range(7)
# step() results
CONTINUE = 0

# ctl (int64 array) fields
IN_ROUND, OUTER_N, OUTER_POS, ROUND_N, ROUND_POS, POOL_N, WORD_POS, N_WORDS = range(8)
N_NEURITES, PEND_OTHERS, PEND_CHILDREN, EVENT_SLOT, OVERFLOW, N_CTL = range(8, 14)
# per-slot floats
F_DIR, F_PATH, F_BIF, F_TERM, F_REF, F_LAST, N_SLOT_F = 0, 3, 4, 5, 6, 7, 10
# per-slot ints
I_TREE, I_NLAT, I_BIF_ID, I_TERM_ID, I_HEAD, I_TAIL, I_NPTS, I_SKIP, N_SLOT_I = range(9)
# bars[t, B_BIF | B_TERM, bar]: a tree's rounded bar values; order[t, B_BIF | B_TERM, k]: the bar ids in the
# order of its Barcode's bifs and terms OrderedDicts (-1 after the last)
B_BIF, B_TERM = 0, 1
# per-tree floats
T_TARGETING, T_HISTORY, T_RANDOMNESS, T_SCALE_PROB, T_LOC, T_SCALE, T_RADIAL, N_TREE_F = range(8)

WORDS_PER_STEP = 64  # words a step may need; a step beyond the buffer is flagged (OVERFLOW), never wrong


@intrinsic
def fma(typingctx, a, b, c):
    """Fused multiply-add a * b + c with one rounding (llvm.fma.f64)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        dbl = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [dbl], ir.FunctionType(dbl, [dbl, dbl, dbl]))
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, error_model="numpy")
def norm3(x0, x1, x2):
    """np.linalg.norm of (x0, x1, x2) as numpy's BLAS ddot computes it."""
    return math.sqrt(fma(x2, x2, fma(x1, x1, x0 * x0)))


@njit(cache=True, error_model="numpy")
def history_component(latest, nlat, c):
    """Component c of np.dot(WEIGHTS[MEMORY - nlat:], latest[:nlat]) as OpenBLAS' dgemv_n computes it."""
    w0 = MEMORY - nlat
    if nlat < 4:
        acc = 0.0
        for i in range(nlat):
            acc = fma(latest[i, c], WEIGHTS[w0 + i], acc)
        return acc + 0.0
    acc = 0.0
    acc += fma(latest[0, c], WEIGHTS[w0], latest[1, c] * WEIGHTS[w0 + 1])
    acc += fma(latest[2, c], WEIGHTS[w0 + 2], latest[3, c] * WEIGHTS[w0 + 3])
    if nlat == 5:
        acc = fma(latest[4, c], WEIGHTS[w0 + 4], acc)
    return acc + 0.0


@njit(cache=True, error_model="numpy")
def history(latest, nlat, out):
    """SectionGrower.history(): the normalised weighted sum of the last directions, into out."""
    if nlat == 0:
        out[0] = 0.0
        out[1] = 0.0
        out[2] = 0.0
        return
    for c in range(3):
        out[c] = history_component(latest, nlat, c)
    distance = norm3(out[0], out[1], out[2])
    if distance > DISTANCE_MIN:
        for c in range(3):
            out[c] = out[c] / distance


@njit(cache=True, error_model="numpy")
def _word(words, ctl):
    """The next raw PCG64 word (flags OVERFLOW past the buffer: the driver then abandons the attempt)."""
    pos = ctl[WORD_POS]
    if pos >= ctl[N_WORDS]:
        ctl[OVERFLOW] = 1
        return np.uint64(0)
    ctl[WORD_POS] = pos + 1
    return words[pos]


@njit(cache=True, error_model="numpy")
def next_double(words, ctl):
    """Generator.random(): numpy's next_double of the next word."""
    return np.float64(_word(words, ctl) >> np.uint64(11)) * TO_DOUBLE


@njit(cache=True, error_model="numpy")
def standard_normal(words, ctl):
    """Generator.standard_normal(): numpy's ziggurat (random_standard_normal) on the raw words."""
    while True:
        r = _word(words, ctl)
        idx = r & np.uint64(0xFF)
        r >>= np.uint64(8)
        sign = r & np.uint64(0x1)
        rabs = (r >> np.uint64(1)) & np.uint64(0x000FFFFFFFFFFFFF)
        x = np.float64(rabs) * wi_double[idx]
        if sign & np.uint64(0x1):
            x = -x
        if rabs < ki_double[idx]:
            return x
        if ctl[OVERFLOW]:
            return 1.0
        if idx == 0:
            while True:
                xx = -ziggurat_nor_inv_r * np.log1p(-next_double(words, ctl))
                yy = -np.log1p(-next_double(words, ctl))
                if ctl[OVERFLOW]:
                    return 1.0
                if yy + yy > xx * xx:
                    if (rabs >> np.uint64(8)) & np.uint64(0x1):
                        return -(ziggurat_nor_r + xx)
                    return ziggurat_nor_r + xx
        else:
            if (fi_double[idx - 1] - fi_double[idx]) * next_double(words, ctl) + fi_double[idx] < np.exp(-0.5 * x * x):
                return x


@njit(cache=True, error_model="numpy")
def numpy_exp(value):
    """np.exp(value) by numpy itself (its SIMD exp may differ from the C library's by a few ulp)."""
    with objmode(result="float64"):
        result = float(np.exp(np.float64(value)))
    return result


@njit(cache=True, error_model="numpy")
def exp_less(draw, value):
    """draw < np.exp(value), exactly as numpy decides it."""
    approx = math.exp(value)
    low = approx
    high = approx
    for _ in range(EXP_MARGIN_ULP):
        low = np.nextafter(low, -np.inf)
        high = np.nextafter(high, np.inf)
    if draw < low:
        return True
    if draw >= high:
        return False
    return draw < numpy_exp(value)


@njit(cache=True, error_model="numpy")
def random_point(words, theta, i):
    """neurots.morphmath.utils.get_random_point() from words i (phi: Generator.uniform(0, 2 pi)) and
    i + 1 (theta: np.arccos(Generator.uniform(-1, 1)), precomputed by numpy in `theta`)."""
    phi = 0.0 + (TWO_PI - 0.0) * (np.float64(words[i] >> np.uint64(11)) * TO_DOUBLE)
    sin_theta = math.sin(theta[i + 1])
    return math.cos(phi) * sin_theta, math.sin(phi) * sin_theta, math.cos(theta[i + 1])


@njit(cache=True, error_model="numpy")
def sin_cos(values, out):
    """out[:, 0] = sin(values), out[:, 1] = cos(values), as `random_point` computes them."""
    for i in range(values.shape[0]):
        out[i, 0] = math.sin(values[i])
        out[i, 1] = math.cos(values[i])


@njit(cache=True, error_model="numpy")
def kde_sum(points, xi, weights, norm, out):
    """out[j] += weights[i] * exp(-(points[i] - xi[j])**2 / 2) * norm over i then j: the loop of scipy's
    gaussian_kernel_estimate (scipy/stats/_stats.pyx) for one dimension and one value column, with the C
    library's exp as there."""
    for i in range(points.shape[0]):
        for j in range(xi.shape[0]):
            residual = points[i] - xi[j]
            arg = math.exp(-(residual * residual) / 2.0) * norm
            out[j] += weights[i] * arg


@njit(cache=True, error_model="numpy")
def _check(crit, value, scale_prob, words, ctl):
    """SectionGrowerExponentialProba._check: True (stop here) with probability exp(-(crit - value))."""
    x = crit - value
    if x < 0:
        return True
    return exp_less(next_double(words, ctl), -x * scale_prob)


@njit(cache=True, error_model="numpy")
def step_size(loc, scale, words, ctl):
    """Distr('norm').draw_positive(): loc + scale * standard_normal(), redrawn while not positive."""
    if scale == 0:
        return loc
    val = loc + scale * standard_normal(words, ctl)
    while val <= 0 and not ctl[OVERFLOW]:
        val = loc + scale * standard_normal(words, ctl)
    return val


@njit(cache=True, error_model="numpy")
def step(
    s,
    add_random,
    check,
    slot_f,
    slot_i,
    latest,
    tree_f,
    pool,
    nxt,
    ctl,
    words,
    theta,
):
    """SectionGrower.next_point (and check_stop when `check`) of slot s: 0 continue, 1 bifurcate, 2 terminate."""
    t = slot_i[s, I_TREE]
    nlat = slot_i[s, I_NLAT]
    hist = np.empty(3)
    history(latest[s], nlat, hist)
    targeting = tree_f[t, T_TARGETING]
    weight = tree_f[t, T_HISTORY]
    d0 = targeting * slot_f[s, F_DIR] + weight * hist[0]
    d1 = targeting * slot_f[s, F_DIR + 1] + weight * hist[1]
    d2 = targeting * slot_f[s, F_DIR + 2] + weight * hist[2]
    if add_random:
        i = ctl[WORD_POS]
        if i + 2 > ctl[N_WORDS]:
            ctl[OVERFLOW] = 1
            return CONTINUE
        ctl[WORD_POS] = i + 2
        randomness = tree_f[t, T_RANDOMNESS]
        r0, r1, r2 = random_point(words, theta, i)
        d0 = d0 + randomness * r0
        d1 = d1 + randomness * r1
        d2 = d2 + randomness * r2
    length = norm3(d0, d1, d2)
    d0 = d0 / length
    d1 = d1 / length
    d2 = d2 / length
    seg = step_size(tree_f[t, T_LOC], tree_f[t, T_SCALE], words, ctl)
    p0 = slot_f[s, F_LAST] + seg * d0
    p1 = slot_f[s, F_LAST + 1] + seg * d1
    p2 = slot_f[s, F_LAST + 2] + seg * d2
    slot_f[s, F_PATH] = slot_f[s, F_PATH] + seg
    if nlat == MEMORY:
        for k in range(MEMORY - 1):
            for c in range(3):
                latest[s, k, c] = latest[s, k + 1, c]
        nlat -= 1
    latest[s, nlat, 0] = d0
    latest[s, nlat, 1] = d1
    latest[s, nlat, 2] = d2
    slot_i[s, I_NLAT] = nlat + 1
    n = ctl[POOL_N]
    pool[n, 0] = p0
    pool[n, 1] = p1
    pool[n, 2] = p2
    nxt[slot_i[s, I_TAIL]] = n
    slot_i[s, I_TAIL] = n
    slot_i[s, I_NPTS] += 1
    ctl[POOL_N] = n + 1
    slot_f[s, F_LAST] = p0
    slot_f[s, F_LAST + 1] = p1
    slot_f[s, F_LAST + 2] = p2
    if not check:
        return CONTINUE
    if tree_f[t, T_RADIAL] != 0:
        ref = slot_f[s, F_REF]
        value = norm3(p0 - ref, p1 - ref, p2 - ref)
    else:
        value = slot_f[s, F_PATH]
    scale_prob = tree_f[t, T_SCALE_PROB]
    if _check(slot_f[s, F_BIF], value, scale_prob, words, ctl):
        return BIFURCATE
    if _check(slot_f[s, F_TERM], value, scale_prob, words, ctl):
        return TERMINATE
    return CONTINUE


@njit(cache=True, error_model="numpy")
def needs_curation(s, slot_f, slot_i, bif_alive, term_alive):
    """TMDAlgo.extend's test: the section's bifurcation or termination bar was used by another section."""
    t = slot_i[s, I_TREE]
    bif_id = slot_i[s, I_BIF_ID]
    if not np.isinf(slot_f[s, F_BIF]) and (bif_id < 0 or not bif_alive[t, bif_id]):
        return True
    term_id = slot_i[s, I_TERM_ID]
    return term_id < 0 or not term_alive[t, term_id]


@njit(cache=True, error_model="numpy")
def get_term(t, bar, bars, term_alive):
    """Barcode.get_term: the bar's termination while unused, else -inf (bar -1 stands for None)."""
    if bar >= 0 and term_alive[t, bar]:
        return bars[t, B_TERM, bar]
    return -np.inf


@njit(cache=True, error_model="numpy")
def min_bif(t, bif_above, bif_below, bars, order, bif_alive):
    """Barcode.min_bif: (id, value) of the first unused bifurcation within [above, below], or (-1, inf)."""
    if np.isinf(bif_above):
        bif_above = 0.0
    for k in range(order.shape[2]):
        bar = order[t, B_BIF, k]
        if bar < 0:
            break
        if bif_alive[t, bar]:
            value = bars[t, B_BIF, bar]
            if bif_below >= value and value >= bif_above:
                return bar, value
    return -1, np.inf


@njit(cache=True, error_model="numpy")
def min_term(t, term_above, term_below, bars, order, term_alive):
    """Barcode.min_term: (id, value) of the first unused termination within [above, below], or (-1, 0)."""
    if np.isinf(term_above):
        term_above = 0.0
    for k in range(order.shape[2]):
        bar = order[t, B_TERM, k]
        if bar < 0:
            break
        if term_alive[t, bar]:
            value = bars[t, B_TERM, bar]
            if term_below >= value and value >= term_above:
                return bar, value
    return -1, 0.0


@njit(cache=True, error_model="numpy")
def select_compatible_bif(t, below_bif, above_bif, below_term, above_term, bars, order, bif_alive, term_alive):
    """Barcode.select_compatible_bif: the first unused bifurcation whose bar fits both ranges, or (-1, inf)."""
    for k in range(order.shape[2]):
        bar = order[t, B_BIF, k]
        if bar < 0:
            break
        if bif_alive[t, bar]:
            bif = bars[t, B_BIF, bar]
            term = get_term(t, bar, bars, term_alive)
            if below_bif <= bif and bif <= above_bif and below_term <= term and term <= above_term:
                return bar, bif
    return -1, np.inf


@njit(cache=True, error_model="numpy")
def curate_stop(t, parent_ref, parent_term, bif_id, bif, term, bars, order, bif_alive, term_alive):
    """Barcode.curate_stop_criterion(parent, child) on the child's (bif_id, bif, term): the child's
    (ok, bif_id, bif); ok False where NeuroTS raises "broken pipeline"."""
    if term > parent_term:
        return False, bif_id, bif
    if not np.isinf(bif) and bif > parent_term:
        return False, bif_id, bif
    if get_term(t, bif_id, bars, term_alive) <= term:
        return True, bif_id, bif
    bif_id, bif = select_compatible_bif(
        t, parent_ref, parent_term, parent_ref, term, bars, order, bif_alive, term_alive
    )
    return True, bif_id, bif


@njit(cache=True, error_model="numpy")
def get_term_between(t, bar, above, below, bars, term_alive):
    """Barcode.get_term_between: (bar, its termination) while unused and within [above, below], else
    (-1, -inf) (bar -1 stands for None)."""
    if 0 <= bar < term_alive.shape[1] and term_alive[t, bar]:
        term = bars[t, B_TERM, bar]
        if above <= term and term <= below:
            return bar, term
    return -1, -np.inf


@njit(cache=True, error_model="numpy")
def child_stops(t, ref, bif_id, bif, term, bars, order, bif_alive, term_alive, out_i, out_f):
    """TMDAlgo.get_stop_criteria for a section whose TMD stop is (ref, bif_id, bif, term), on tree t's
    barcode as arrays: the first child's bifurcation (id, value) in out_i[0], out_f[0] (its termination
    is the section's), the second child's bifurcation and termination in out_i[1, :2], out_f[1, :2].
    False where NeuroTS raises "broken pipeline"."""
    current_id, current = min_bif(t, ref, term, bars, order, bif_alive)
    ok, first_id, first = curate_stop(t, ref, term, current_id, current, term, bars, order, bif_alive, term_alive)
    if not ok:
        return False
    term_id2, term2 = get_term_between(t, bif_id, bif, term, bars, term_alive)
    ok, second_id, second = curate_stop(t, ref, term, current_id, current, term2, bars, order, bif_alive, term_alive)
    if not ok:
        return False
    out_i[0, 0] = first_id
    out_f[0, 0] = first
    out_i[1, 0] = second_id
    out_f[1, 0] = second
    out_i[1, 1] = term_id2
    out_f[1, 1] = term2
    return True


@njit(cache=True, error_model="numpy")
def curate(s, slot_f, slot_i, bars, order, bif_alive, term_alive):
    """TMDAlgo.extend without its growth step: re-pick the stop bars of slot s another section used.
    False where NeuroTS raises "broken pipeline"."""
    t = slot_i[s, I_TREE]
    bif_id = slot_i[s, I_BIF_ID]
    bif = slot_f[s, F_BIF]
    term_id = slot_i[s, I_TERM_ID]
    term = slot_f[s, F_TERM]
    ref = slot_f[s, F_REF]
    maximum_target = term
    if (bif_id < 0 or not bif_alive[t, bif_id]) and not np.isinf(bif):
        bif_id, bif = min_bif(t, ref, maximum_target, bars, order, bif_alive)
        ok, bif_id, bif = curate_stop(t, ref, term, bif_id, bif, term, bars, order, bif_alive, term_alive)
        if not ok:
            return False
    if term_id < 0 or not term_alive[t, term_id]:
        reference = bif if not np.isinf(bif) else ref
        term_id, term = min_term(t, reference, maximum_target, bars, order, term_alive)
        ok, bif_id, bif = curate_stop(t, ref, term, bif_id, bif, term, bars, order, bif_alive, term_alive)
        if not ok:
            return False
    slot_i[s, I_BIF_ID] = bif_id
    slot_f[s, F_BIF] = bif
    slot_i[s, I_TERM_ID] = term_id
    slot_f[s, F_TERM] = term
    return True


@njit(cache=True, error_model="numpy")
def add_child(s, t, direction, point, last, pathlength, stop, bar_ids, slot_f, slot_i, latest, pool, ctl):
    """Slot s as a new child section of tree t: one point (at the pool's end), one last direction, its
    direction, path length, stop criteria (`stop`: bif, term, ref) and bar ids (-1 for None)."""
    start = ctl[POOL_N]
    for c in range(3):
        pool[start, c] = point[c]
        latest[s, 0, c] = last[c]
        slot_f[s, F_DIR + c] = direction[c]
        slot_f[s, F_LAST + c] = point[c]
    ctl[POOL_N] = start + 1
    slot_f[s, F_PATH] = pathlength
    slot_f[s, F_BIF] = stop[0]
    slot_f[s, F_TERM] = stop[1]
    slot_f[s, F_REF] = stop[2]
    slot_i[s, I_TREE] = t
    slot_i[s, I_NLAT] = 1
    slot_i[s, I_BIF_ID] = bar_ids[0]
    slot_i[s, I_TERM_ID] = bar_ids[1]
    slot_i[s, I_HEAD] = start
    slot_i[s, I_TAIL] = start
    slot_i[s, I_NPTS] = 1
    slot_i[s, I_SKIP] = 0


@njit(cache=True, error_model="numpy")
def gather(s, slot_i, pool, nxt, out):
    """The points of slot s, in order, into out[:n]; returns n."""
    i = slot_i[s, I_HEAD]
    n = slot_i[s, I_NPTS]
    for k in range(n):
        out[k, 0] = pool[i, 0]
        out[k, 1] = pool[i, 1]
        out[k, 2] = pool[i, 2]
        i = nxt[i]
    return n


@njit(cache=True, error_model="numpy")
def run(
    ctl,
    slot_f,
    slot_i,
    latest,
    tree_f,
    bars,
    order,
    bif_alive,
    term_alive,
    active,
    n_active,
    neurites,
    outer,
    round_slots,
    pending,
    pool,
    nxt,
    words,
    theta,
):
    """Grow until an event the driver handles in Python (see the module docstring); returns its code."""
    n_pool = pool.shape[0]
    if ctl[PEND_OTHERS] + ctl[PEND_CHILDREN] > 0:
        count = ctl[PEND_OTHERS] + ctl[PEND_CHILDREN]
        if ctl[N_WORDS] - ctl[WORD_POS] < count * WORDS_PER_STEP:
            return NEED_WORDS
        if ctl[POOL_N] + count + 1 > n_pool:
            return NEED_POOL
        # TreeGrower.next_point on a bifurcation: every other active section of the tree takes a step
        # (its state ignored), then each child its first point (no random component, no stop check).
        for k in range(ctl[PEND_OTHERS]):
            step(
                pending[k],
                True,
                True,
                slot_f,
                slot_i,
                latest,
                tree_f,
                pool,
                nxt,
                ctl,
                words,
                theta,
            )
        for k in range(ctl[PEND_OTHERS], count):
            step(
                pending[k],
                False,
                False,
                slot_f,
                slot_i,
                latest,
                tree_f,
                pool,
                nxt,
                ctl,
                words,
                theta,
            )
        ctl[PEND_OTHERS] = 0
        ctl[PEND_CHILDREN] = 0
        if ctl[OVERFLOW]:
            return NEED_WORDS
    while True:
        if ctl[IN_ROUND]:
            pos = ctl[ROUND_POS]
            if pos == ctl[ROUND_N]:
                ctl[IN_ROUND] = 0
                ctl[OUTER_POS] += 1
                continue
            s = round_slots[pos]
            ctl[EVENT_SLOT] = s
            if slot_i[s, I_SKIP] == 0 and needs_curation(s, slot_f, slot_i, bif_alive, term_alive):
                if not curate(s, slot_f, slot_i, bars, order, bif_alive, term_alive):
                    return BROKEN
                slot_i[s, I_SKIP] = 1  # curated once for this step, even if the step waits for words
            if ctl[N_WORDS] - ctl[WORD_POS] < WORDS_PER_STEP:
                return NEED_WORDS
            if ctl[POOL_N] + 1 > n_pool:
                return NEED_POOL
            slot_i[s, I_SKIP] = 0
            state = step(
                s,
                True,
                True,
                slot_f,
                slot_i,
                latest,
                tree_f,
                pool,
                nxt,
                ctl,
                words,
                theta,
            )
            ctl[ROUND_POS] = pos + 1
            if ctl[OVERFLOW]:
                return NEED_WORDS
            if state != CONTINUE:
                return state
        else:
            if ctl[OUTER_POS] >= ctl[OUTER_N]:
                if ctl[N_NEURITES] == 0:
                    return DONE
                for k in range(ctl[N_NEURITES]):
                    outer[k] = neurites[k]
                ctl[OUTER_N] = ctl[N_NEURITES]
                ctl[OUTER_POS] = 0
            t = outer[ctl[OUTER_POS]]
            ctl[EVENT_SLOT] = t
            n = n_active[t]
            if n == 0:
                return NEURITE_END
            bifs = np.empty(n)
            for k in range(n):
                bifs[k] = slot_f[active[t, k], F_BIF]
            by_bif = np.argsort(bifs, kind="mergesort")
            for k in range(n):
                round_slots[k] = active[t, by_bif[k]]
            ctl[ROUND_N] = n
            ctl[ROUND_POS] = 0
            ctl[IN_ROUND] = 1
