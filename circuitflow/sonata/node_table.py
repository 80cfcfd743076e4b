"""The SONATA nodes an edge job needs, read row-selectively (a job never reads the whole circuit's
positions or morphology names, only its mtype column as integer codes)."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from circuitflow.detect.sources import quaternion_matrices, type_name
from circuitflow.errors import CircuitflowError


class NodeTableError(CircuitflowError, ValueError):
    """The nodes file lacks a population or a column."""


def node_population(nodes_file: str | os.PathLike, population: str | None = None) -> str:
    """`population` if given, else the only node population of the file."""
    with h5py.File(nodes_file, "r") as f:
        pops = list(f["nodes"]) if "nodes" in f else []
    if population:
        if population not in pops:
            raise NodeTableError(f"{nodes_file}: no node population {population!r} (has {pops})")
        return population
    if len(pops) != 1:
        raise NodeTableError(f"{nodes_file}: node populations {pops}; give the population")
    return pops[0]


def _rows(ds: h5py.Dataset, ids: np.ndarray) -> np.ndarray:
    """ds[ids] for sorted unique ids: one slice read when they are dense, else a point selection."""
    if len(ids) == 0:
        return ds[0:0]
    lo, hi = int(ids[0]), int(ids[-1]) + 1
    if hi - lo <= 4 * len(ids) + 1024:
        return ds[lo:hi][ids - lo]
    return ds[ids]


class NodeTable:
    """Types of every node (as detect names them) and, on demand, positions, rotations and morphology paths."""

    def __init__(
        self,
        nodes_file: str | os.PathLike,
        morphology_dir: str | os.PathLike,
        morphology_ext: str = "h5",
        population: str | None = None,
    ):
        self.path = Path(nodes_file)
        self.population = node_population(nodes_file, population)
        self.morphology_dir = Path(morphology_dir)
        self.ext = morphology_ext
        self.file = h5py.File(nodes_file, "r")
        self.group = self.file[f"nodes/{self.population}/0"]
        codes, names = self._column_codes("mtype")
        self.type_names = [type_name(m) for m in names]  # type id -> detect's type name
        self.type_id = codes  # node id -> type id
        self.size = len(codes)

    def _column_codes(self, name: str) -> tuple[np.ndarray, list]:
        """(code per node, value per code) of a string column, enumerated (@library) or not."""
        if name not in self.group:
            raise NodeTableError(f"{self.path}: nodes/{self.population}/0/{name} is missing")
        lib = f"@library/{name}"
        if lib in self.group:
            values = [v.decode() if isinstance(v, bytes) else str(v) for v in self.group[lib][()]]
            return self.group[name][()].astype(np.int64), values
        raw = [v.decode() if isinstance(v, bytes) else str(v) for v in self.group[name][()]]
        values, codes = np.unique(np.array(raw, dtype=object), return_inverse=True)
        return codes.astype(np.int64), [str(v) for v in values]

    def _col(self, name: str, ids: np.ndarray) -> np.ndarray:
        if name not in self.group:
            raise NodeTableError(f"{self.path}: nodes/{self.population}/0/{name} is missing")
        return _rows(self.group[name], ids)

    def placement(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
        """Positions (n, 3) µm, rotation matrices (n, 3, 3) and morphology paths of sorted unique `ids`."""
        ids = np.asarray(ids, dtype=np.int64)
        xyz = np.stack([self._col(c, ids) for c in "xyz"], axis=1).astype(np.float64)
        if all(f"orientation_{c}" in self.group for c in "wxyz"):
            rot = quaternion_matrices(*(self._col(f"orientation_{c}", ids) for c in "wxyz")).reshape(-1, 3, 3)
        else:
            rot = np.tile(np.eye(3), (len(ids), 1, 1))
        lib = "@library/morphology"
        if lib in self.group:
            names = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in self.group[lib][()]])
            morph = names[self._col("morphology", ids)]
        else:
            morph = [v.decode() if isinstance(v, bytes) else str(v) for v in self._col("morphology", ids)]
        paths = [str(self.morphology_dir / f"{m}.{self.ext}") for m in morph]
        return xyz, rot, paths

    def close(self) -> None:
        """Close the nodes file."""
        self.file.close()

    def __enter__(self) -> "NodeTable":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
