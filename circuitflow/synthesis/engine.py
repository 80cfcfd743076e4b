"""Growth engines: NeuroTS' own loop, or the same growth with the per-point loop compiled (kernels.py).

`grow(grower, compiled)` replaces `NeuronGrower.grow()`. The compiled engine keeps NeuroTS' Python
objects for everything but the points and the re-picking of used stop bars (TMDAlgo.extend, on the
barcode as arrays): soma and trunks, the barcode, bifurcation directions and the children's stop
criteria, the morphology, diameters. Between two such per-section decisions,
`kernels.run` takes every step of every active section in NeuroTS' order, with the same random words
in the same order (drawn ahead from the cell's bit generator; the generator is set back to exactly
where NeuroTS would leave it before any Python code draws again). Cells whose growth takes a path the
kernel does not reproduce (context rules, trunk algorithms, major_termination_length, data step-size
distributions, ...) grow with NeuroTS' loop; so does a cell whose kernel state ever looks off
(`EngineFallback`, then regrown from its seed).
"""

from __future__ import annotations

import copy
import logging
import os
from collections import Counter, deque
from functools import partial
from pathlib import Path

import numpy as np

L = logging.getLogger(__name__)

ENGINES = ("compiled", "neurots")
INITIAL_WORDS = 4096  # words per draw, not doubling: a cell uses ~4k words (median), each costs its arccos (~10 ns)
INITIAL_POOL = 4096
INITIAL_SLOTS = 64
ISCLOSE_ATOL = 1e-08  # np.isclose(x, 0.0) is abs(x) <= 1e-08 (False for inf and NaN)


def numba_cache_dir() -> str:
    """Where numba keeps compiled kernels: $NUMBA_CACHE_DIR, else the user's cache folder (never the package)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return os.environ.get("NUMBA_CACHE_DIR") or str(Path(base) / "circuitflow" / "numba")


os.environ.setdefault("NUMBA_CACHE_DIR", numba_cache_dir())

import circuitflow.synthesis.lazy  # noqa: E402,F401,I001  (first, before NeuroTS: defers matplotlib.pyplot)
from morphio import PointLevel, SectionType  # noqa: E402
from neurots.generate.algorithms.common import TMDStop  # noqa: E402
from neurots.generate.algorithms.tmdgrower import TMDAlgo, TMDApicalAlgo, TMDGradientAlgo  # noqa: E402
from neurots.generate.section import MEMORY, SectionGrowerPath, SectionGrowerTMD  # noqa: E402
from neurots.generate import diametrizer as neurots_diametrizer  # noqa: E402
from neurots.generate.tree import DEFAULT_DIAMETER, TreeGrower  # noqa: E402
from neurots.morphmath import bifurcation as neurots_bifurcation  # noqa: E402
from neurots.morphmath import rotation as neurots_rotation  # noqa: E402
from neurots.utils import NeuroTSError  # noqa: E402
from numpy.linalg import norm as vectorial_norm  # noqa: E402
from numpy.random import PCG64  # noqa: E402

#: circuitflow.synthesis.kernels, imported (with numba, ~0.3 s and some memory) on the first compiled growth
K = None


def load_kernels():
    """Import the numba kernels (once)."""
    global K
    if K is None:
        from circuitflow.synthesis import kernels

        K = kernels
    return K


ALGORITHMS = (TMDAlgo, TMDApicalAlgo, TMDGradientAlgo)
SECTION_CLASSES = {"path_distances": SectionGrowerPath, "radial_distances": SectionGrowerTMD}
BRANCHING = ("bio_oriented", "symmetric", "directional")


#: cells grown per path in this process: "compiled", "fallback" (regrown by NeuroTS), "neurots: <why>"
STATS: Counter = Counter()


class EngineFallback(Exception):
    """The compiled engine cannot vouch for this cell's growth; grow it again with NeuroTS."""


def grow(grower, compiled: bool):
    """NeuronGrower.grow(), with the neurites grown by the compiled kernel when `compiled` and possible."""
    grower._grow_soma()
    why = unsupported(grower) if compiled else "engine neurots"
    diameters = None
    if why is None:
        diameters = uniform_diameters(grower)
        try:
            grow_neurites(grower, diameters or {})
        except EngineFallback:
            STATS["fallback"] += 1
            raise
        except Exception as exc:  # an attempt NeuroTS rejects is left to NeuroTS' own loop to reject
            STATS["fallback"] += 1
            raise EngineFallback(f"{type(exc).__name__}: {exc}") from exc
        STATS["compiled"] += 1
    else:
        STATS[f"neurots: {why}"] += 1
        while grower.active_neurites:
            grower.next()
    grower._post_grow()
    if diameters is None:
        grower._diametrize()
    else:  # the sections got their final diameters when appended: only the diametrizer's record is left
        grower.input_distributions["diameter"]["apical_point_sec_ids"] = grower.apical_sections
    release(grower)
    return grower.neuron


