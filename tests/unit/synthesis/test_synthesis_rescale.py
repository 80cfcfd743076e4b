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
