"""neuroc's recursive `scale_section` in one pass, bit for bit (hard limits, spec §4.5 and RG-13).

`scale_section(root, ScaleParameters(mean=scale), recursive=True)` visits the subtree in post-order:
each section's points become `points[0] + cumsum([0] + diff(points)) * factor` (the diff in float32,
MorphIO's storage, the rest in float64), and every descendant is then shifted by that section's last
point move through morph_tool's `translate` (`origin + ((p - origin) + shift)`, stored as float32 each
time). That walk is quadratic in depth and took about 8 ms a cell. A section's new points and shift
depend only on its own original points, so `scale_subtree` computes them all at once and applies the
shifts of each point's ancestors, nearest first, with the same roundings.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from circuitflow.synthesis.engine import numba_cache_dir  # noqa: F401  (sets NUMBA_CACHE_DIR first)

MIN_SCALE = 0.01  # neuroc's _clip_minimum_scaling


@njit(cache=True, error_model="numpy")
def scaled_points(points, starts, parents, factor):
    """New float32 points of a subtree: `points` (float32, sections concatenated in pre-order, section i
    in rows starts[i]:starts[i + 1]), `parents[i]` the index of section i's parent (-1 for the root)."""
    n_sections = starts.shape[0] - 1
    new = np.empty(points.shape, dtype=np.float64)
    shift = np.empty((n_sections, 3))
    for i in range(n_sections):
        first, last = starts[i], starts[i + 1]
        for c in range(3):
            cumulative = 0.0
            origin = np.float64(points[first, c])
            new[first, c] = origin + cumulative * factor
            for k in range(first + 1, last):
                cumulative = cumulative + np.float64(points[k, c] - points[k - 1, c])
                new[k, c] = origin + cumulative * factor
            shift[i, c] = new[last - 1, c] - np.float64(points[last - 1, c])
    out = np.empty(points.shape, dtype=np.float32)
    for i in range(n_sections):
        for k in range(starts[i], starts[i + 1]):
            for c in range(3):
                value = np.float32(new[k, c])
                ancestor = parents[i]
                while ancestor >= 0:
                    value = np.float32(0.0 + ((np.float64(value) - 0.0) + shift[ancestor, c]))
                    ancestor = parents[ancestor]
                out[k, c] = value
    return out


def scale_factor(scale: float) -> float:
    """The factor neuroc draws for ScaleParameters(mean=scale, std=0): `scale`, clipped below at 1 %."""
    return float(np.clip(np.float64(scale), MIN_SCALE, None))


def subtree(root, lengths: list | None = None) -> tuple[list, np.ndarray, np.ndarray]:
    """The sections of root's subtree in MorphIO's pre-order, their parents' indices and row starts
    (`lengths`: the sections' numbers of points, when the caller has them already)."""
    sections = list(root.iter())
    index = {section.id: i for i, section in enumerate(sections)}
    parents = np.array([-1] + [index[section.parent.id] for section in sections[1:]], dtype=np.int64)
    starts = np.zeros(len(sections) + 1, dtype=np.int64)
    if lengths is None:
        lengths = [len(section.points) for section in sections]
    starts[1:] = np.cumsum(lengths)
    return sections, parents, starts


def preorder(children: dict, root_id: int) -> tuple[list, np.ndarray]:
    """The section ids of root_id's subtree in MorphIO's pre-order (its depth-first iterator: a section,
    then each child's subtree in order), from a morphology's `connectivity` (id -> children ids), and
    each one's parent index in that list (-1 for the root)."""
    ids: list = []
    parents: list = []
    stack = [(root_id, -1)]
    while stack:
        section_id, parent = stack.pop()
        index = len(ids)
        ids.append(section_id)
        parents.append(parent)
        stack.extend((child, index) for child in reversed(children.get(section_id, ())))
    return ids, np.array(parents, dtype=np.int64)


def scale_subtree(root, scale: float, points: np.ndarray | None = None, layout: tuple | None = None) -> None:
    """neuroc.scale.scale_section(root, ScaleParameters(mean=scale), recursive=True), in place.
    `points`: the subtree's points stacked in pre-order, and `layout`: its `subtree(root)`, when the
    caller has them already."""
    sections, parents, starts = subtree(root) if layout is None else layout
    if points is None:
        points = np.vstack([section.points for section in sections])
    out = scaled_points(np.ascontiguousarray(points, dtype=np.float32), starts, parents, scale_factor(scale))
    for i, section in enumerate(sections):
        section.points = out[starts[i] : starts[i + 1]]