def release(grower) -> None:
    """Break the reference cycles a grown NeuronGrower holds (its _diametrize closure refers to the grower,
    the compiled engine's functions on each tree's algorithm and barcode to them), so that reference
    counting frees the cell's objects when it is done: otherwise they wait for the cyclic garbage
    collector, whose passes over them cost about a tenth of a cell's growth time. Growth is over: the
    diametrizer was called, and nothing calls the algorithms again."""
    grower.__dict__.pop("_diametrize", None)


def release_trees(trees: list) -> None:
    """Drop the kernel_stop_criteria grow_neurites put on each tree's algorithm (a partial that refers to it
    and to the KernelState: reference cycles), leaving NeuroTS' own method."""
    for tree in trees:
        vars(tree.growth_algo).pop("get_stop_criteria", None)


def uniform_diameters(grower) -> dict | None:
    """When the cell's diametrizer is NeuroTS' "uniform" one: the diameter it gives every point of each
    neurite type it sets (SectionType -> float; `diameter * np.ones(n)`, as diametrize_uniform writes
    it), so that sections can be appended with it; None for any other diametrizer."""
    try:
        if (
            grower.input_distributions["diameter"]["method"] != "uniform"
            or neurots_diametrizer.diam_methods.get("uniform") is not neurots_diametrizer.diametrize_uniform
        ):
            return None
        # NeuronGrower._diametrize's neurite types and parameters, diametrizer.build's type names
        diam_params = grower.input_parameters.get("diameter_params", {})
        neurite_types = diam_params.get("neurite_types", None)
        if neurite_types is None:
            neurite_types = grower.input_parameters["grow_types"]
        values = {}
        for tree_type in neurite_types:
            if isinstance(tree_type, str):
                tree_type = getattr(SectionType, tree_type)
            diameter = diam_params.get(tree_type.name, None)
            if diameter is None:
                continue
            if type(diameter) not in (float, int):
                return None
            values[tree_type] = float((diameter * np.ones(1))[0])
        return values
    except Exception:  # whatever NeuroTS' diametrizer makes of such parameters, it does it itself
        return None


SELF_CHECK_SAMPLES = 500
_SELF_CHECK: list = []  # [None] once the kernels matched numpy on this machine, [reason] if not


def self_check(samples: int = SELF_CHECK_SAMPLES) -> str | None:
    """Compare the kernels' norm and history products with numpy's on random directions, once per
    process (spec/neurots-numerics.md: the orders are OpenBLAS's for this CPU). None when they agree."""
    if not _SELF_CHECK:
        kernels = load_kernels()
        rng = np.random.default_rng(12345)
        latest = np.zeros((MEMORY, 3))
        why = None
        for i in range(samples):
            k = 1 + i % MEMORY
            vectors = rng.normal(size=(k, 3))
            latest[:k] = vectors
            expected = np.dot(kernels.WEIGHTS[MEMORY - k :], list(vectors))
            if [kernels.history_component(latest, k, c) for c in range(3)] != expected.tolist():
                why = "numpy's BLAS sums the direction history in another order on this machine"
                break
            if kernels.norm3(*vectors[0]) != np.linalg.norm(vectors[0]):
                why = "numpy's BLAS computes norms in another order on this machine"
                break
        if why:
            L.warning("compiled engine off: %s; cells grow with NeuroTS' loop", why)
        _SELF_CHECK.append(why)
    return _SELF_CHECK[0]


TRIG_CHECK_SAMPLES = 2000
_TRIG_CHECK: list = []  # [None] once kernels.sin_cos matched numpy's sin and cos on this machine, [reason] if not


def trig_check(samples: int = TRIG_CHECK_SAMPLES) -> str | None:
    """Compare the kernels' sines and cosines (the C library's, through numba) with numpy's float64 ones
    on get_random_point's kinds of angles, once per process. None when they agree."""
    if not _TRIG_CHECK:
        kernels = load_kernels()
        rng = np.random.default_rng(2024)
        angles = np.concatenate([rng.uniform(0.0, 2.0 * np.pi, samples), np.arccos(rng.uniform(-1.0, 1.0, samples))])
        out = np.empty((angles.size, 2))
        kernels.sin_cos(angles, out)
        why = None
        if out[:, 0].tobytes() != np.sin(angles).tobytes() or out[:, 1].tobytes() != np.cos(angles).tobytes():
            why = "numpy's sines and cosines are not the C library's on this machine"
            L.warning("compiled engine off: %s; cells grow with NeuroTS' loop", why)
        _TRIG_CHECK.append(why)
    return _TRIG_CHECK[0]


