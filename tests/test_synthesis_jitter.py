"""circuitflow.synthesis.jitter equals neuroc's scaling/rotational jitter and scikit-learn's PCA, bit for bit."""

from pathlib import Path

import morphio
import numpy as np
import pytest
from neuroc.scale import ScaleParameters, scale_morphology, scale_section
from sklearn.decomposition import PCA

from circuitflow.synthesis import jitter

DONORS = Path(__file__).parent / "data" / "synthesis-column" / "inputs" / "donors"
DONOR_FILES = sorted(DONORS.glob("*.h5"))


def _points(neuron) -> np.ndarray:
    return np.vstack([s.points for s in neuron.iter()])


@pytest.mark.parametrize("path", DONOR_FILES, ids=lambda p: p.stem)
def test_scale_morphology_equals_neuroc(path):
    ours, theirs = morphio.mut.Morphology(path), morphio.mut.Morphology(path)
    jitter.scale_morphology(ours, 0.5, np.random.default_rng(7))
    scale_morphology(theirs, section_scaling=ScaleParameters(std=0.5), rng=np.random.default_rng(7))
    assert np.array_equal(_points(ours), _points(theirs))
    assert not np.array_equal(_points(ours), _points(morphio.mut.Morphology(path)))


@pytest.mark.parametrize("scale", [0.37, 1, 2.5])
def test_scale_section_equals_neuroc(scale):
    ours, theirs = (morphio.mut.Morphology(DONOR_FILES[0]) for _ in range(2))
    for a, b in zip(ours.root_sections, theirs.root_sections):
        jitter.scale_section(a, scale, 0.0, np.random.default_rng(0))
        scale_section(b, ScaleParameters(mean=scale), recursive=True, rng=np.random.default_rng(0))
    assert np.array_equal(_points(ours), _points(theirs))


@pytest.mark.parametrize("path", DONOR_FILES, ids=lambda p: p.stem)
def test_principal_direction_equals_full_svd_pca(path):
    neuron = morphio.mut.Morphology(path)
    checked = 0
    for section in neuron.iter():
        if not section.children:
            continue
        p0 = section.points[0]
        points = np.vstack([child.points[1:] - p0 for child in section.iter()])
        norms = np.linalg.norm(points, axis=1)
        directions = (points[norms > 0].T / norms[norms > 0]).T
        expected = PCA(n_components=1, svd_solver="full").fit(directions).components_[0]
        assert np.array_equal(jitter.principal_direction(section), expected)
        checked += 1
    assert checked > 10
