"""A small generated example circuit: a six-layer column atlas, cells of several mtypes, TMD inputs."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from voxcell import CellCollection, VoxelData

#: Layer names top (pia) to bottom, their thickness (um) in the example column and the reference one.
LAYERS = ["1", "2", "3", "4", "5", "6"]
THICKNESS = {"1": 200, "2": 100, "3": 100, "4": 100, "5": 100, "6": 200}
REFERENCE_THICKNESS = {"1": 165, "2": 149, "3": 353, "4": 190, "5": 525, "6": 700}
VOXEL = 100.0
#: mtype -> (layers the cells sit in, grows an apical dendrite)
MTYPES = {
    "L2_TPC:A": (["2", "3"], True),
    "L4_BC": (["4"], False),
    "L5_TPC:A": (["5"], True),
    "L6_BPC": (["6"], False),
}


def _tmd_entry(apical: bool) -> tuple[dict, dict]:
    """Parameters and distributions of one mtype from the packaged pyramidal cell."""
    data = resources.files("circuitflow") / "data"
    params = json.loads((data / "pyramidal.parameters.json").read_text())
    distributions = json.loads((data / "pyramidal.distributions.json").read_text())
    if not apical:
        params = copy.deepcopy(params)
        params["grow_types"] = ["basal_dendrite"]
    return params, distributions


def column_atlas(folder: Path, width: int = 6) -> dict:
    """Write a `width` x 10 x `width` voxel column (1-voxel margins above and below) to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    shape = (width, 2 + sum(THICKNESS.values()) // int(VOXEL), width)
    offset = np.array([-width * VOXEL / 2, -VOXEL, -width * VOXEL / 2])
    ids = np.zeros(shape, dtype=np.uint16)
    hierarchy = {
        "id": 100,
        "acronym": "Isocortex",
        "name": "Isocortex",
        "children": [{"id": 10, "acronym": "COL", "name": "example column", "children": []}],
    }
    top = sum(THICKNESS.values())
    bounds = {}
    for k, layer in enumerate(LAYERS):
        upper = top - sum(THICKNESS[name] for name in LAYERS[:k])
        lower = upper - THICKNESS[layer]
        bounds[layer] = (lower, upper)
        first, last = int(lower // VOXEL) + 1, int(upper // VOXEL) + 1
        ids[:, first:last, :] = k + 1
        hierarchy["children"][0]["children"].append({"id": k + 1, "acronym": f"COL;{layer}", "name": f"layer {layer}"})
    (folder / "hierarchy.json").write_text(json.dumps(hierarchy, indent=1))
    VoxelData(ids, (VOXEL,) * 3, offset).save_nrrd(str(folder / "brain_regions.nrrd"))
    y_centres = offset[1] + VOXEL * (np.arange(shape[1]) + 0.5)
    ph_y = np.broadcast_to(y_centres[None, :, None], shape).astype(np.float32)
    VoxelData(ph_y, (VOXEL,) * 3, offset).save_nrrd(str(folder / "[PH]y.nrrd"))
    for layer, (lower, upper) in bounds.items():
        data = np.broadcast_to(np.array([lower, upper], dtype=np.float32), shape + (2,)).copy()
        VoxelData(data, (VOXEL,) * 3, offset).save_nrrd(str(folder / f"[PH]{layer}.nrrd"))
    orientation = np.broadcast_to(np.array([127, 0, 0, 0], dtype=np.int8), shape + (4,)).copy()
    VoxelData(orientation, (VOXEL,) * 3, offset).save_nrrd(str(folder / "orientation.nrrd"))
    return {"shape": shape, "offset": offset.tolist(), "bounds": bounds}


def example_cells(n_cells: int, atlas_info: dict, seed: int = 0) -> CellCollection:
    """`n_cells` cells spread over the mtypes, at random positions inside their layers."""
    rng = np.random.default_rng(seed)
    half = 75.0  # a narrow core of the column: touches between most pairs of cells
    mtypes = np.array(list(MTYPES))[np.arange(n_cells) % len(MTYPES)]
    rows = []
    for mtype in mtypes:
        layer = rng.choice(MTYPES[mtype][0])
        lower, upper = atlas_info["bounds"][layer]
        position = [rng.uniform(-half, half), rng.uniform(lower + 5, upper - 5), rng.uniform(-half, half)]
        rows.append(
            {
                "mtype": mtype,
                "region": f"COL;{layer}",
                "layer": layer,
                "x": position[0],
                "y": position[1],
                "z": position[2],
            }
        )
    df = pd.DataFrame(rows)
    df["synapse_class"] = np.where(df["mtype"].str.contains("TPC|BPC"), "EXC", "INH")
    df.index += 1
    cells = CellCollection.from_dataframe(df)
    cells.population_name = "example"
    return cells


#: Layers holding cells (those of MTYPES) and their total depth (um): the slab a density spreads over.
CELL_LAYERS = sorted({layer for layers, _ in MTYPES.values() for layer in layers})
CELL_DEPTH = sum(THICKNESS[layer] for layer in CELL_LAYERS)


def core_width(n_cells: int, density: float) -> float:
    """Side (um) of the square core whose cell layers hold `n_cells` at `density` cells per mm^3 on average."""
    if density <= 0:
        raise ValueError(f"density must be > 0 cells/mm^3, got {density}")
    return float(np.sqrt(n_cells / (density * 1e-9) / CELL_DEPTH))


def dense_cells(n_cells: int, atlas_info: dict, density: float, seed: int = 0) -> CellCollection:
    """`n_cells` cells as in example_cells, spread over a core sized for `density` (vectorised: 10^6 cells in seconds)."""
    rng = np.random.default_rng(seed)
    half = core_width(n_cells, density) / 2
    names = list(MTYPES)
    mtype_idx = np.arange(n_cells) % len(names)
    mtypes = np.array(names)[mtype_idx]
    layers = np.empty(n_cells, dtype=object)
    for k, mtype in enumerate(names):
        mine = mtype_idx == k
        layers[mine] = rng.choice(MTYPES[mtype][0], size=int(mine.sum()))
    lower = np.array([atlas_info["bounds"][layer][0] for layer in layers], dtype=np.float64)
    upper = np.array([atlas_info["bounds"][layer][1] for layer in layers], dtype=np.float64)
    df = pd.DataFrame(
        {
            "mtype": mtypes,
            "region": ["COL;" + layer for layer in layers],
            "layer": layers.astype(str),
            "x": rng.uniform(-half, half, n_cells),
            "y": rng.uniform(lower + 5, upper - 5),
            "z": rng.uniform(-half, half, n_cells),
        }
    )
    df["synapse_class"] = np.where(df["mtype"].str.contains("TPC|BPC"), "EXC", "INH")
    df.index += 1
    cells = CellCollection.from_dataframe(df)
    cells.population_name = "example"
    return cells


def make_example(folder: str | Path, n_cells: int = 40, seed: int = 0, density: float | None = None) -> Path:
    """Write the whole example circuit (atlas, cells, TMD files, region structure, axon donors, cell models) into `folder`.

    Without `density` the cells sit in a 150 um core whatever their number (the small example, unchanged);
    with `density` (cells/mm^3, mean over the cell layers) the core and the atlas column grow with the cells.
    """
    folder = Path(folder)
    if density is None:
        info = column_atlas(folder / "atlas")
        cells = example_cells(n_cells, info, seed)
    else:
        width = max(6, 2 * int(np.ceil(core_width(n_cells, density) / VOXEL / 2)) + 2)  # 1-voxel margin each side
        info = column_atlas(folder / "atlas", width)
        cells = dense_cells(n_cells, info, density, seed)
    cells.save_sonata(str(folder / "cells.h5"))
    params, distributions = {"COL": {}}, {"COL": {}}
    for mtype, (_, apical) in MTYPES.items():
        params["COL"][mtype], distributions["COL"][mtype] = _tmd_entry(apical)
    (folder / "tmd_parameters.json").write_text(json.dumps(params, indent=1, sort_keys=True))
    (folder / "tmd_distributions.json").write_text(json.dumps(distributions, indent=1, sort_keys=True))
    structure = {
        "COL": {
            "layers": [int(layer) for layer in LAYERS],
            "thicknesses": {int(k): v for k, v in REFERENCE_THICKNESS.items()},
        }
    }
    (folder / "region_structure.yaml").write_text(yaml.safe_dump(structure, sort_keys=False))
    donors = folder / "donors"
    donors.mkdir(exist_ok=True)
    names = []
    for donor in sorted((resources.files("circuitflow") / "data" / "donors").iterdir(), key=lambda p: p.name):
        (donors / donor.name).write_bytes(donor.read_bytes())
        names.append(donor.name.removesuffix(".h5"))
    table = pd.DataFrame({"morphology": [names[i % len(names)] for i in range(n_cells)], "scale": 1.0})
    table.to_csv(folder / "axon_morphs.tsv", sep="\t", na_rep="N/A")
    copy_models(folder / "models")
    return folder


def copy_models(folder: str | Path) -> Path:
    """The example's cell models into `folder`: hoc/ (templates) and mechanisms/ (.mod), as shipped."""
    folder = Path(folder)
    source = resources.files("circuitflow") / "data" / "models"
    for kind in ("hoc", "mechanisms"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for item in sorted((source / kind).iterdir(), key=lambda p: p.name):
            (folder / kind / item.name).write_bytes(item.read_bytes())
    return folder