def unsupported(grower) -> str | None:
    """Why the kernel cannot grow this neuron's neurites exactly as NeuroTS would (None: it can)."""
    why = self_check() or trig_check()
    if why:
        return why
    rng = grower._rng
    if not isinstance(rng, np.random.Generator) or type(rng.bit_generator) is not PCG64:
        return "generator other than numpy's Generator(PCG64)"
    if isinstance(grower.context, dict) and grower.context.get("constraints"):
        return "context constraints (directions/boundaries rules)"
    for tree in grower.active_neurites:
        why = _tree_unsupported(tree, rng)
        if why:
            return why
    return None


def _tree_unsupported(tree, rng) -> str | None:
    """Why one TreeGrower is out of the kernel's reach (None: within)."""
    params = tree.params
    if type(tree) is not TreeGrower or type(tree.growth_algo) not in ALGORITHMS:
        return f"growth method {params.get('growth_method')}"
    if "major_termination_length" in params:
        return "major_termination_length"
    if params.get("branching_method") not in BRANCHING:
        return f"branching method {params.get('branching_method')}"
    if isinstance(tree.context, dict) and tree.context.get("constraints"):
        return "context constraints"
    section_class = SECTION_CLASSES.get(params.get("metric"))
    if section_class is None:
        return f"metric {params.get('metric')}"
    distr = tree.seg_length_distr
    draw = getattr(distr, "distribution", None)
    if distr.type != "norm" or getattr(draw, "__self__", None) is not rng or draw.__name__ != "standard_normal":
        return f"step size distribution {distr.type}"
    if distr.scale == 0 and distr.loc < 0:
        return "negative constant step size"
    if tree._rng is not rng or tree.growth_algo.barcode is None:
        return "tree generator"
    for section in tree.active_sections:
        if type(section) is not section_class or section._rng is not rng:
            return "section class"
        if section.context and section.context.get("constraints"):
            return "context constraints"
    return None


class RandomWords:
    """Raw words of the cell's bit generator drawn ahead, with the arccos get_random_point takes of each
    word (numpy's own, vectorized; kernels.random_point computes the sines and cosines).

    `sync` puts the generator exactly where drawing the consumed words one by one would have left it.
    """

    def __init__(self, rng: np.random.Generator):
        load_kernels()
        self.bit_generator = rng.bit_generator
        self.saved = None
        self.after = None

    def draw(self, ctl: np.ndarray, count: int) -> None:
        """Draw `count` words from the generator's current state (after syncing any previous buffer)."""
        self.sync(ctl)
        self.saved = self.bit_generator.state
        words = self.bit_generator.random_raw(count)
        self.after = self.bit_generator.state["state"]
        doubles = (words >> np.uint64(11)).astype(np.float64) * K.TO_DOUBLE
        self.words = words
        self.theta = np.arccos(-1.0 + (1.0 - -1.0) * doubles)  # np.arccos(Generator.uniform(-1, 1))
        ctl[K.WORD_POS] = 0
        ctl[K.N_WORDS] = count

    def sync(self, ctl: np.ndarray) -> None:
        """Rewind the generator to the buffer's start and advance it by the words consumed."""
        if self.saved is None:
            return
        if self.bit_generator.state["state"] != self.after:
            raise EngineFallback("the cell's generator was used while the kernel held words")
        used = int(ctl[K.WORD_POS])
        self.bit_generator.state = self.saved
        if used:
            self.bit_generator.random_raw(used, output=False)
        self.saved = None
        ctl[K.WORD_POS] = 0
        ctl[K.N_WORDS] = 0


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    """`array` with at least `rows` rows (doubling), contents kept."""
    if array.shape[0] >= rows:
        return array
    new = np.zeros((max(rows, 2 * array.shape[0]),) + array.shape[1:], dtype=array.dtype)
    new[: array.shape[0]] = array
    return new


FLOAT64 = np.dtype(np.float64)  # numpy's one native float64 dtype (`dtype is FLOAT64` is a cheap exact test)


def norm(vector) -> float:
    """np.linalg.norm(vector): kernels.norm3 (the same bits) for a float64 3-vector, numpy for the rest."""
    if type(vector) is np.ndarray and vector.dtype is FLOAT64 and vector.shape == (3,):
        return K.norm3(*vector.tolist())
    return vectorial_norm(vector)


