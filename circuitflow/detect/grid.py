"""The hypervoxel grid: origin, size, hypervoxel ids, origins and seeds (spec detect.md §1.4, §2.3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOX_START = 1e6


@dataclass(frozen=True)
class Grid:
    """Snudda's hypervoxel grid; every float is float64 and computed in Snudda's expression order."""

    voxel_size: float
    hyper_voxel_size: int
    simulation_origo: np.ndarray  # (3,)
    num_hyper_voxels: np.ndarray  # (3,) int64

    @property
    def hyper_voxel_width(self) -> float:
        """Side of a hypervoxel in metres."""
        return self.voxel_size * self.hyper_voxel_size

    @property
    def n_total(self) -> int:
        """Number of hypervoxels in the whole grid."""
        return int(np.prod(self.num_hyper_voxels))

    @property
    def hyper_voxel_ids(self) -> np.ndarray:
        """The (nx,ny,nz) int64 HID lookup grid, C order."""
        return np.arange(self.n_total, dtype=np.int64).reshape(tuple(self.num_hyper_voxels))

    def coords(self, hid: np.ndarray) -> np.ndarray:
        """(n,3) integer grid coordinates of hypervoxel ids."""
        return np.stack(np.unravel_index(np.asarray(hid, dtype=np.int64), tuple(self.num_hyper_voxels)), axis=-1)

    def origins(self, hid: np.ndarray) -> np.ndarray:
        """(n,3) float64 hypervoxel origins, `simulation_origo + width * [ix, iy, iz]`."""
        return self.simulation_origo + self.hyper_voxel_width * self.coords(hid)

    def hids_of(self, points: np.ndarray) -> np.ndarray:
        """HID of each point (float32/64 metres), -1 outside the grid."""
        c = np.floor((points - self.simulation_origo) / self.hyper_voxel_width).astype(np.int64)
        inside = np.all((c >= 0) & (c < self.num_hyper_voxels), axis=1)
        nx, ny, nz = (int(v) for v in self.num_hyper_voxels)
        hid = (c[:, 0] * ny + c[:, 1]) * nz + c[:, 2]
        return np.where(inside, hid, -1)

    def to_json(self) -> dict:
        """Plain JSON form (floats round-trip exactly)."""
        return {
            "voxel_size": self.voxel_size,
            "hyper_voxel_size": self.hyper_voxel_size,
            "simulation_origo": self.simulation_origo.tolist(),
            "num_hyper_voxels": self.num_hyper_voxels.tolist(),
        }

    @classmethod
    def from_json(cls, d: dict) -> "Grid":
        """Inverse of `to_json`."""
        return cls(
            voxel_size=float(d["voxel_size"]),
            hyper_voxel_size=int(d["hyper_voxel_size"]),
            simulation_origo=np.array(d["simulation_origo"], dtype=np.float64),
            num_hyper_voxels=np.array(d["num_hyper_voxels"], dtype=np.int64),
        )


def bounding_box(points: np.ndarray) -> np.ndarray:
    """(2,3) [min, max] of placed points (empty: the ±1e6 start values)."""
    if len(points) == 0:
        return np.array([[BOX_START] * 3, [-BOX_START] * 3])
    return np.array(
        [np.minimum(points.min(axis=0), BOX_START), np.maximum(points.max(axis=0), -BOX_START)], dtype=np.float64
    )


def make_grid(boxes: list[np.ndarray], voxel_size: float, hyper_voxel_size: int) -> Grid:
    """Reduce per-chunk bounding boxes to Snudda's grid."""
    min_coord = np.min([b[0] for b in boxes], axis=0)
    max_coord = np.max([b[1] for b in boxes], axis=0)
    if np.any(min_coord > max_coord):
        raise ValueError("detect: no morphology points to place (empty network)")
    origo = np.floor(min_coord / voxel_size) * voxel_size
    width = voxel_size * hyper_voxel_size
    num = np.ceil((max_coord - min_coord) / width).astype(np.int64) + 1
    if np.prod(num) >= 3e9:
        raise ValueError(f"detect: {num.tolist()} hypervoxels; are neuron positions in metres?")
    return Grid(voxel_size=voxel_size, hyper_voxel_size=hyper_voxel_size, simulation_origo=origo, num_hyper_voxels=num)


def hypervoxel_seeds(seed: int, n_total: int) -> np.ndarray:
    """Per-hypervoxel seeds (uint32) for HIDs 0..n_total-1."""
    return np.random.SeedSequence(seed).generate_state(n_total)
