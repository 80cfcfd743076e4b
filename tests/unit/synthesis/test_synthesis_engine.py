"""The compiled engine's numeric primitives equal NeuroTS/numpy bit for bit, and whole cells match."""

from __future__ import annotations

import copy
import json
import re
from collections import deque

import morphio
import numpy as np
import pytest
from neurots.generate.section import WEIGHTS, SectionGrower
from neurots.morphmath.utils import get_random_point, norm
from numpy.linalg import norm as vectorial_norm
from test_synthesis_units import default_cell

from circuitflow.synthesis import engine
from circuitflow.synthesis import kernels as K
from circuitflow.synthesis.grow import grow_cell

N = 20_000


def bits(values) -> bytes:
    """Exact bytes of float64 values (distinguishes -0.0, NaN payloads)."""
    return np.asarray(values, dtype=np.float64).tobytes()


def random_vectors(rng, n):
    """Unit vectors, scaled ones, tiny and huge ones, and some with zero components."""
    v = rng.normal(size=(n, 3))
    v[: n // 4] /= np.linalg.norm(v[: n // 4], axis=1)[:, None]
    v[n // 4 : n // 2] *= rng.uniform(1e-3, 1e3, size=(n // 4, 1))
    v[n // 2 : n // 2 + 50] *= 1e-150
    v[n // 2 + 50 : n // 2 + 100] *= 1e150
    v[n // 2 + 100 : n // 2 + 200, rng.integers(0, 3, 100)] = 0.0
    v[n // 2 + 200 : n // 2 + 210] = -0.0
    return v


def test_norm3_is_numpy_norm():
    rng = np.random.default_rng(1)
    for v in random_vectors(rng, N):
        ours = K.norm3(v[0], v[1], v[2])
        assert bits(ours) == bits(vectorial_norm(v)) == bits(norm(v)), v


def test_engine_norm_is_numpy_norm():
    """engine.norm (kernels.norm3 for native float64 3-vectors, numpy otherwise) equals np.linalg.norm on
    arrays, views, other byte orders and dtypes, and lists."""
    engine.load_kernels()
    rng = np.random.default_rng(2)
    vectors = random_vectors(rng, 5000)
    for v in vectors:
        for form in (v, v.astype(">f8"), v.astype(np.float32), v.tolist(), np.vstack([v, v])[1]):
            assert bits(engine.norm(form)) == bits(vectorial_norm(form)), form


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, 5])
def test_history_is_neurots_history(k):
    """SectionGrower.history() (np.dot through OpenBLAS, then the norm) for 0..5 remembered directions."""
    rng = np.random.default_rng(k)
    section = SectionGrower.__new__(SectionGrower)
    out = np.empty(3)
    latest = np.zeros((5, 3))
    vectors = random_vectors(rng, N)
    for i in range(0, N - 5, 1):
        directions = vectors[i : i + k]
        section.latest_directions = deque(list(directions), maxlen=5)
        latest[:k] = directions
        K.history(latest, k, out)
        expected = section.history()
        assert bits(out) == bits(expected), (directions, out, expected)
        raw = np.dot(WEIGHTS[5 - k :], section.latest_directions) if k else np.zeros(3)
        assert bits([K.history_component(latest, k, c) for c in range(3)]) == bits(raw)


def test_random_words_reproduce_generator_draws():
    """Words drawn ahead give get_random_point, standard_normal and random exactly as the Generator does,
    and sync leaves the generator where the same draws one by one leave it."""
    for seed in range(5):
        ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
        ours.integers(0, 10)  # a 32-bit draw leaves a buffered half word: sync must keep it
        theirs.integers(0, 10)
        words = engine.RandomWords(ours)
        ctl = np.zeros(K.N_CTL, dtype=np.int64)
        words.draw(ctl, 50_000)
        pattern = np.random.default_rng(100 + seed).integers(0, 3, 10_000)
        for what in pattern:
            if what == 0:
                i = ctl[K.WORD_POS]
                ctl[K.WORD_POS] += 2
                point = K.random_point(words.words, words.theta, i)
                assert bits(point) == bits(get_random_point(random_generator=theirs))
            elif what == 1:
                assert bits(K.standard_normal(words.words, ctl)) == bits(theirs.standard_normal())
            else:
                assert bits(K.next_double(words.words, ctl)) == bits(theirs.random())
        assert not ctl[K.OVERFLOW]
        words.sync(ctl)
        assert ours.bit_generator.state == theirs.bit_generator.state
        assert ours.integers(0, 2**40, 5).tolist() == theirs.integers(0, 2**40, 5).tolist()


def test_sin_cos_are_numpy_float64():
    """The kernels' sines and cosines (the C library's) equal numpy's on get_random_point's angles, and
    the engine's once-per-process check agrees."""
    rng = np.random.default_rng(5)
    angles = np.concatenate(
        [
            rng.uniform(0.0, 2 * np.pi, 200_000),
            np.arccos(rng.uniform(-1.0, 1.0, 200_000)),
            [0.0, -0.0, np.pi, 2 * np.pi, np.pi / 2, np.nextafter(2 * np.pi, 0), 1e-300],
        ]
    )
    out = np.empty((angles.size, 2))
    K.sin_cos(angles, out)
    assert bits(out[:, 0]) == bits(np.sin(angles))
    assert bits(out[:, 1]) == bits(np.cos(angles))
    assert bits([np.sin(a) for a in angles[:2000]]) == bits(out[:2000, 0])  # numpy's scalar calls too
    assert engine.trig_check() is None


def test_standard_normal_tails():
    """Many normals (about 0.7 % take the ziggurat's slow paths) equal the Generator's."""
    rng = np.random.default_rng(7)
    words = engine.RandomWords(rng)
    ctl = np.zeros(K.N_CTL, dtype=np.int64)
    words.draw(ctl, 400_000)
    ours = [K.standard_normal(words.words, ctl) for _ in range(300_000)]
    assert bits(ours) == bits(np.random.default_rng(7).standard_normal(300_000))


def test_exp_decision_is_numpy():
    """`draw < np.exp(-x)` for draws at, next to and far from np.exp(-x)."""
    rng = np.random.default_rng(3)
    xs = np.concatenate([rng.uniform(0, 50, N), [0.0, np.inf, 1e-300, 745.0, 800.0]])
    for x in xs:
        e = np.exp(-x * 1.0)
        for draw in (e, np.nextafter(e, 0), np.nextafter(e, 1), e * 0.5, min(1.0, e * 2), rng.random()):
            assert K.exp_less(draw, -x * 1.0) == (draw < np.exp(-x * 1.0)), (x, draw)


def test_step_size_is_draw_positive():
    from neurots.morphmath.sample import Distr

    for loc, scale in [(1.0, 0.2), (0.1, 1.0), (0.3, 0.0)]:
        theirs = np.random.default_rng(11)
        distr = Distr({"norm": {"mean": loc, "std": scale}}, random_generator=theirs)
        words = engine.RandomWords(np.random.default_rng(11))
        ctl = np.zeros(K.N_CTL, dtype=np.int64)
        words.draw(ctl, 100_000)
        ours = [K.step_size(loc, scale, words.words, ctl) for _ in range(5000)]
        assert bits(ours) == bits([distr.draw_positive() for _ in range(5000)])


def morphology_bytes(neuron) -> list:
    """Every section's type, points and diameters, as bytes."""
    return [(int(s.type), s.points.tobytes(), s.diameters.tobytes()) for s in neuron.iter()]


def metric_cell(constraints: dict, metric: str | None):
    """default_cell, with every tree's metric set to `metric` (None: as given)."""
    cell = default_cell(**copy.deepcopy(constraints))
    for neurite_type in cell.params["grow_types"] if metric else []:
        cell.params[neurite_type]["metric"] = metric
    return cell


@pytest.mark.parametrize(
    "constraints, metric",
    [
        ({}, None),
        ({"apical_dendrite": {"hard_limit_max": {"layer": 1, "fraction": 0.5}}}, None),
        ({}, "radial_distances"),
    ],
)
def test_cells_identical_with_both_engines(constraints, metric):
    """Whole cells (morphology, apical sections and points) grown by both engines are identical
    (path-distance stop criteria as given, and radial ones)."""
    engine.STATS.clear()
    for seed in range(12):
        ours = grow_cell(metric_cell(constraints, metric), seed, "compiled")
        theirs = grow_cell(metric_cell(constraints, metric), seed, "neurots")
        assert morphology_bytes(ours.neuron) == morphology_bytes(theirs.neuron)
        assert ours.apical_sections == theirs.apical_sections
        assert bits(ours.apical_points) == bits(theirs.apical_points)
    assert engine.STATS["compiled"] >= 12 and engine.STATS["fallback"] == 0


def test_engine_name_is_checked():
    with pytest.raises(ValueError, match="synthesis.engine must be one of"):
        grow_cell(default_cell(), 0, "fast")


def test_numba_cache_outside_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert engine.numba_cache_dir() == str(tmp_path / "circuitflow" / "numba")


def test_first_principal_axis_is_scikit_learn_pca():
    """The grafting jitter's PCA shortcut equals scikit-learn's full-SVD PCA bit for bit (C and F layouts,
    1 to 600 points, degenerate sets)."""
    from sklearn.decomposition import PCA

    from circuitflow.synthesis.grow import first_principal_axis

    rng = np.random.default_rng(5)
    cases = []
    for n in list(range(1, 40)) + [100, 499, 500, 501, 600] * 3:
        points = rng.normal(size=(n, 3)) * rng.uniform(0.1, 100, size=3)
        norms = np.linalg.norm(points, axis=1)
        cases.append((points.T / norms).T)  # F-ordered, as _principal_direction makes them
        cases.append(np.ascontiguousarray(cases[-1]))
    cases += [np.ones((5, 3)), np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])]
    for x in cases:
        expected = PCA(n_components=1, svd_solver="full").fit(x).components_[0]
        assert bits(first_principal_axis(x)) == bits(expected), x


def test_barcode_bin_centers_is_tmds():
    """The vectorized barcode_bin_centers gives tmd's bin centres and data, in the same order."""
    from circuitflow.synthesis import grow

    rng = np.random.default_rng(9)
    for n in [1, 2, 5, 30, 120]:
        for _ in range(20):
            ph = [[float(a), float(b), 0.1, 0.2] for a, b in rng.uniform(0, 500, size=(n, 2))]
            if n > 2:
                ph[0][:2] = [0.0, ph[1][1]]  # shared ends and a bar from 0
            ours = grow.barcode_bin_centers(ph)
            theirs = grow._tmd_barcode_bin_centers(ph)
            assert bits(ours[0]) == bits(theirs[0])
            assert bits(ours[1]) == bits(theirs[1]) and len(ours[1]) == len(theirs[1])
    ph = [[1, 5], [2, 3]]
    assert bits(grow.barcode_bin_centers(ph)[1]) == bits(grow._tmd_barcode_bin_centers(ph)[1])


def test_json_copy_is_a_deep_copy():
    from circuitflow.synthesis.grow import JsonDict, json_copy

    data = {"a": [1, 2.5, [3, {"b": None}]], "c": {"d": "e", "f": True}, "g": np.arange(3)}
    copied = copy.deepcopy(json_copy(data))
    assert type(copied) is JsonDict and type(copied["c"]) is JsonDict
    assert repr(copied) == repr(data)
    copied["a"][2][1]["b"] = 1
    copied["g"][0] = 5
    assert data["a"][2][1]["b"] is None and data["g"][0] == 0


def test_json_copy_is_deepcopy_on_random_json():
    """json_copy gives what copy.deepcopy gives (values, nesting, types, dicts as JsonDict) on random
    nested JSON-like data with FrozenLists, tuples and arrays, shares exactly the immutable values and
    FrozenLists, and copies every container."""
    from circuitflow.synthesis.grow import FrozenList, JsonDict, json_copy

    def plain(value):
        if isinstance(value, dict):
            return ("dict", [(k, plain(v)) for k, v in value.items()])
        if isinstance(value, list):
            return (type(value).__name__, [plain(v) for v in value])
        if isinstance(value, np.ndarray):
            return ("array", value.tobytes())
        return (type(value).__name__, repr(value))

    def containers(value):
        if isinstance(value, (dict, list, np.ndarray)) and not isinstance(value, FrozenList):
            yield value
            for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
                yield from containers(item)

    rng = np.random.default_rng(9)
    leaves = [
        lambda: None,
        lambda: True,
        lambda: int(rng.integers(-5, 5)),
        lambda: float(rng.normal()),
        lambda: "s",
        lambda: FrozenList([1.0, 2]),
        lambda: (1, 2.0),
        lambda: np.arange(3.0),
        lambda: -0.0,
    ]

    def random_json(depth=0):
        kind = rng.random()
        if depth < 4 and kind < 0.3:
            return {f"k{i}": random_json(depth + 1) for i in range(int(rng.integers(0, 5)))}
        if depth < 4 and kind < 0.5:
            return [random_json(depth + 1) for _ in range(int(rng.integers(0, 5)))]
        return leaves[int(rng.integers(len(leaves)))]()

    for _ in range(2000):
        data = random_json()
        ours, theirs = json_copy(data), copy.deepcopy(data)
        assert plain(ours) == plain(theirs)
        assert all(type(d) is JsonDict for d in containers(ours) if isinstance(d, dict))
        assert not {id(c) for c in containers(ours)} & {id(c) for c in containers(data)}


def test_self_check_sends_cells_to_neurots_when_numpy_differs(monkeypatch):
    """On a machine whose BLAS orders differ from the kernels', every cell grows with NeuroTS' loop."""
    assert engine.self_check() is None  # this machine: the kernels agree with numpy
    monkeypatch.setattr(engine, "_SELF_CHECK", [])
    monkeypatch.setattr(K, "norm3", lambda x0, x1, x2: float(np.sqrt(x0 * x0 + x1 * x1 + x2 * x2)) + 1e-300)
    assert "norms" in engine.self_check()
    engine.STATS.clear()
    ours = grow_cell(default_cell(), 3, "compiled")
    theirs = grow_cell(default_cell(), 3, "neurots")
    assert morphology_bytes(ours.neuron) == morphology_bytes(theirs.neuron)
    assert engine.STATS["compiled"] == 0 and engine.STATS["fallback"] == 0


def test_frozen_lists_are_shared_and_never_modified():
    """frozen_json keeps the values and the list/dict nesting; copies share the number lists, which refuse changes."""
    import pickle

    from circuitflow.synthesis.grow import FrozenList, frozen_json, json_copy

    data = {"ph": [[[1.0, 2, True], [3.5, -0.0]], []], "names": ["apical", "basal"], "mixed": [1, "a"], "n": 3}
    shared = frozen_json(data)
    assert shared == data and json.dumps(shared) == json.dumps(data)
    assert type(shared["ph"][0]) is FrozenList and type(shared["ph"][0][1]) is FrozenList
    assert (
        type(shared["ph"]) is list
        and type(shared["names"]) is list
        and type(shared["mixed"]) is list
        and shared["ph"][1] == []
    )
    for copied in (copy.deepcopy(shared), json_copy(shared), pickle.loads(pickle.dumps(shared))):
        assert copied == data
    assert copy.deepcopy(shared)["ph"][0] is shared["ph"][0] and json_copy(shared)["ph"][0] is shared["ph"][0]
    assert type(copy.copy(shared["ph"][0])) is list
    frozen = shared["ph"][0][0]
    for change in (
        lambda: frozen.append(1),
        lambda: frozen.sort(),
        lambda: frozen.__setitem__(0, 2.0),
        lambda: frozen.__delitem__(0),
        lambda: frozen.extend([1]),
        lambda: frozen.pop(),
    ):
        with pytest.raises(TypeError):
            change()
    with pytest.raises(TypeError):
        frozen += [1]
    assert frozen == [1.0, 2, True]


def grower_with_trunks(seed: int):
    """A NeuronGrower of default_cell after _grow_soma (as grow._grow_once builds it)."""
    from neurots import NeuronGrower

    from circuitflow.synthesis import grow

    cell = default_cell()
    debug: dict = {}
    context = {"debug_data": debug}
    params = grow.correct_parameters(cell, context, debug)
    params["origin"] = np.asarray(cell.position, dtype=float)
    grower = NeuronGrower(
        input_parameters=params,
        input_distributions=grow.json_copy(cell.distributions),
        skip_preprocessing=True,
        context=context,
        rng_or_seed=np.random.default_rng(seed),
    )
    grower._grow_soma()
    return grower


def section_state(section) -> tuple:
    """Everything a SectionGrower holds, comparable (arrays as bytes, stop criteria as values)."""
    return (
        type(section),
        section.parent,
        section.id,
        bits(section.direction),
        section.children,
        [bits(p) for p in section.points],
        section.params,
        {key: vars(stop) for key, stop in section.stop_criteria.items()},
        section.process,
        list(section.latest_directions),
        section.latest_directions.maxlen,
        repr(section.context),
        section._rng,
        section.step_size_distribution,
        section.pathlength,
    )


def test_new_section_is_tree_add_section():
    """KernelState.new_section builds the SectionGrower TreeGrower.add_section builds, and rejects the
    same near-zero directions."""
    from neurots.generate.algorithms.common import TMDStop

    rng = np.random.default_rng(7)
    engine.load_kernels()
    for seed in range(3):
        grower = grower_with_trunks(seed)
        state = engine.KernelState(grower)
        level = morphio.PointLevel([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], [1.0, 1.0])
        parent = grower.neuron.append_root_section(level, morphio.SectionType.basal_dendrite)
        for t, tree in enumerate(state.trees):
            for scale in (1.0, 1e-3, 1e-8, 1.0000001e-8, 0.99e-8, 0.0, np.inf, np.nan):
                direction = rng.normal(size=3) * scale
                kwargs = {
                    "direction": direction if rng.random() < 0.5 else direction.tolist(),
                    "first_point": rng.normal(size=3 + int(rng.integers(0, 2))),
                    "stop": {"TMD": TMDStop(1, rng.random(), 2, 2.0 + rng.random(), 0.5)},
                    "process": "major" if rng.random() < 0.5 else "secondary",
                    "pathlength": rng.random() * 100,
                }
                results = []
                for build in (tree.add_section, lambda **kw: state.new_section(t, **kw)):
                    before = len(tree.active_sections)
                    stop = copy.deepcopy(kwargs["stop"])  # new_section takes over bifurcate's fresh stop
                    try:
                        section = build(parent=parent, **{**kwargs, "stop": stop})
                    except AssertionError as exc:
                        results.append(str(exc))
                        continue
                    assert tree.active_sections[before:] == [section]
                    results.append(section_state(section))
                assert results[0] == results[1]


def test_remembered_rotations_are_neurots_rotations():
    """grow.rotation_around_axis (installed in neurots) gives neurots' matrices, on first and later calls,
    for float, int and list axes and float, numpy and signed-zero angles; the shared matrices are read-only."""
    from neurots.morphmath import rotation

    from circuitflow.synthesis import grow

    assert rotation.rotation_around_axis is grow.rotation_around_axis
    rng = np.random.default_rng(3)
    axes = [np.array([1, 0, 0]), np.array([0, 0, 1]), [0.0, 1.0, 0.0]] + list(rng.normal(size=(20, 3)))
    angles = [0.0, -0.0, 0, np.float64(-0.0), np.float32(0.5), 0.5] + list(rng.uniform(-4, 4, 40))
    for _ in range(3):
        for axis in axes:
            for angle in angles:
                ours = grow.rotation_around_axis(axis, angle)
                theirs = grow._rotation_around_axis(axis, angle)
                assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes(), (axis, angle)
                assert not ours.flags.writeable
                vec = rng.normal(size=3)
                assert rotation.rotate_vector(vec, axis, angle).tobytes() == np.dot(theirs, vec).tobytes()


def test_point_to_section_segment_is_neurots():
    """grow.point_to_section_segment (installed in NeuroTS' grower) finds the section and row neurots' finds,
    and fails alike, on grown cells' points, points near them, repeated points and far ones."""
    import morphio
    from neurots.generate import grower as neurots_grower
    from neurots.utils import point_to_section_segment as theirs

    from circuitflow.synthesis import grow

    assert neurots_grower.point_to_section_segment is grow.point_to_section_segment
    rng = np.random.default_rng(5)
    for seed in range(6):
        neuron = grow_cell(default_cell(), seed, "compiled").neuron
        if seed % 2:
            neuron = morphio.mut.Morphology(neuron)
        if seed > 3:  # ids no longer 0..n-1 in iteration order
            neuron.delete_section(neuron.root_sections[seed - 4], recursive=True)
        every = np.vstack([s.points for s in neuron.iter()])
        picks = every[rng.integers(0, len(every), 60)].astype(float)
        queries = list(picks) + list(picks + rng.normal(scale=1e-4, size=picks.shape)) + [every[0], every[-1]]
        queries += [picks[0] * (1 + 1e-6), np.array([1e9, 0.0, 0.0]), np.array([np.nan, 0.0, 0.0])]
        for point in queries:
            try:
                expected = theirs(neuron, point)
            except ValueError as exc:
                with pytest.raises(ValueError, match=re.escape(str(exc))):
                    grow.point_to_section_segment(neuron, point)
                continue
            ours = grow.point_to_section_segment(neuron, point)
            assert ours == expected and [type(v) for v in ours] == [type(v) for v in expected]


def test_remembered_rounding_is_neurots_round_num():
    """grow.round_num (installed in NeuroTS' Barcode) returns what neurots.basic.round_num returns: value,
    type and sign of zero, first and later calls, for Python floats and ints and numpy scalars."""
    from neurots.basic import round_num as theirs
    from neurots.generate.algorithms import barcode

    from circuitflow.synthesis import grow

    assert barcode.round_num is grow.round_num
    rng = np.random.default_rng(11)
    values = [0.0, -0.0, 1, -3, 2.5e-5, -2.5e-5, 0.00005, 123.45675, np.float64(-0.0), np.float32(1.23456)]
    values += [float("nan"), float("inf"), -float("inf"), np.float64(123.45675), 5, 5.0]
    values += list(rng.normal(scale=300, size=200)) + [float(v) for v in rng.normal(scale=300, size=200)]
    for _ in range(2):
        for value in values:
            for decimals in (4, 2):
                ours, expected = grow.round_num(value, decimals), theirs(value, decimals)
                assert type(ours) is type(expected) and bits(ours) == bits(expected), value
                assert np.asarray(ours).dtype == np.asarray(expected).dtype


def random_barcode(rng):
    """A NeuroTS Barcode of 1 to 12 bars on a coarse grid (ties), some of its bars already used."""
    from neurots.generate.algorithms.barcode import Barcode

    n = int(rng.integers(1, 13))
    bif = rng.integers(0, 20, size=n) * 5.0
    term = bif + rng.integers(1, 20, size=n) * 5.0
    ph = [[t, b] + list(rng.uniform(-np.pi, np.pi, 4)) for t, b in zip(term, bif)]
    barcode = Barcode(ph)
    for bar in list(barcode.bifs):
        if rng.random() < 0.3:
            barcode.remove_bif(bar)
    for bar in list(barcode.terms):
        if rng.random() < 0.3:
            barcode.remove_term(bar)
    return barcode, n


def random_stop(rng, n):
    """A TMDStop with bars alive, used or None, finite and infinite bifurcations, and refs on the grid."""
    from neurots.generate.algorithms.common import TMDStop

    bif_id = None if rng.random() < 0.15 else int(rng.integers(0, n))
    bif = np.inf if rng.random() < 0.2 else float(rng.integers(0, 25) * 5.0)
    term_id = None if rng.random() < 0.15 else int(rng.integers(0, n))
    term = float(rng.integers(0, 40) * 5.0) if rng.random() < 0.9 else 0
    ref = float(rng.integers(0, 20) * 5.0) if rng.random() < 0.9 else float(rng.uniform(0, 100))
    return TMDStop(bif_id, bif, term_id, term, ref)


def test_kernel_curate_is_tmdalgo_extend():
    """kernels.curate re-picks a section's stop bars as TMDAlgo.extend does (ids, values, and "broken
    pipeline" where NeuroTS raises it), on random barcodes with used bars and random stop criteria."""
    from types import SimpleNamespace

    from neurots.generate.algorithms.tmdgrower import TMDAlgo
    from neurots.utils import NeuroTSError

    engine.load_kernels()
    rng = np.random.default_rng(21)
    algo = TMDAlgo.__new__(TMDAlgo)
    seen = {"broken": 0, "changed": 0, "same": 0}
    for _ in range(N):
        barcode, n = random_barcode(rng)
        stop = random_stop(rng, n)
        bars, order = np.zeros((1, 2, n)), np.full((1, 2, n), -1, dtype=np.int64)
        engine.barcode_arrays(barcode, bars[0], order[0])
        bif_alive = np.zeros((1, n), dtype=np.bool_)
        term_alive = np.zeros((1, n), dtype=np.bool_)
        bif_alive[0, list(barcode.bifs)] = True
        term_alive[0, list(barcode.terms)] = True
        slot_f = np.zeros((1, K.N_SLOT_F))
        slot_i = np.zeros((1, K.N_SLOT_I), dtype=np.int64)
        slot_f[0, [K.F_BIF, K.F_TERM, K.F_REF]] = stop.bif, stop.term, stop.ref
        slot_i[0, [K.I_BIF_ID, K.I_TERM_ID]] = [-1 if v is None else v for v in (stop.bif_id, stop.term_id)]
        needs = K.needs_curation(0, slot_f, slot_i, bif_alive, term_alive)
        algo.barcode = barcode
        section = SimpleNamespace(stop_criteria={"TMD": copy.deepcopy(stop)}, next=lambda: "continue")
        try:
            algo.extend(section)
        except NeuroTSError:
            assert needs and not K.curate(0, slot_f, slot_i, bars, order, bif_alive, term_alive)
            seen["broken"] += 1
            continue
        expected = section.stop_criteria["TMD"]
        if needs:
            assert K.curate(0, slot_f, slot_i, bars, order, bif_alive, term_alive)
        ids = [None if v < 0 else int(v) for v in slot_i[0, [K.I_BIF_ID, K.I_TERM_ID]]]
        assert ids == [expected.bif_id, expected.term_id], (vars(stop), vars(expected))
        assert bits(slot_f[0, [K.F_BIF, K.F_TERM]]) == bits([expected.bif, expected.term]), vars(stop)
        seen["changed" if vars(expected) != vars(stop) else "same"] += 1
    assert min(seen.values()) > N // 50, seen


def random_legacy_data(rng, depth=0):
    """Nested dicts and lists with legacy and current neurite type names as keys and list items, and
    FrozenLists of numbers."""
    names = ["apical", "basal", "apical_dendrite", "basal_dendrite", "axon", "x", "num_trees"]
    data = {}
    for _ in range(int(rng.integers(0, 5))):
        kind = rng.random()
        if kind < 0.3 and depth < 3:
            value = random_legacy_data(rng, depth + 1)
        elif kind < 0.6:
            value = [names[i] if rng.random() < 0.7 else float(i) for i in rng.integers(0, len(names), 4)]
        elif kind < 0.7:  # shared numbers (as chunk.shared_entry makes them): nothing to rename
            from circuitflow.synthesis.grow import FrozenList

            value = FrozenList([float(v) for v in rng.normal(size=int(rng.integers(0, 4)))])
        else:
            value = float(rng.normal())
        data[names[int(rng.integers(0, len(names)))]] = value
    return data


def test_legacy_conversion_is_neurots():
    """grow.convert_from_legacy_neurite_type (installed in NeuroTS' grower) renames what neurots' renames,
    in place, and returns the same object, on random nested data with legacy and current names."""
    import warnings

    from neurots.generate import grower as neurots_grower
    from neurots.utils import convert_from_legacy_neurite_type as theirs

    from circuitflow.synthesis import grow

    assert neurots_grower.convert_from_legacy_neurite_type is grow.convert_from_legacy_neurite_type
    rng = np.random.default_rng(8)
    renamed = failed = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for _ in range(3000):
            data = random_legacy_data(rng)
            ours_in, theirs_in = copy.deepcopy(data), copy.deepcopy(data)
            results = []
            for convert, data_in in ((grow.convert_from_legacy_neurite_type, ours_in), (theirs, theirs_in)):
                try:
                    converted = convert(data_in)
                    assert converted is data_in
                    results.append(repr(converted))
                except (AttributeError, TypeError) as exc:  # a legacy key whose value replaced another type
                    results.append(f"{exc}, {data_in!r}")
            assert results[0] == results[1], data
            renamed += results[0] != repr(data)
            failed += "object" in results[0]
    assert renamed > 500 and failed > 10


def barcode_state(barcode, n):
    """The barcode arrays kernel_stop_criteria reads, for one tree (t = 0) with this Barcode."""
    from types import SimpleNamespace

    state = SimpleNamespace(bars=np.zeros((1, 2, n)), order=np.full((1, 2, n), -1, dtype=np.int64))
    engine.barcode_arrays(barcode, state.bars[0], state.order[0])
    state.bif_alive = np.zeros((1, n), dtype=np.bool_)
    state.term_alive = np.zeros((1, n), dtype=np.bool_)
    state.bif_alive[0, list(barcode.bifs)] = True
    state.term_alive[0, list(barcode.terms)] = True
    state.stop_i, state.stop_f = np.zeros((2, 2), dtype=np.int64), np.zeros((2, 2))
    return state


def test_stop_criteria_are_tmdalgo_get_stop_criteria():
    """engine.kernel_stop_criteria (on the barcode as arrays) gives the children's stop criteria
    TMDAlgo.get_stop_criteria gives, sets the same reference on the section's, and raises alike, on random
    barcodes with used bars and random stop criteria."""
    from types import SimpleNamespace

    from neurots.generate.algorithms.tmdgrower import TMDAlgo
    from neurots.utils import NeuroTSError

    rng = np.random.default_rng(33)
    seen = {"same bif": 0, "other bif": 0}
    for _ in range(N // 2):
        barcode, n = random_barcode(rng)
        stop = random_stop(rng, n)
        pathlength = float(rng.integers(0, 30) * 5.0) if rng.random() < 0.8 else float(rng.uniform(0, 150))
        results = []
        for ours in (False, True):
            algo = TMDAlgo.__new__(TMDAlgo)
            algo.barcode = copy.deepcopy(barcode)
            section = SimpleNamespace(stop_criteria={"TMD": copy.deepcopy(stop)}, pathlength=pathlength)
            if ours:
                engine.load_kernels()
                state = barcode_state(algo.barcode, n)
                algo.get_stop_criteria = lambda current, algo=algo, state=state: engine.kernel_stop_criteria(
                    state, 0, algo, current
                )
            try:
                stops = algo.get_stop_criteria(section)
            except NeuroTSError as exc:
                results.append(("raised", str(exc), vars(section.stop_criteria["TMD"])))
                continue
            assert stops[0]["TMD"] is not stops[1]["TMD"] and stops[0]["TMD"] is not section.stop_criteria["TMD"]
            results.append(
                (
                    [{key: repr(value) for key, value in vars(s["TMD"]).items()} for s in stops],
                    vars(section.stop_criteria["TMD"]),
                    repr((algo.barcode.bifs, algo.barcode.terms, algo.barcode.angles)),
                )
            )
        assert results[0] == results[1], (vars(stop), pathlength)
        seen["same bif" if results[0][0][0]["bif"] == results[0][0][1]["bif"] else "other bif"] += 1
    assert min(seen.values()) > N // 100, seen


def test_add_child_is_new_section_then_add_slot():
    """KernelState.add_child fills the kernel arrays (slot, its point, last direction) as new_section,
    the parent's last direction appended, then add_slot do."""
    from neurots.generate.algorithms.common import TMDStop

    rng = np.random.default_rng(9)
    engine.load_kernels()
    grower = grower_with_trunks(1)
    states = [engine.KernelState(grower), engine.KernelState(grower)]
    for t in range(len(states[0].trees)):
        for _ in range(100):
            child = {
                "direction": rng.normal(size=3) * rng.choice([1.0, 1e-3, 1e3]),
                "first_point": rng.normal(size=3) * 100,
                "stop": {
                    "TMD": TMDStop(
                        None if rng.random() < 0.1 else int(rng.integers(0, 3)),
                        rng.random(),
                        None if rng.random() < 0.1 else 2,
                        2.0 + rng.random(),
                        np.float64(rng.random()) if rng.random() < 0.3 else 0.5,
                    )
                },
                "process": "major" if rng.random() < 0.5 else "secondary",
            }
            latest, pathlength = rng.normal(size=3), rng.random() * 100
            ours = states[0].add_child(t, None, latest.copy(), pathlength, copy.deepcopy(child))
            section = states[1].new_section(t, parent=None, pathlength=pathlength, **copy.deepcopy(child))
            section.latest_directions.append(latest.copy())
            assert ours == states[1].add_slot(section, t)
            mine = states[0].sections[ours]
            assert [bits(d) for d in mine.latest_directions] == [bits(d) for d in section.latest_directions]
            mine.latest_directions.clear()
            section.latest_directions.clear()
            assert section_state(mine) == section_state(section)
    n = int(states[0].ctl[K.POOL_N])
    assert n == int(states[1].ctl[K.POOL_N])
    for name in ("slot_f", "slot_i", "latest", "nxt"):
        assert getattr(states[0], name).tobytes() == getattr(states[1], name).tobytes(), name
    assert states[0].pool[:n].tobytes() == states[1].pool[:n].tobytes()
    columns = [K.F_DIR, K.F_DIR + 1, K.F_DIR + 2, K.F_PATH, K.F_BIF, K.F_TERM, K.F_REF, K.F_LAST, K.F_LAST + 1]
    assert columns + [K.F_LAST + 2] == list(range(K.N_SLOT_F))  # the row add_child writes at once


def bifurcation_cases(rng: np.random.Generator) -> tuple[list, list]:
    """y_rotations (None, identity, random orthogonal, Fortran- and C-ordered) and bar angle sets (float,
    numpy and signed-zero angles; Python floats as the barcodes hold them, with zeros, NaN and ints)."""
    y_rotations = [None, np.eye(3)] + [np.linalg.qr(rng.normal(size=(3, 3)))[0] for _ in range(4)]
    y_rotations += [np.asfortranarray(y_rotations[-1]), np.ascontiguousarray(y_rotations[-1])]
    angle_sets = [[0.0, -0.0, 0.0, -0.0], np.array([0.5, -0.0, 1.0, 2.0])]
    angle_sets += [list(rng.uniform(-4, 4, 4)) for _ in range(60)] + list(rng.uniform(-4, 4, (60, 4)))
    angle_sets += [rng.uniform(-4, 4, 4).tolist() for _ in range(60)]
    angle_sets += [[0.5, -0.0, 1.0, 2.0], [0.5, 0.0, 1.0, 2.0], [float("nan"), 1.0, 1, 2.0], [1, 1.0, 1.0, 1]]
    return y_rotations, angle_sets


def test_bio_oriented_is_neurots():
    """engine.bio_oriented (matrices remembered per y_rotation and angles) gives NeuroTS' two directions,
    bit for bit, with and without y_rotation, for float, numpy and signed-zero angles, first and later calls."""
    from neurots.morphmath import bifurcation

    rng = np.random.default_rng(11)
    y_rotations, angle_sets = bifurcation_cases(rng)
    for _ in range(2):
        for y_rotation in y_rotations:
            for angles in angle_sets:
                for direction in random_vectors(rng, 8):
                    ours = engine.bio_oriented(direction, angles=angles, y_rotation=y_rotation)
                    theirs = bifurcation.bio_oriented(direction, angles=angles, y_rotation=y_rotation)
                    assert bits(ours) == bits(theirs), (direction, angles, y_rotation)
                    assert all(type(o) is type(t) and o.shape == t.shape for o, t in zip(ours, theirs))


def test_compiled_trees_bifurcate_with_bio_oriented():
    """speed_up_algorithm gives bio_oriented algorithms engine.bio_oriented, and only those."""
    from neurots.morphmath import bifurcation

    for method, expected in (
        (bifurcation.bio_oriented, engine.bio_oriented),
        (bifurcation.symmetric, bifurcation.symmetric),
    ):
        algo = type("Algo", (), {})()
        algo.bif_method = method
        algo.barcode = type("Barcode", (), {})()
        engine.speed_up_algorithm(algo)
        assert algo.bif_method is expected


def test_barcode_scaling_is_region_growers():
    """grow.scale_default_barcode / scale_target_barcode (the barcode converted once) give region-grower's
    scaled barcodes and debug values (np.nanmax on the list, then tmd_scale), bit for bit and type for type."""
    from tmd.Topology.transformations import tmd_scale

    from circuitflow.synthesis import grow

    def default(ph, context, reference_thickness, target_thickness):
        max_p = np.nanmax(ph, axis=0)[0]
        if reference_thickness != 1 and target_thickness != 1:
            scaling_reference = min(reference_thickness / max_p, 1.0)
            scaling_ratio = scaling_reference * target_thickness / reference_thickness
        else:
            max_p = None
            scaling_ratio = 1.0
        context["debug_data"]["default_func"]["scaling"].append({"max_ph": max_p, "scaling_ratio": scaling_ratio})
        return tmd_scale(ph, scaling_ratio)

    def target(ph, context, target_path_distance):
        max_ph = np.nanmax(ph, axis=0)[0]
        scaling_ratio = target_path_distance / max_ph
        context["debug_data"]["target_func"]["scaling"].append({"max_ph": max_ph, "scaling_ratio": scaling_ratio})
        return tmd_scale(ph, scaling_ratio)

    def context():
        return {"debug_data": {"default_func": {"scaling": []}, "target_func": {"scaling": []}}}

    def same(a, b):
        assert type(a) is type(b), (a, b)
        if isinstance(a, (list, tuple)):
            assert len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        elif isinstance(a, dict):
            assert a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        elif a is not None:
            assert bits(a) == bits(b), (a, b)
        return True

    rng = np.random.default_rng(21)
    for i in range(3000):
        n, width = int(rng.integers(1, 30)), int(rng.choice([2, 4, 6]))
        ph = rng.uniform(0, 10.0 ** rng.uniform(0, 3), size=(n, width))
        if i % 7 == 0:
            ph[rng.integers(n), 0] = np.nan
        if i % 11 == 0:
            ph[:, :2] = np.round(ph[:, :2])
        if i % 13 == 0:
            ph[:, 0] = -0.0 if i % 2 else 0.0
        bars = ph.tolist() if i % 5 or np.isnan(ph).any() else [[int(v) for v in row] for row in np.round(ph)]
        if i % 17 == 0:
            bars = grow.frozen_json(bars)
        ref, tgt = rng.choice([1, 1.0, rng.uniform(50, 500)]), rng.choice([1, rng.uniform(50, 500)])
        ours_context, their_context = context(), context()
        with np.errstate(all="ignore"):
            ours = grow.scale_default_barcode(bars, ours_context, ref, tgt, with_debug_info=True)
            theirs = default(bars, their_context, ref, tgt)
            same(ours, theirs)
            distance = rng.uniform(10, 2000)
            same(grow.scale_target_barcode(bars, ours_context, distance, True), target(bars, their_context, distance))
        same(ours_context, their_context)


SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 1.0 - 1e-17, 1e-300, -1e-300, np.nan, np.inf, -np.inf, 2.0, 1e-08, 1 + 1e-12]


def test_section_parameters_are_neurots():
    """grow.create_section_parameters (installed in neurots.generate.tree) gives NeuroTS' SectionParameters,
    values and types, and raises NeuroTS' error where NeuroTS does."""
    from neurots.generate import tree
    from neurots.utils import NeuroTSError

    from circuitflow.synthesis import grow

    assert tree._create_section_parameters is grow.create_section_parameters
    rng = np.random.default_rng(5)
    values = SPECIAL + list(rng.uniform(-0.5, 1.5, 300)) + list(np.float64(rng.uniform(0, 1, 100))) + [0, 1, True]
    for _ in range(20_000):
        params = {"randomness": values[rng.integers(len(values))], "targeting": values[rng.integers(len(values))]}
        with np.errstate(all="ignore"):
            try:
                theirs = grow._create_section_parameters(params)
            except NeuroTSError as exc:
                with pytest.raises(NeuroTSError, match=re.escape(str(exc))):
                    grow.create_section_parameters(params)
                continue
            ours = grow.create_section_parameters(params)
        assert type(ours) is type(theirs)
        for a, b in zip(ours, theirs):
            assert type(a) is type(b) and bits(a) == bits(b), (params, ours, theirs)


def test_clip_unit_is_numpy_clip():
    from circuitflow.synthesis import grow

    rng = np.random.default_rng(6)
    for value in SPECIAL + list(rng.uniform(-2, 2, 2000)) + list(np.float64(rng.uniform(-2, 2, 200))):
        ours, theirs = grow.clip_unit(value), np.clip(value, 0.0, 1.0)
        assert type(ours) is type(theirs) and bits(ours) == bits(theirs), value


def test_orientation_from_point_is_neurots():
    """grow.orientation_from_point (installed on neurots' Soma) returns NeuroTS' orientation, or raises
    its ValueError, for points far from, near and at the center, with infinities and NaNs."""
    from neurots.generate.soma import Soma

    from circuitflow.synthesis import grow

    assert Soma.orientation_from_point is grow.orientation_from_point
    rng = np.random.default_rng(7)
    for i in range(20_000):
        center = rng.normal(scale=10.0 ** rng.uniform(-3, 3), size=3)
        soma = Soma(center=center, radius=1.0) if i % 2 else Soma(center=list(center), radius=1.0)
        offset = rng.normal(size=3) * rng.choice([1e-12, 5e-9, 1e-8, 2e-8, 1.0, 0.0])
        point = np.asarray(soma.center) + offset
        if i % 50 == 0:
            point[rng.integers(3)] = rng.choice([np.nan, np.inf, -np.inf])
        if i % 53 == 0:
            point = list(point)
        outcomes = []
        for function in (grow.orientation_from_point, grow._orientation_from_point):
            try:
                with np.errstate(all="ignore"):
                    outcomes.append(bits(function(soma, point)))
            except ValueError as exc:
                outcomes.append(str(exc))
        assert outcomes[0] == outcomes[1], (center, point)


@pytest.mark.parametrize("form", ["flat", "step", "double_step"])
def test_trunk_probabilities_are_neurots(form):
    """grow.get_probability_function (installed in neurots' orientations) gives NeuroTS' probabilities,
    value and type, for scalar and array angles, with and without density, first and later calls."""
    from neurots.generate import orientations

    from circuitflow.synthesis import grow

    assert orientations.get_probability_function is grow.get_probability_function
    rng = np.random.default_rng(8)
    n_params = {"flat": 0, "step": 2, "double_step": 4}[form]
    param_sets = [list(rng.uniform(-3, 3, n_params)) for _ in range(30)] + [[0.5, -0.0, 1.0, 2.0][:n_params]]
    param_sets += [list(np.float64(rng.uniform(0.1, 3, n_params))) for _ in range(10)]
    for _ in range(2):
        for params in param_sets:
            for with_density in (False, True):
                ours = grow.get_probability_function(form=form, with_density=with_density)
                theirs = grow._get_probability_function(form=form, with_density=with_density)
                angles = list(rng.uniform(0, np.pi, 20)) + [0.0, np.pi, np.float64(1.0), rng.uniform(0, np.pi, 5)]
                for angle in angles:
                    outcomes = []
                    for function in (ours, theirs):
                        try:
                            with np.errstate(all="ignore"):
                                value = function(angle, *params)
                            outcomes.append((type(value), bits(value)))
                        except ZeroDivisionError as exc:
                            outcomes.append(str(exc))
                    assert outcomes[0] == outcomes[1], (form, params, angle, with_density)


def test_directional_is_neurots():
    """engine.directional (installed for TMDApicalAlgo) gives NeuroTS' two directions, the first the
    same object, bit for bit, with and without y_rotation, first and later calls."""
    from neurots.generate.algorithms.common import bif_methods
    from neurots.morphmath import bifurcation

    assert bif_methods["directional"] is engine.directional
    rng = np.random.default_rng(12)
    y_rotations, angle_sets = bifurcation_cases(rng)
    for _ in range(2):
        for y_rotation in y_rotations:
            for angles in angle_sets:
                for direction in random_vectors(rng, 8):
                    ours = engine.directional(direction, angles=angles, y_rotation=y_rotation)
                    theirs = bifurcation.directional(direction, angles=angles, y_rotation=y_rotation)
                    assert ours[0] is direction and bits(ours) == bits(theirs), (direction, angles, y_rotation)


def test_section_grower_init_is_neurots():
    """grow.section_grower_init (installed as SectionGrower.__init__) sets NeuroTS' attributes, bit for
    bit, and asserts on the same (near-)zero directions, NaN and infinite ones passing as upstream."""
    from neurots.generate.section import SectionGrowerPath

    from circuitflow.synthesis import grow

    assert SectionGrower.__init__ is grow.section_grower_init
    rng = np.random.default_rng(13)
    directions = list(random_vectors(rng, 3000)) + [np.zeros(3), np.full(3, 1e-9), np.array([5e-9, 0, 0])]
    directions += [np.array([np.nan, 1, 0]), np.array([np.inf, 0, 0]), [0.0, 1.0, 0.0], np.array([1, 2, 3])]
    for i, direction in enumerate(directions):
        args = (None if i % 2 else "parent", 0, rng.normal(size=4), direction, "params", "major", {}, "distr", 3.5)
        made = []
        for init in (grow.section_grower_init, grow._section_grower_init):
            section = SectionGrowerPath.__new__(SectionGrowerPath)
            try:
                with np.errstate(all="ignore"):
                    init(section, *args, context={"c": 1}, random_generator="rng")
            except AssertionError as exc:
                made.append(str(exc))
                continue
            state = {k: v for k, v in vars(section).items() if k not in ("direction", "points", "latest_directions")}
            made.append(
                (state, bits(section.direction), [bits(p) for p in section.points], section.latest_directions.maxlen)
            )
        assert made[0] == made[1], direction


def test_uniform_diameters_are_diametrize_uniform():
    """Sections appended with engine.uniform_diameters' values (NeuroTS' default diameter for the types
    it leaves out) get the diameters NeuronGrower._diametrize gives them with the "uniform" method, for
    random parameters (floats, ints, missing or None types, explicit neurite_types); other methods and
    unusual values are left to NeuroTS' diametrizer (None)."""
    from types import SimpleNamespace

    from neurots.generate import diametrizer
    from neurots.generate.tree import DEFAULT_DIAMETER

    kinds = [morphio.SectionType.basal_dendrite, morphio.SectionType.apical_dendrite, morphio.SectionType.axon]
    rng = np.random.default_rng(12)
    seen = {"values": 0, "none": 0}
    for _ in range(400):
        diam_params = {"method": "uniform"}
        for kind in kinds:
            if rng.random() < 0.8:
                diam_params[kind.name] = [float(rng.uniform(0.1, 3)), int(rng.integers(1, 4)), None][rng.integers(3)]
        if rng.random() < 0.3:
            diam_params["neurite_types"] = [kind.name for kind in kinds if rng.random() < 0.6]
        method = "uniform" if rng.random() < 0.9 else "M1"
        if rng.random() < 0.05:
            diam_params["basal_dendrite"] = "0.5"
        grower = SimpleNamespace(
            input_distributions={"diameter": {"method": method}},
            input_parameters={"diameter_params": diam_params, "grow_types": [k.name for k in kinds[:2]]},
        )
        values = engine.uniform_diameters(grower)
        seen["none" if values is None else "values"] += 1
        if values is None:
            assert method != "uniform" or diam_params.get("basal_dendrite") == "0.5"
            continue
        theirs, ours = morphio.mut.Morphology(), morphio.mut.Morphology()
        for _ in range(int(rng.integers(1, 6))):
            kind = kinds[rng.integers(3)]
            points = rng.normal(size=(int(rng.integers(1, 8)), 3)).tolist()
            root = theirs.append_root_section(morphio.PointLevel(points, [DEFAULT_DIAMETER] * len(points)), kind)
            root.append_section(morphio.PointLevel(points, [DEFAULT_DIAMETER] * len(points)))
            diameter = values.get(kind, DEFAULT_DIAMETER)
            root = ours.append_root_section(morphio.PointLevel(points, [diameter] * len(points)), kind)
            root.append_section(morphio.PointLevel(points, [diameter] * len(points)))
        neurite_types = diam_params.get("neurite_types")  # NeuronGrower._diametrize's choice
        if neurite_types is None:
            neurite_types = grower.input_parameters["grow_types"]
        diametrizer.build(theirs, {}, neurite_types=neurite_types, diam_method="uniform", diam_params=diam_params)
        assert morphology_bytes(ours) == morphology_bytes(theirs), diam_params
    assert min(seen.values()) > 10, seen


def test_post_grow_is_neurots():
    """grow.post_grow (installed as NeuronGrower._post_grow) gives the morphology and apical sections
    NeuroTS' _post_grow gives, on cells grown by the kernel."""
    from neurots.generate.grower import NeuronGrower

    from circuitflow.synthesis import grow

    assert NeuronGrower._post_grow is grow.post_grow
    for seed in range(4):
        grower, theirs = grower_with_trunks(seed), grower_with_trunks(seed)
        engine.grow_neurites(grower)
        engine.grow_neurites(theirs)
        assert grower.apical_sections and grower.apical_sections == theirs.apical_sections
        grower.apical_sections.append(None)
        theirs.apical_sections.append(None)
        grow.neurots_post_grow(theirs)
        grower._post_grow()
        assert grower.apical_sections == theirs.apical_sections
        assert morphology_bytes(grower.neuron) == morphology_bytes(theirs.neuron)
        assert [s.id for s in grower.neuron.iter()] == [s.id for s in theirs.neuron.iter()]


def test_grown_cells_are_freed_without_the_cycle_collector():
    """After grow_cell, a compiled cell's growers, trees, sections, stop criteria and trunk orientation
    manager are freed by reference counting (engine.release, engine.release_trees, grow.ModeMethods):
    the cyclic collector finds (almost) nothing, not the ~1,070 objects per cell it found when the
    engine's partials, the diametrizer closure and the orientation manager's methods held cycles."""
    import gc

    grow_cell(default_cell(), 0, "compiled")
    gc.collect()
    gc.disable()
    try:
        for seed in range(3):
            grow_cell(default_cell(), seed, "compiled")
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert unreachable < 30, unreachable


def test_orientation_manager_modes_are_neurots():
    """grow.OrientationManager maps the same mode names, in the same order, to the same bound methods as
    NeuroTS' OrientationManager, rejects unknown modes with the same error, computes the same trunk
    orientations from the same draws, and is freed by reference counting."""
    import weakref

    from neurots.generate import orientations
    from neurots.utils import NeuroTSError

    from circuitflow.synthesis import grow

    grower = grower_with_trunks(0)
    kwargs = {
        "soma": grower.soma_grower.soma,
        "parameters": grower.input_parameters,
        "distributions": grower.input_distributions,
        "context": grower.context,
    }
    ours = grow.OrientationManager(rng=np.random.default_rng(4), **kwargs)
    theirs = orientations.OrientationManager(rng=np.random.default_rng(4), **kwargs)
    assert list(ours._modes.keys()) == list(theirs._modes.keys()) and len(ours._modes) > 3
    assert repr(ours.mode_names) == repr(theirs.mode_names)
    for name in theirs._modes:
        assert name in ours._modes and ours._modes[name].__func__ is theirs._modes[name].__func__
        assert ours._modes[name].__self__ is ours
    for tree_type in grower.input_parameters["grow_types"]:
        assert bits(ours.compute_tree_type_orientations(tree_type)) == bits(
            theirs.compute_tree_type_orientations(tree_type)
        )
    for manager in (ours, theirs):
        manager._parameters = {"basal_dendrite": {"orientation": {"mode": "nope", "values": {}}}}
    messages = []
    for manager in (ours, theirs):
        with pytest.raises(NeuroTSError) as error:
            manager.compute_tree_type_orientations("basal_dendrite")
        messages.append(str(error.value))
    assert messages[0] == messages[1]
    alive = weakref.ref(ours)
    del ours
    assert alive() is None