def copy_tmd_stop(stop: TMDStop, memo: dict | None = None) -> TMDStop:
    """deepcopy of a TMDStop: its five attributes are immutable scalars, so a fresh object with the
    same values is an exact deep copy (grow installs it as TMDStop.__deepcopy__: NeuroTS deep-copies
    one per growth step, and the generic deepcopy took a third of NeuroTS' growth time)."""
    copied = TMDStop.__new__(TMDStop)
    copied.__dict__.update(stop.__dict__)
    return copied


def kernel_stop_criteria(state, t: int, algo, current_section) -> tuple[dict, dict]:
    """TMDAlgo.get_stop_criteria by kernels.child_stops on tree t's barcode arrays in `state` (which
    hold the same unused bars as its Barcode: _end_section marks the bifurcation bifurcate removes
    before calling it): fresh TMDStops with the values NeuroTS' searches and curations pick."""
    stop = current_section.stop_criteria["TMD"]
    stop.ref = ref = algo.metric_ref(current_section)
    bif_id = stop.bif_id
    if type(ref) is not float and np.ndim(ref) != 0:
        raise EngineFallback("stop reference is not a scalar")
    ok = K.child_stops(
        t,
        float(ref),
        -1 if bif_id is None else int(bif_id),
        float(stop.bif),
        float(stop.term),
        state.bars,
        state.order,
        state.bif_alive,
        state.term_alive,
        state.stop_i,
        state.stop_f,
    )
    if not ok:
        raise NeuroTSError("broken pipeline")
    (first_id, _), (second_id, term_id) = state.stop_i.tolist()
    (first, _), (second, term) = state.stop_f.tolist()
    return (
        {"TMD": TMDStop(None if first_id < 0 else first_id, first, stop.term_id, stop.term, ref)},
        {"TMD": TMDStop(None if second_id < 0 else second_id, second, None if term_id < 0 else term_id, term, ref)},
    )


X_AXIS = np.array([1, 0, 0])
Z_AXIS = np.array([0, 0, 1])
BIF_ROTATIONS_SIZE = 100_000
_bif_rotations: dict = {}


def exact_key(value) -> tuple:
    """A cache key for a number that tells apart what its type and repr tell apart (-0.0 from 0.0, 1 from 1.0)."""
    return (type(value), repr(value))


def axis_rotations(y_rotation, phi, theta) -> tuple:
    """NeuroTS' bifurcation rotations by phi around the (y-rotated) z axis and by theta around the
    (y-rotated) x axis, remembered by the exact y_rotation (dtype, shape, bytes) and angles (type, repr;
    or, for two non-zero non-NaN Python floats, the floats themselves: equal such floats have equal
    bits, and these 2- and 4-tuple keys equal no other key)."""
    plain = type(phi) is float and type(theta) is float and phi == phi and theta == theta and phi and theta
    if y_rotation is None:
        key = (phi, theta) if plain else (None, exact_key(phi), exact_key(theta))
    elif plain and type(y_rotation) is np.ndarray and y_rotation.dtype is FLOAT64 and y_rotation.shape == (3, 3):
        key = (y_rotation.tobytes(), y_rotation.flags.c_contiguous, phi, theta)
    else:
        y_array = np.asarray(y_rotation)
        key = (y_array.dtype.str, y_array.shape, y_array.tobytes(), exact_key(phi), exact_key(theta))
    matrices = _bif_rotations.get(key)
    if matrices is None:
        x_dir = X_AXIS
        z_dir = Z_AXIS
        if y_rotation is not None:
            z_dir = y_rotation.dot(z_dir)
            x_dir = y_rotation.dot(x_dir)
        rotation = neurots_rotation.rotation_around_axis
        matrices = (rotation(z_dir, phi), rotation(x_dir, theta))
        if len(_bif_rotations) >= BIF_ROTATIONS_SIZE:
            _bif_rotations.clear()
        _bif_rotations[key] = matrices
    return matrices


def bio_oriented(direction, angles, y_rotation=None):
    """neurots.morphmath.bifurcation.bio_oriented: the same four np.dot(rotation matrix, vector), with
    the matrices (and the rotated x and z axes) computed once per y_rotation and bar angles."""
    z0, x0 = axis_rotations(y_rotation, angles[0], angles[1])
    z1, x1 = axis_rotations(y_rotation, angles[2], angles[3])
    dir1 = np.dot(x0, np.dot(z0, direction))
    dir2 = np.dot(x1, np.dot(z1, dir1))
    return dir1, dir2


def directional(direction, angles, y_rotation=None):
    """neurots.morphmath.bifurcation.directional (the apical's major bifurcations): the same two
    np.dot(rotation matrix, vector), the matrices remembered as bio_oriented's."""
    z1, x1 = axis_rotations(y_rotation, angles[2], angles[3])
    return direction, np.dot(x1, np.dot(z1, direction))


