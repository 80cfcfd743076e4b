"""Morphologies as plain point tables (SWC row order): coordinates, radius, type, parent row.

Two readers give the same table:
* `read_swc`: a strict numpy SWC reader with Snudda's file rules (ids 1..n, parent < id, root at
  the origin with parent -1); used for Snudda-placed networks, where bit-identity with Snudda
  depends on reading the SWC rows exactly as they are.
* `read_morphio`: any format MorphIO reads (swc/asc/h5), contour somata and apical dendrites
  included: the soma becomes one point at the origin (radius = mean distance of the contour
  points), each root section is parented to it, child sections drop their duplicated first point.
Knows nothing about detection; errors name the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from circuitflow.errors import CircuitflowError

SOMA, AXON, BASAL, APICAL = 1, 2, 3, 4


class MorphologyError(CircuitflowError, ValueError):
    """A morphology file is missing, unreadable or breaks the point-table rules."""


@dataclass(frozen=True)
class PointTable:
    """Morphology points in row order: µm `xyz` (n,3) and `radius` (n,) float64, SWC `kind`, `parent` row (-1: root)."""

    path: str
    xyz: np.ndarray
    radius: np.ndarray
    kind: np.ndarray
    parent: np.ndarray


def read_swc(path: str | Path) -> PointTable:
    """Read an SWC file with Snudda's rules: consecutive ids from 1, parent < id, root row with parent -1 at the origin."""
    path = Path(path)
    if not path.is_file():
        raise MorphologyError(f"{path}: morphology file does not exist")
    text = path.read_text(encoding="utf-8", errors="replace")
    if "#" in text:
        text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    tokens = text.split()
    n_lines = len(text.strip().splitlines()) - text.count("\n\n") if tokens else 0
    if not tokens or len(tokens) % 7 or len(tokens) // 7 < n_lines:
        raise MorphologyError(f"{path}: SWC rows must have 7 columns (id type x y z r parent)")
    try:
        data = np.array(tokens, dtype=np.float64).reshape(-1, 7)
    except ValueError as exc:
        raise MorphologyError(f"{path}: not a numeric SWC table ({exc})") from None
    ids, parent = data[:, 0], data[:, 6]
    if ids[0] != 1 or np.any(np.diff(ids) != 1):
        raise MorphologyError(f"{path}: SWC ids must be consecutive from 1")
    if parent[0] != -1:
        raise MorphologyError(f"{path}: first SWC row must be the root (parent -1)")
    if np.any(parent[1:] < 1) or np.any(parent >= ids):
        bad = int(ids[np.flatnonzero((parent >= ids) | ((parent < 1) & (ids > 1)))[0]])
        raise MorphologyError(f"{path}: SWC point {bad} must have a parent id between 1 and its own id")
    if not np.all(data[0, 2:5] == 0):
        raise MorphologyError(f"{path}: SWC root point must be at the origin (0, 0, 0)")
    if np.any(data[:, 1] != np.round(data[:, 1])):
        raise MorphologyError(f"{path}: SWC types must be integers")
    return PointTable(
        path=str(path),
        xyz=data[:, 2:5],
        radius=data[:, 5],
        kind=data[:, 1].astype(np.int64),
        parent=(parent - 1).astype(np.int64),
    )


def read_morphio(path: str | Path, centre_tolerance_um: float = 1.0) -> PointTable:
    """Read any MorphIO format as a point table: one soma point at the origin, neurites parented to it.

    The soma is taken to be centred at the origin (synthesized cells are); the mean of its contour points
    may be a few µm off for irregular contours, and only a mean outside the soma radius is an error."""
    import morphio

    path = Path(path)
    if not path.is_file():
        raise MorphologyError(f"{path}: morphology file does not exist")
    morphio.set_maximum_warnings(0)
    try:
        morph = morphio.Morphology(str(path))
    except Exception as exc:  # morphio raises its own exception hierarchy
        raise MorphologyError(f"{path}: MorphIO cannot read it ({str(exc).strip().splitlines()[0]})") from None

    soma_pts = np.asarray(morph.soma.points, dtype=np.float64)
    if len(soma_pts) == 0:
        raise MorphologyError(f"{path}: morphology has no soma")
    centre = soma_pts.mean(axis=0)
    if len(soma_pts) == 1:
        soma_r = float(np.asarray(morph.soma.diameters, dtype=np.float64)[0]) / 2
    else:
        soma_r = float(np.linalg.norm(soma_pts, axis=1).mean())
    if np.linalg.norm(centre) > max(soma_r, centre_tolerance_um):
        raise MorphologyError(
            f"{path}: soma centre {centre.round(3).tolist()} µm is not at the origin "
            "(morphologies must be soma-centred)"
        )

    type_code = {
        morphio.SectionType.axon: AXON,
        morphio.SectionType.basal_dendrite: BASAL,
        morphio.SectionType.apical_dendrite: APICAL,
    }
    roots = sorted(morph.root_sections, key=lambda s: type_code.get(s.type, 99))  # stable: axon, basal, apical
    xyz = [np.zeros((1, 3))]
    radius = [np.array([soma_r])]
    kind = [np.array([SOMA])]
    parent = [np.array([-1])]
    last_row = {}
    n_rows = 1
    for root in roots:
        for sec in root.iter():
            code = type_code.get(sec.type)
            if code is None:
                raise MorphologyError(f"{path}: section {sec.id} has unsupported type {sec.type}")
            pts = np.asarray(sec.points, dtype=np.float64)
            rad = np.asarray(sec.diameters, dtype=np.float64) / 2
            if sec.is_root:
                par = 0
            else:
                par = last_row[sec.parent.id]
                if len(pts) and np.array_equal(pts[0], xyz_row(xyz, par, n_rows)):
                    pts, rad = pts[1:], rad[1:]
            if len(pts) == 0:
                last_row[sec.id] = par
                continue
            rows = np.arange(n_rows, n_rows + len(pts))
            xyz.append(pts)
            radius.append(rad)
            kind.append(np.full(len(pts), code))
            parent.append(np.concatenate([[par], rows[:-1]]))
            last_row[sec.id] = int(rows[-1])
            n_rows += len(pts)
    return PointTable(
        path=str(path),
        xyz=np.concatenate(xyz),
        radius=np.concatenate(radius),
        kind=np.concatenate(kind).astype(np.int64),
        parent=np.concatenate(parent).astype(np.int64),
    )


def xyz_row(blocks: list[np.ndarray], row: int, n_rows: int) -> np.ndarray:
    """Row `row` of the concatenation of `blocks` (without concatenating)."""
    start = n_rows
    for block in reversed(blocks):
        start -= len(block)
        if row >= start:
            return block[row - start]
    raise IndexError(row)
