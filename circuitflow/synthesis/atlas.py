"""Atlas context of each cell: synthesis region, depth, layer depths, orientation (spec §1.4-§3.6)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import voxcell
import yaml

from circuitflow.errors import CircuitflowError
from circuitflow.io.atomic import atomic_h5
from circuitflow.io.cells import cells_dataframe, check_no_nulls, load_cells
from circuitflow.synthesis import context_rules

L = logging.getLogger(__name__)

REGION_KEYS = ("layers", "thicknesses", "names", "region_queries", "directions", "boundaries")


class AtlasError(CircuitflowError, ValueError):
    """The atlas or the region structure cannot be used for these cells."""


# --------------------------------------------------------------------------- region structure
def load_region_structure(path: str | os.PathLike | None) -> dict:
    """Load and check `region_structure.yaml` (unknown keys, layers, thickness order)."""
    if path is None or not Path(path).is_file():
        raise AtlasError(f"region_structure file not found at {path}.")
    with open(path, encoding="utf-8") as f:
        structure = yaml.safe_load(f) or {}
    if not isinstance(structure, dict):
        raise AtlasError(f"region_structure: {path} must map region names to blocks")
    for region, block in structure.items():
        if not isinstance(block, dict):
            raise AtlasError(f"region_structure: region '{region}' must be a mapping")
        unknown = sorted(set(block) - set(REGION_KEYS))
        if unknown:
            raise AtlasError(
                f"region_structure: region '{region}' has unknown key(s) {unknown}; allowed: {list(REGION_KEYS)}"
            )
        if "layers" not in block:
            raise AtlasError(f"region_structure: region '{region}' has no 'layers'")
        thicknesses = block.get("thicknesses")
        if thicknesses is not None and list(thicknesses) != list(block["layers"]):
            raise AtlasError(
                f"region_structure: region '{region}': thicknesses keys {list(thicknesses)} "
                f"must equal layers {list(block['layers'])} in order"
            )
    try:
        context_rules.resolve_and_check(structure, Path(path).parent)
    except context_rules.RuleError as exc:
        raise AtlasError(str(exc)) from None
    return structure


def cache_structure(structure: dict) -> dict:
    """The part of the region structure the atlas cache depends on (rules and thickness values excluded)."""
    territories = set(context_rules.territories_regions(structure))
    return {
        region: {
            "layers": [str(layer) for layer in block["layers"]],
            "thicknesses": block.get("thicknesses") is not None,
            "territories": region in territories,
        }
        for region, block in structure.items()
    }


def synthesis_regions(structure: dict) -> list[str]:
    """Synthesis regions: every region_structure key except 'default', in file order."""
    return [k for k in structure if k != "default"]


def cortical_depths(structure: dict) -> dict:
    """Reference-column layer bottoms per synthesis region (None without thicknesses)."""
    depths = {}
    for region in synthesis_regions(structure):
        thicknesses = structure[region].get("thicknesses")
        depths[region] = None if thicknesses is None else np.cumsum(list(thicknesses.values())).tolist()
    depths["default"] = None
    return depths


# --------------------------------------------------------------------------- region mapper
def region_mapper(structure: dict, hierarchy_path: str | os.PathLike, cell_regions) -> tuple[dict, dict]:
    """Map atlas acronyms to synthesis regions; also return the inverse map (with 'default')."""
    region_map = voxcell.RegionMap.load_json(str(hierarchy_path))
    mapping: dict = {}
    inverse: dict = {}
    for region in synthesis_regions(structure):
        ids = region_map.find(region, "acronym", with_descendants=True)
        acronyms = {region_map.get(i, "acronym") for i in ids}
        inverse[region] = acronyms
        for acronym in acronyms:
            mapping[acronym] = region
    inverse["default"] = {r for r in pd.unique(np.asarray(cell_regions)) if r not in mapping}
    return mapping, inverse


# --------------------------------------------------------------------------- atlas lookups
def _nrrd(atlas_dir: str | os.PathLike, name: str) -> Path:
    path = Path(atlas_dir) / f"{name}.nrrd"
    if not path.is_file():
        raise AtlasError(f"atlas: missing {path}")
    return path


def check_inside(atlas_dir: str | os.PathLike, positions: np.ndarray, ids: np.ndarray) -> voxcell.VoxelData:
    """Fail, naming the cells, if any position lies outside the atlas bounding box (RG-18); return the grid."""
    grid = voxcell.VoxelData.load_nrrd(str(_nrrd(atlas_dir, "brain_regions")))
    index = np.floor((positions - grid.offset) / grid.voxel_dimensions).astype(np.int64)
    outside = np.any((index < 0) | (index >= np.array(grid.shape[:3])), axis=1)
    if outside.any():
        bad = [f"{int(i)} at {positions[k].tolist()}" for k, i in zip(np.flatnonzero(outside), ids[outside])]
        raise AtlasError(
            f"{outside.sum()} cell(s) outside the atlas bounding box ({grid.bbox.tolist()}): " + "; ".join(bad[:5])
        )
    return grid


def layer_depths_and_depth(
    atlas_dir: str | os.PathLike, layers: list, positions: np.ndarray, min_depth: float, max_depth: float
) -> tuple[np.ndarray, np.ndarray]:
    """Local layer bottoms [0, t1, t1+t2, ...] and the clipped soma depth below pia, per position."""
    bounds = [voxcell.VoxelData.load_nrrd(str(_nrrd(atlas_dir, f"[PH]{layer}"))).lookup(positions) for layer in layers]
    thicknesses = np.array([b[..., 1] - b[..., 0] for b in bounds])
    result = np.zeros((len(layers) + 1, len(positions)))
    result[1:, :] = np.cumsum(thicknesses, axis=0)
    ph_y = voxcell.VoxelData.load_nrrd(str(_nrrd(atlas_dir, "[PH]y"))).lookup(positions)
    depth = bounds[0][..., 1] - ph_y
    return result.T, np.clip(depth, min_depth, max_depth)


def atlas_context(
    df: pd.DataFrame,
    structure: dict,
    atlas_dir: str | os.PathLike,
    min_depth: float,
    max_depth: float,
) -> pd.DataFrame:
    """Per cell: synthesis_region, current_depth, layer_depths (list or None), orientation (3x3),
    glomerulus_id (-1 unless the region has a territories boundary); grid in `attrs`."""
    positions = df[["x", "y", "z"]].to_numpy(dtype=float)
    ids = df.index.to_numpy()
    grid = check_inside(atlas_dir, positions, ids)
    mapping, inverse = region_mapper(structure, Path(atlas_dir) / "hierarchy.json", df["region"])
    out = pd.DataFrame(index=df.index)
    out["synthesis_region"] = [mapping.get(r, "default") for r in df["region"]]
    out["current_depth"] = np.nan
    layer_depths = [None] * len(df)
    for region, acronyms in inverse.items():
        mask = df["region"].isin(acronyms).to_numpy()
        if not mask.any():
            continue
        block = structure.get(region)
        if block is not None and block.get("thicknesses") is not None and block.get("layers") is not None:
            depths, depth = layer_depths_and_depth(atlas_dir, block["layers"], positions[mask], min_depth, max_depth)
            out.loc[mask, "current_depth"] = depth
            for k, row in zip(np.flatnonzero(mask), depths):
                layer_depths[k] = row.tolist()
        else:
            L.warning("We are not able to synthesize the region %s, we fallback to 'default' region", region)
            out.loc[mask, "current_depth"] = np.nan
            for k in np.flatnonzero(mask):
                layer_depths[k] = None
    out["layer_depths"] = layer_depths
    orientations = voxcell.OrientationField.load_nrrd(str(_nrrd(atlas_dir, "orientation"))).lookup(positions)
    out["orientation"] = list(orientations)
    out["glomerulus_id"] = glomerulus_ids(atlas_dir, structure, inverse, df["region"], positions)
    out.attrs["voxel_dimensions"] = np.asarray(grid.voxel_dimensions, dtype=float)
    out.attrs["offset"] = np.asarray(grid.offset, dtype=float)
    return out


def glomerulus_ids(atlas_dir, structure: dict, inverse: dict, regions: pd.Series, positions) -> np.ndarray:
    """Per cell, the glomerular territory id (-1 outside the atlas), for regions with territories rules."""
    ids = np.full(len(positions), -1, dtype=np.int64)
    for region in context_rules.territories_regions(structure):
        mask = regions.isin(inverse.get(region, ())).to_numpy()
        if mask.any():
            territories = voxcell.VoxelData.load_nrrd(str(_nrrd(atlas_dir, "glomerular_territories")))
            ids[mask] = territories.lookup(positions[mask], outer_value=-1)
    return ids


# --------------------------------------------------------------------------- cache file
def write_atlas_cache(path: str | os.PathLike, context: pd.DataFrame) -> None:
    """Write the per-cell atlas context to HDF5 (temp name, then rename)."""
    n = len(context)
    width = max([len(d) for d in context["layer_depths"] if d is not None], default=0)
    depths = np.full((n, width), np.nan)
    n_depths = np.zeros(n, dtype=np.int32)
    for k, row in enumerate(context["layer_depths"]):
        if row is not None:
            depths[k, : len(row)] = row
            n_depths[k] = len(row)
    with atomic_h5(path, track_order=True) as h5f:
        h5f.create_dataset("cell_id", data=context.index.to_numpy(dtype=np.int64))
        h5f.create_dataset(
            "synthesis_region", data=context["synthesis_region"].to_numpy(dtype=object), dtype=h5py.string_dtype()
        )
        h5f.create_dataset("current_depth", data=context["current_depth"].to_numpy(dtype=float))
        h5f.create_dataset("layer_depths", data=depths)
        h5f.create_dataset("n_layer_depths", data=n_depths)
        h5f.create_dataset("orientation", data=np.stack(context["orientation"]) if n else np.zeros((0, 3, 3)))
        h5f.create_dataset("glomerulus_id", data=context["glomerulus_id"].to_numpy(dtype=np.int64))
        for key in ("voxel_dimensions", "offset"):
            h5f.attrs[key] = context.attrs[key]


def read_atlas_cache(path: str | os.PathLike, start: int = 0, stop: int | None = None) -> tuple[dict, dict]:
    """Rows [start, stop) of an atlas cache written by `write_atlas_cache`, as columns (cell_id, synthesis_region,
    current_depth, layer_depths: list or None, orientation: 3x3, glomerulus_id), and its attributes."""
    with h5py.File(path, "r") as h5f:
        sl = slice(start, stop)
        columns = {
            "cell_id": h5f["cell_id"][sl],
            "synthesis_region": [r.decode() if isinstance(r, bytes) else r for r in h5f["synthesis_region"][sl]],
            "current_depth": h5f["current_depth"][sl],
            "layer_depths": [
                row[:n].tolist() if n else None for row, n in zip(h5f["layer_depths"][sl], h5f["n_layer_depths"][sl])
            ],
            "orientation": h5f["orientation"][sl],
            "glomerulus_id": h5f["glomerulus_id"][sl],
        }
        attrs = {key: np.asarray(h5f.attrs[key]) for key in ("voxel_dimensions", "offset")}
    return columns, attrs


def cache_atlas(
    cells_path: str, atlas_dir: str, region_structure: str, min_depth: float, max_depth: float, out: str
) -> None:
    """Look up every cell's atlas context once and write it to `out`."""
    structure = load_region_structure(region_structure)
    df = cells_dataframe(load_cells(cells_path))
    check_no_nulls(df, cells_path)
    context = atlas_context(df, structure, atlas_dir, min_depth, max_depth)
    write_atlas_cache(out, context)