def speed_up_algorithm(algo) -> None:
    """Give one TreeGrower's TMD algorithm (an instance the compiled engine grows) bio_oriented in place of
    its bif_method (when NeuroTS' bio_oriented): its own bifurcate() then calls it. NeuroTS' classes, and
    the cells it grows, are left as they are. (KernelState gives it kernel_stop_criteria.)"""
    if getattr(algo, "bif_method", None) is neurots_bifurcation.bio_oriented:
        algo.bif_method = bio_oriented


def barcode_arrays(barcode, bars: np.ndarray, order: np.ndarray) -> None:
    """A NeuroTS Barcode as the kernel's arrays: bars[kind, bar] its bars' (rounded) bifurcation and
    termination values, order[kind, :] the bar ids in the order of its bifs and terms OrderedDicts
    (the order its min_bif, min_term and select_compatible_bif search; -1 after the last)."""
    for which, values in ((K.B_BIF, barcode.bifs), (K.B_TERM, barcode.terms)):
        ids = np.fromiter(values.keys(), dtype=np.int64, count=len(values))
        if ids.size and (ids.min() < 0 or ids.max() >= bars.shape[1]):
            raise EngineFallback("bar id outside the barcode")
        order[which, : ids.size] = ids
        bars[which, ids] = np.fromiter(values.values(), dtype=np.float64, count=len(values))


