"""Cell collections (SONATA nodes or MVD3) read and written with voxcell; a chunk of rows read with h5py alone."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import voxcell

from circuitflow.errors import CircuitflowError
from circuitflow.io.atomic import atomic_path, check_h5


class CellsFileError(CircuitflowError, ValueError):
    """A cells file is missing, unreadable or holds values we cannot use."""


def cells_format(path: str | os.PathLike) -> str:
    """'mvd3' for a name ending in mvd3 (any case), else 'sonata' (voxcell's and region-grower's rule)."""
    return "mvd3" if str(path).lower().endswith("mvd3") else "sonata"


def count_cells(path: str | os.PathLike) -> int:
    """Number of cells in a SONATA (single population) or MVD3 file, without loading it."""
    path = Path(path)
    if not path.is_file():
        raise CellsFileError(f"cells file not found: {path}")
    try:
        with h5py.File(path, "r") as h5f:
            if cells_format(path) == "mvd3":
                return int(h5f["cells/positions"].shape[0])
            populations = list(h5f["nodes"].keys())
            if len(populations) != 1:
                raise CellsFileError(f"{path}: exactly one node population is supported, got {populations}")
            return int(h5f[f"nodes/{populations[0]}/node_type_id"].shape[0])
    except (OSError, KeyError) as exc:
        raise CellsFileError(f"{path}: not a readable {cells_format(path)} cells file ({exc})") from exc


def load_cells(path: str | os.PathLike) -> voxcell.CellCollection:
    """Load a cell collection; raise CellsFileError on a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise CellsFileError(f"cells file not found: {path}")
    try:
        return voxcell.CellCollection.load(str(path))
    except Exception as exc:  # voxcell raises several kinds on malformed files
        raise CellsFileError(f"{path}: not a readable {cells_format(path)} cells file ({exc})") from exc


def load_cell_rows(path: str | os.PathLike, start: int, stop: int, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Rows [start, stop) of a cells file without reading the others (nor importing pandas): columns x, y, z
    and those of the properties `names` the file has, as numpy arrays; values as in load_cells()."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5f:
            if cells_format(path) == "mvd3":
                xyz = h5f["cells/positions"][start:stop]
                group, library = h5f["cells/properties"], h5f.get("library")
            else:
                (population,) = h5f["nodes"].values()
                group = population["0"]
                xyz = np.stack([group[c][start:stop] for c in "xyz"], axis=1)
                library = group.get("@library")
            out = {c: xyz[:, i] for i, c in enumerate("xyz")}
            for name in names:
                if name in group:
                    out[name] = _property_rows(group[name], library, name, start, stop)
    except (OSError, KeyError, ValueError) as exc:
        raise CellsFileError(f"{path}: not a readable {cells_format(path)} cells file ({exc})") from exc
    return out


def _property_rows(values: h5py.Dataset, library: h5py.Group | None, name: str, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of one property, its @library codes resolved (voxcell's _load_property)."""
    rows = (values.asstr() if values.dtype == object else values)[start:stop]
    if library is not None and name in library:
        names = library[name]
        return (names.asstr() if names.dtype == object else names)[()][rows]
    return rows


def cells_dataframe(cells: voxcell.CellCollection) -> pd.DataFrame:
    """The cells as a DataFrame indexed by the 0-based cell id (voxcell's is 1-based)."""
    return cells.as_dataframe(index_offset=0)


def check_no_nulls(df: pd.DataFrame, path: str) -> None:
    """Reject null values in any property, naming the property and the first ids (RG-6)."""
    for column in df.columns:
        nulls = df.index[df[column].isna()]
        if len(nulls):
            first = ", ".join(str(i) for i in nulls[:5])
            raise CellsFileError(f"{path}: property '{column}' has {len(nulls)} null value(s), first cell ids: {first}")


def save_cells(cells: voxcell.CellCollection, path: str | os.PathLike, fmt: str) -> None:
    """Write cells as SONATA or MVD3 (both HDF5) via a temporary name, read back, then rename (never half-written)."""
    with atomic_path(path, check=check_h5) as tmp:
        if fmt == "mvd3":
            cells.save_mvd3(str(tmp))
        else:
            cells.save_sonata(str(tmp))


def identity_orientations(n_cells: int) -> np.ndarray:
    """n identity rotation matrices."""
    return np.broadcast_to(np.identity(3), (n_cells, 3, 3)).copy()
