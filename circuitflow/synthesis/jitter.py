"""Section scaling and rotational jitter of morphologies, as neuroc 0.3.0 does them.

region-grower calls neuroc's `scale_section`/`scale_morphology` (hard limits, donor scaling jitter)
and `rotational_jitter` (donor axons). neuroc imports scikit-learn at module level for one
principal-axis fit, which costs about 1 s per synthesis job; these are the same operations, in the
same floating-point order and with the same random draws, without that import. The tests compare
them with neuroc's own functions (and the fit with scikit-learn's PCA) bit for bit.
"""

from __future__ import annotations

import numpy as np
from morph_tool.transform import rotate, translate
from scipy import linalg
from scipy.spatial.transform import Rotation

MIN_SCALING = 0.01  # neuroc clips scaling factors to 1 % of the original length


def scale_section(section, mean: float = 1.0, std: float = 0.0, rng=np.random, recursive: bool = True) -> None:
    """Scale a section (and its subtree) by one factor drawn from N(mean, std), as neuroc's
    `scale_section(section, ScaleParameters(mean, std), recursive=True, rng=rng)`."""
    if recursive:
        for child in section.children:
            scale_section(child, mean, std, rng, True)
    vectors = np.append([[0, 0, 0]], np.diff(section.points, axis=0), axis=0)
    cumulative = np.cumsum(vectors, axis=0)
    factor = np.clip(rng.normal(mean, std), a_min=MIN_SCALING, a_max=None)
    cumulative *= factor
    new_points = section.points[0] + cumulative
    shift = new_points[-1] - section.points[-1]
    for child in section.children:
        translate(child, shift)
    section.points = new_points


def scale_morphology(neuron, std: float, rng) -> None:
    """Section-level scaling jitter N(1, std) of every neurite (neuroc's `scale_morphology`)."""
    for root in neuron.root_sections:
        scale_section(root, 1.0, std, rng, True)


def principal_direction(section) -> np.ndarray:
    """First principal axis of the normed directions from a section's start to its subtree points.

    Equal to scikit-learn's `PCA(n_components=1, svd_solver="full").fit(d).components_[0]`: centred
    data, scipy's SVD, and the sign rule of `svd_flip` (the largest entry of U's column is positive).
    neuroc lets scikit-learn pick a randomized solver, seeded from the global RNG, for subtrees over
    500 points, which makes runs irreproducible (spec RG-32); this is always the exact SVD.
    """
    p0 = section.points[0]
    points = np.vstack([child.points[1:] - p0 for child in section.iter()])
    norms = np.linalg.norm(points, axis=1)
    mask = norms > 0
    centred = (points[mask].T / norms[mask]).T
    centred = centred - np.mean(centred, axis=0)
    u, _, vt = linalg.svd(centred, full_matrices=False)
    sign = np.sign(u[np.argmax(np.abs(u[:, 0])), 0])
    return vt[0] * sign


def rotational_jitter(section, std_angle: float, rng, piece_number: int = 5) -> None:
    """neuroc's rotational jitter (mean 0, degrees, post-order draws) with the exact principal axis."""
    for child in section.children:
        rotational_jitter(child, std_angle, rng, piece_number)
    if section.is_root:
        return
    if not section.children:
        parent = section.parent
        direction = parent.points[-1] - parent.points[-int(min(piece_number, len(parent.points)))]
    else:
        direction = principal_direction(section)
    direction /= np.linalg.norm(direction)
    theta = rng.normal(0.0, std_angle) * np.pi / 180.0
    rotate(section, Rotation.from_rotvec(theta * direction).as_matrix(), origin=section.points[0])