class KernelState:
    """The arrays `kernels.run` works on, and the Python objects each slot and tree stands for."""

    def __init__(self, grower, diameters: dict | None = None):
        self.grower = grower
        self.trees = list(grower.active_neurites)
        n_trees = len(self.trees)
        n_bars = max(len(tree.growth_algo.ph_angles) for tree in self.trees) if self.trees else 1
        self.ctl = np.zeros(K.N_CTL, dtype=np.int64)
        self.slot_f = np.zeros((INITIAL_SLOTS, K.N_SLOT_F))
        self.slot_i = np.zeros((INITIAL_SLOTS, K.N_SLOT_I), dtype=np.int64)
        self.latest = np.zeros((INITIAL_SLOTS, MEMORY, 3))
        self.tree_f = np.zeros((max(n_trees, 1), K.N_TREE_F))
        self.bars = np.zeros((max(n_trees, 1), 2, n_bars))
        self.order = np.full((max(n_trees, 1), 2, n_bars), -1, dtype=np.int64)
        self.bif_alive = np.zeros((max(n_trees, 1), n_bars), dtype=np.bool_)
        self.term_alive = np.zeros((max(n_trees, 1), n_bars), dtype=np.bool_)
        self.active = np.zeros((max(n_trees, 1), 8), dtype=np.int64)
        self.n_active = np.zeros(max(n_trees, 1), dtype=np.int64)
        self.neurites = np.arange(max(n_trees, 1), dtype=np.int64)
        self.outer = np.zeros(max(n_trees, 1), dtype=np.int64)
        self.round_slots = np.zeros(8, dtype=np.int64)
        self.pending = np.zeros(8, dtype=np.int64)
        self.stop_i = np.zeros((2, 2), dtype=np.int64)  # kernels.child_stops' results
        self.stop_f = np.zeros((2, 2))
        self.pool = np.zeros((INITIAL_POOL, 3))
        self.nxt = np.zeros(INITIAL_POOL, dtype=np.int64)
        self.out = np.zeros((INITIAL_POOL, 3))
        self.sections: list = []
        self.tree_slots: list = [[] for _ in self.trees]
        self.tree_of: dict[int, int] = {id(tree): t for t, tree in enumerate(self.trees)}
        self.section_types = [SectionType(tree.params["tree_type"]) for tree in self.trees]
        # each tree's point diameter: its final one when uniform_diameters knows it, else NeuroTS' default
        self.diameters = [(diameters or {}).get(kind, DEFAULT_DIAMETER) for kind in self.section_types]
        self.section_contexts = [copy.deepcopy(tree.context) for tree in self.trees]
        for t, tree in enumerate(self.trees):
            sp = tree._section_parameters
            distr = tree.seg_length_distr
            self.tree_f[t] = [
                sp.targeting,
                sp.history,
                sp.randomness,
                sp.scale_prob,
                distr.loc,
                distr.scale,
                float(tree.params["metric"] == "radial_distances"),
            ]
            speed_up_algorithm(tree.growth_algo)
            tree.growth_algo.get_stop_criteria = partial(kernel_stop_criteria, self, t, tree.growth_algo)
            self.add_barcode(t)
            self.read_barcode(t)
            self.set_active(t, [self.add_slot(section, t) for section in tree.active_sections])
        self.ctl[K.N_NEURITES] = n_trees

    def add_barcode(self, t: int) -> None:
        """Tree t's Barcode as arrays (barcode_arrays)."""
        barcode_arrays(self.trees[t].growth_algo.barcode, self.bars[t], self.order[t])

    def ensure_pool(self, points: int) -> None:
        """Room for `points` more points in the pool."""
        need = int(self.ctl[K.POOL_N]) + points + 1
        if need > self.pool.shape[0]:
            self.pool = _grown(self.pool, need)
            self.nxt = _grown(self.nxt, need)
            self.out = np.zeros_like(self.pool)

    def new_slot(self, section) -> int:
        """The next free slot, for `section`."""
        s = len(self.sections)
        if s >= self.slot_f.shape[0]:
            self.slot_f = _grown(self.slot_f, s + 1)
            self.slot_i = _grown(self.slot_i, s + 1)
            self.latest = _grown(self.latest, s + 1)
        self.sections.append(section)
        return s

    def add_slot(self, section, t: int) -> int:
        """A kernel slot for a NeuroTS SectionGrower (its points, last directions, stop criteria)."""
        s = self.new_slot(section)
        points = np.asarray(section.points, dtype=np.float64).reshape(-1, 3)
        self.ensure_pool(len(points))
        start = int(self.ctl[K.POOL_N])
        n = len(points)
        self.pool[start : start + n] = points
        self.nxt[start : start + n - 1] = np.arange(start + 1, start + n)
        self.ctl[K.POOL_N] = start + n
        latest = list(section.latest_directions)
        self.latest[s, : len(latest)] = latest
        row = self.slot_f[s]
        row[K.F_DIR : K.F_DIR + 3] = np.asarray(section.direction, dtype=np.float64)
        row[K.F_PATH] = section.pathlength
        row[K.F_LAST : K.F_LAST + 3] = points[-1]
        # I_TREE, I_NLAT, I_BIF_ID, I_TERM_ID (write_stop sets them), I_HEAD, I_TAIL, I_NPTS, I_SKIP
        self.slot_i[s, : K.N_SLOT_I] = (t, len(latest), -1, -1, start, start + n - 1, n, 0)
        self.write_stop(s)
        return s

    def add_child(self, t: int, parent, latest: np.ndarray, pathlength, child_section: dict) -> int:
        """new_section and add_slot for a child of a bifurcation (bifurcate's `child_section`, the
        parent's last direction `latest`): one point and one direction, written straight to its slot
        by kernels.add_child (the values write_stop writes, with its checks)."""
        section = self.new_section(t, parent=parent, pathlength=pathlength, **child_section)
        section.latest_directions.append(latest)
        s = self.new_slot(section)
        self.ensure_pool(1)
        stop = section.stop_criteria["TMD"]
        ref = stop.ref
        if type(ref) is not float and np.ndim(ref) != 0:
            raise EngineFallback("stop reference is not a scalar")
        bif_id, term_id = stop.bif_id, stop.term_id
        n_bars = self.bif_alive.shape[1]
        for bar in (bif_id, term_id):
            if bar is not None and not (0 <= bar < n_bars):
                raise EngineFallback(f"bar id {bar} outside the barcode")
        K.add_child(
            s,
            t,
            section.direction,
            np.asarray(section.points[0], dtype=np.float64),
            latest,
            float(section.pathlength),
            (float(stop.bif), float(stop.term), float(ref)),
            (-1 if bif_id is None else int(bif_id), -1 if term_id is None else int(term_id)),
            self.slot_f,
            self.slot_i,
            self.latest,
            self.pool,
            self.ctl,
        )
        return s

    def write_stop(self, s: int) -> None:
        """Copy slot s's TMD stop criteria into the kernel arrays (ids: -1 for None)."""
        stop = self.sections[s].stop_criteria["TMD"]
        self.slot_f[s, K.F_BIF] = stop.bif
        self.slot_f[s, K.F_TERM] = stop.term
        if np.ndim(stop.ref) != 0:
            raise EngineFallback("stop reference is not a scalar")
        self.slot_f[s, K.F_REF] = stop.ref
        for column, bar in ((K.I_BIF_ID, stop.bif_id), (K.I_TERM_ID, stop.term_id)):
            if bar is not None and not (0 <= bar < self.bif_alive.shape[1]):
                raise EngineFallback(f"bar id {bar} outside the barcode")
            self.slot_i[s, column] = -1 if bar is None else bar

    def read_stop(self, s: int) -> None:
        """Slot s's TMD stop criteria as the kernel left them (it re-picks used bars, as TMDAlgo.extend)."""
        stop = self.sections[s].stop_criteria["TMD"]
        bif_id = int(self.slot_i[s, K.I_BIF_ID])
        term_id = int(self.slot_i[s, K.I_TERM_ID])
        stop.bif_id = None if bif_id < 0 else bif_id
        stop.bif = float(self.slot_f[s, K.F_BIF])
        stop.term_id = None if term_id < 0 else term_id
        stop.term = float(self.slot_f[s, K.F_TERM])

    def read_barcode(self, t: int) -> None:
        """Tree t's unused bars, from its Barcode."""
        barcode = self.trees[t].growth_algo.barcode
        self.bif_alive[t] = False
        self.term_alive[t] = False
        self.bif_alive[t, list(barcode.bifs)] = True
        self.term_alive[t, list(barcode.terms)] = True

    def check_barcode(self, t: int) -> None:
        """The unused bars the kernel saw are still its Barcode's (EngineFallback if not)."""
        barcode = self.trees[t].growth_algo.barcode
        if (
            sorted(barcode.bifs) != np.flatnonzero(self.bif_alive[t]).tolist()
            or sorted(barcode.terms) != np.flatnonzero(self.term_alive[t]).tolist()
        ):
            raise EngineFallback("the barcode changed behind the kernel")

    def set_active(self, t: int, slots: list) -> None:
        """Tree t's active sections (slots), in the order of NeuroTS' TreeGrower.active_sections."""
        self.tree_slots[t] = slots
        if len(slots) > self.active.shape[1]:
            width = max(len(slots), 2 * self.active.shape[1])
            active = np.zeros((self.active.shape[0], width), dtype=np.int64)
            active[:, : self.active.shape[1]] = self.active
            self.active = active
            round_slots = np.zeros(width, dtype=np.int64)
            round_slots[: self.round_slots.shape[0]] = self.round_slots
            self.round_slots = round_slots
        self.active[t, : len(slots)] = slots
        self.n_active[t] = len(slots)

    def sync_section(self, s: int, bifurcates: bool):
        """Slot s's SectionGrower and its points as one (n, 3) array. A bifurcating section gets its
        points, path length and last directions from the kernel (bifurcate reads them); a terminating
        one only its stop criteria: terminate reads nothing else, and the section is dropped (its points
        are then a view of a buffer the next section reuses, for append_section only)."""
        section = self.sections[s]
        self.read_stop(s)
        n = K.gather(s, self.slot_i, self.pool, self.nxt, self.out)
        if not bifurcates:
            return section, self.out[:n]
        points = self.out[:n].copy()
        # the section is done growing: NeuroTS reads only its last_point (points[-1]) and len(points)
        # from here on, the same from the array as from a list of its rows (n row views not made)
        section.points = points
        section.pathlength = float(self.slot_f[s, K.F_PATH])
        section.latest_directions.clear()
        section.latest_directions.extend(self.latest[s, : self.slot_i[s, K.I_NLAT]].copy())
        section.children = 2.0
        return section, points

    def append_section(self, t: int, section_grower, points: np.ndarray):
        """TreeGrower.append_section with the section's points as one array (no debug log of them)."""
        parent = section_grower.parent
        append = parent.append_section if parent else self.trees[t].neuron.append_root_section
        return append(PointLevel(points.tolist(), [self.diameters[t]] * len(points)), self.section_types[t])

    def new_section(self, t: int, parent, direction, first_point, stop, process, pathlength):
        """TreeGrower.add_section for a child section: the same SectionGrower, activated, without
        NeuroTS' per-section deep copy of the context (sections read their context only in
        SectionGrower.next_point, which the kernel replaces: they share one copy per tree), nor of
        `stop`, which it takes over (bifurcate's fresh dict of fresh TMDStops, used by nothing else)."""
        tree = self.trees[t]
        cls = SECTION_CLASSES[tree.params["metric"]]
        section = cls.__new__(cls)
        section.parent = parent
        section.id = None
        length = norm(direction)
        assert not abs(length) <= ISCLOSE_ATOL, "Nan direction not recognized"  # not np.isclose(length, 0.0)
        section.direction = direction / length
        section.children = 0
        section.points = [np.array(first_point[:3])]
        section.params = tree._section_parameters
        section.stop_criteria = stop
        section.process = process
        section.latest_directions = deque(maxlen=MEMORY)
        section.context = self.section_contexts[t]
        section._rng = tree._rng
        section.step_size_distribution = tree.seg_length_distr
        section.pathlength = 0 if parent is None else pathlength
        tree.active_sections.append(section)
        return section

    def run(self) -> int:
        """One kernels.run call on the current arrays."""
        return K.run(
            self.ctl,
            self.slot_f,
            self.slot_i,
            self.latest,
            self.tree_f,
            self.bars,
            self.order,
            self.bif_alive,
            self.term_alive,
            self.active,
            self.n_active,
            self.neurites,
            self.outer,
            self.round_slots,
            self.pending,
            self.pool,
            self.nxt,
            self.words.words,
            self.words.theta,
        )


