"""rescale.scale_subtree equals neuroc's recursive scale_section bit for bit."""

from __future__ import annotations

import morphio
import numpy as np
import pytest
from neuroc.scale import ScaleParameters, scale_section

from circuitflow.synthesis.rescale import scale_subtree


def random_neuron(rng: np.random.Generator) -> morphio.mut.Morphology:
    """A morphology of 1-4 neurites of random depth (up to 40), points of random magnitude."""
    neuron = morphio.mut.Morphology()
    for _ in range(rng.integers(1, 5)):
        start = rng.normal(scale=10.0, size=3)
        leaves = [None]
        for _ in range(rng.integers(1, 80)):
            parent = leaves.pop(rng.integers(len(leaves))) if len(leaves) > 1 or leaves[0] is not None else leaves.pop()
            first = start if parent is None else parent.points[-1]
            n = int(rng.integers(1, 12))
            steps = rng.normal(scale=10.0 ** rng.uniform(-3, 2), size=(n, 3))
            points = np.vstack([first, first + np.cumsum(steps, axis=0)])[: max(n, 1) + (parent is None)]
            if rng.random() < 0.05:
                points[:, rng.integers(3)] = -0.0
            level = morphio.PointLevel(points.tolist(), [1.0] * len(points))
            kind = morphio.SectionType.basal_dendrite
            section = neuron.append_root_section(level, kind) if parent is None else parent.append_section(level)
            leaves += [section, section]
    return neuron


def all_points(neuron) -> bytes:
    return b"".join(section.points.tobytes() for section in neuron.iter())


@pytest.mark.parametrize("seed", range(40))
def test_scale_subtree_is_neurocs_scale_section(seed):
    rng = np.random.default_rng(seed)
    ours = random_neuron(rng)
    theirs = morphio.mut.Morphology(ours)
    scales = [1, 1.0, rng.uniform(0.2, 3.0), rng.uniform(0.0, 0.01), 0.5, 7.25]
    for root_ours, root_theirs in zip(ours.root_sections, theirs.root_sections):
        scale = scales[int(rng.integers(len(scales)))]
        scale_section(root_theirs, ScaleParameters(mean=scale), recursive=True, rng=np.random.default_rng(0))
        scale_subtree(root_ours, scale)
    assert all_points(ours) == all_points(theirs)
    assert all_points(ours) != all_points(random_neuron(np.random.default_rng(seed)))


def translate_then_hard_limits(neuron, cell, debug) -> None:
    """The former path: morph_tool's translate by -position, then each neurite's hard limit on the
    points read back from MorphIO (rescale.scale_subtree reading them itself)."""
    from morph_tool.transform import translate

    from circuitflow.synthesis import grow

    translate(neuron, -np.asarray(cell.position, dtype=float))
    u_c = cell.orientation.dot(grow.Y)
    constraints = cell.params.get("context_constraints", {})
    for root in neuron.root_sections:
        cons = constraints.get(grow.TYPE_NAMES[root.type], {})
        t_min = grow.constraint_distance(cell.current_depth, cell.layer_depths, cons.get("hard_limit_min"))
        t_max = grow.constraint_distance(cell.current_depth, cell.layer_depths, cons.get("hard_limit_max"))
        points = np.vstack([section.points for section in root.iter()])
        y_extent = points.dot(u_c).max() - root.points[0].dot(u_c)
        scale = 1
        if np.round(y_extent, 3) == 0:
            scale = 1
        elif t_min is not None and t_min / y_extent > 1:
            scale = t_min / y_extent
        elif t_max is not None and t_max / y_extent < 1:
            scale = t_max / y_extent
        if scale > cell.min_hard_scale:
            scale_subtree(root, scale)
        else:
            neuron.delete_section(root, recursive=True)
        if cell.with_debug and scale != 1:
            debug.setdefault("neurite_hard_limit_rescaling", {})[root.id] = scale


@pytest.mark.parametrize("seed", range(30))
def test_hard_limits_translate_as_morph_tool(seed):
    """grow.apply_hard_limits (translation fused in, points read and written once) leaves the same
    points, soma and neurites as morph_tool's translate followed by the hard limits on re-read points."""
    from types import SimpleNamespace

    from circuitflow.synthesis import grow

    rng = np.random.default_rng(seed)
    neuron = random_neuron(rng)
    n_soma = int(rng.integers(0, 8))
    neuron.soma.points = rng.normal(scale=5.0, size=(n_soma, 3)) + rng.normal(scale=100.0, size=3)
    neuron.soma.diameters = np.ones(n_soma)
    limits = {}
    for key in ("hard_limit_min", "hard_limit_max"):
        if rng.random() < 0.7:
            limits[key] = {"layer": int(rng.integers(1, 6)), "fraction": float(rng.uniform(0, 1))}
    orientation = np.linalg.qr(rng.normal(size=(3, 3)))[0] if rng.random() < 0.7 else np.identity(3)
    cell = SimpleNamespace(
        position=rng.normal(scale=10.0 ** rng.uniform(0, 4), size=3),
        orientation=orientation,
        params={"context_constraints": {"basal_dendrite": limits}},
        current_depth=float(rng.uniform(0, 600)),
        layer_depths=[0.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0],
        min_hard_scale=float(rng.choice([0.0, 0.2, 0.9])),
        with_debug=False,
    )
    theirs = morphio.mut.Morphology(neuron)
    translate_then_hard_limits(theirs, cell, {})
    grow.apply_hard_limits(neuron, cell, {})
    assert neuron.soma.points.tobytes() == theirs.soma.points.tobytes()
    assert [len(s.points) for s in neuron.iter()] == [len(s.points) for s in theirs.iter()]
    assert all_points(neuron) == all_points(theirs)


@pytest.mark.parametrize("seed", range(20))
def test_preorder_is_morphios_iteration(seed):
    """rescale.preorder on the connectivity lists a subtree's sections in root.iter() order, with the
    parents subtree() finds through each section's parent, and MorphIO's read-only copy holds their
    points in that order, neurite after neurite (what apply_hard_limits reads)."""
    from circuitflow.synthesis.rescale import preorder, subtree

    neuron = random_neuron(np.random.default_rng(seed))
    for root in list(neuron.root_sections)[:: 2 if seed % 2 else 3]:
        neuron.delete_section(root, recursive=True)  # ids no longer 0..n-1 (apply_hard_limits deletes)
    read_only = neuron.as_immutable()
    first = 0
    for root in neuron.root_sections:
        sections, parents, starts = subtree(root)
        ids, parents_again = preorder(neuron.connectivity, root.id)
        assert ids == [s.id for s in sections]
        assert parents.tolist() == parents_again.tolist()
        offsets = read_only.section_offsets[first : first + len(ids) + 1]
        assert (offsets - offsets[0]).tolist() == starts.tolist()
        rows = read_only.points[offsets[0] : offsets[-1]]
        assert rows.tobytes() == np.vstack([s.points for s in sections]).tobytes()
        first += len(ids)
    assert first == len(read_only.section_offsets) - 1