def grow_neurites(grower, diameters: dict | None = None) -> None:
    """`while grower.active_neurites: grower.next()`, with the per-point loop in kernels.run; sections
    of the types in `diameters` (uniform_diameters) get that diameter, the others NeuroTS' default."""
    load_kernels()
    state = KernelState(grower, diameters or {})
    words = RandomWords(grower._rng)
    state.words = words
    ctl = state.ctl
    try:
        words.draw(ctl, INITIAL_WORDS)
        while True:
            code = state.run()
            if code == K.DONE:
                break
            if ctl[K.OVERFLOW]:
                raise EngineFallback("a step ran past the drawn words")
            if code == K.NEED_WORDS:
                count = int(ctl[K.PEND_OTHERS] + ctl[K.PEND_CHILDREN] + 1) * K.WORDS_PER_STEP
                words.draw(ctl, max(INITIAL_WORDS, count))
            elif code == K.NEED_POOL:
                state.ensure_pool(int(ctl[K.PEND_OTHERS] + ctl[K.PEND_CHILDREN]) + 1)
            elif code == K.BROKEN:
                raise EngineFallback("broken pipeline (a stop criterion NeuroTS' Barcode rejects)")
            elif code == K.NEURITE_END:
                _end_neurite(state, int(ctl[K.EVENT_SLOT]))
            else:
                _end_section(state, int(ctl[K.EVENT_SLOT]), code == K.BIFURCATE)
    finally:
        words.sync(ctl)
        release_trees(state.trees)


def _end_neurite(state: KernelState, t: int) -> None:
    """Grower.next for a neurite without active sections: record its apical section, drop it."""
    grower = state.grower
    tree = state.trees[t]
    state.check_barcode(t)
    params = grower.input_parameters
    if "apical_dendrite" in params["grow_types"] and tree.type == params["apical_dendrite"]["tree_type"]:
        grower.apical_sections.append(tree.growth_algo.apical_section)
    grower.active_neurites.remove(tree)
    order = [state.tree_of[id(other)] for other in grower.active_neurites]
    state.neurites[: len(order)] = order
    state.ctl[K.N_NEURITES] = len(order)
    state.ctl[K.OUTER_POS] += 1


def _end_section(state: KernelState, s: int, bifurcates: bool) -> None:
    """TreeGrower.next_point for a section that bifurcates or terminates (its draws left to the kernel)."""
    t = int(state.slot_i[s, K.I_TREE])
    tree = state.trees[t]
    section_grower, points = state.sync_section(s, bifurcates)
    section = state.append_section(t, section_grower, points)
    stop = section_grower.stop_criteria["TMD"]
    others = [slot for slot in state.tree_slots[t] if slot != s]
    if bifurcates:
        nlat = int(state.slot_i[s, K.I_NLAT])
        latest = state.latest[s, nlat - 1].copy()
        history = np.empty(3)
        K.history(state.latest[s], nlat, history)  # SectionGrower.history(), bit for bit
        section_grower.history = history.copy  # bifurcate's one call gets a fresh array, as upstream
        section_grower.id = section.id
        # NeuroTS steps every other active section here; bifurcate() and add_section() draw nothing,
        # so those steps run first thing in the next kernel call, then the children's first points.
        bif_id = stop.bif_id
        if bif_id is not None and 0 <= bif_id < state.bif_alive.shape[1]:
            state.bif_alive[t, bif_id] = False  # bifurcate removes it from the Barcode first thing
        children = [
            state.add_child(t, section, latest, section_grower.pathlength, child_section)
            for child_section in tree.growth_algo.bifurcate(section_grower)
        ]
        tree.active_sections.remove(section_grower)
        pending = others + children
        if len(pending) > state.pending.shape[0]:
            state.pending = np.zeros(2 * len(pending), dtype=np.int64)
        state.pending[: len(pending)] = pending
        state.ctl[K.PEND_OTHERS] = len(others)
        state.ctl[K.PEND_CHILDREN] = len(children)
        state.ensure_pool(len(pending) + 1)
        state.set_active(t, pending)
    else:
        term_id = stop.term_id
        tree.growth_algo.terminate(section_grower)
        if term_id is not None:
            state.term_alive[t, term_id] = False  # terminate removed it from the Barcode
        tree.active_sections.remove(section_grower)
        state.set_active(t, others)
