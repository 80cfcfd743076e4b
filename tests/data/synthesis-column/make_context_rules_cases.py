"""Build the `directions` / `boundaries` reference cases and run region-grower 1.6.0 on them.

Run with the Python of a region-grower 1.6.0 environment (benchmarks/synthesis.py creates one; it
also needs trimesh 5.2.0 and rtree), from anywhere:

    /tmp/cf-bench-synthesis/venv-region-grower/bin/python tests/data/synthesis-column/make_context_rules_cases.py

It (re)writes `inputs/context_rules/` (a copy of the column atlas with a tilted orientation field and
glomerular territories, meshes, cells, parameters and region structures) and, for every case,
`expected/<case>/` with region-grower's outputs and a `case.json` listing every option used. This
file is not part of circuitflow: circuitflow never imports region-grower.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import trimesh
import yaml
from voxcell import CellCollection, VoxelData

HERE = Path(__file__).resolve().parent
COLUMN_ATLAS = HERE / "inputs" / "atlas"
INPUTS = HERE / "inputs" / "context_rules"
SEED = 3

#: Cells: (x, y, z, region, mclass). O0 cells (regions mc0;*) get the region block's rules.
CELLS = {
    "directions": [
        (-300.0, 550.0, 0.0, "mc0;2", "PYR"),
        (100.0, 560.0, 100.0, "mc0;2", "PYR"),
        (300.0, 640.0, -100.0, "mc0;1", "INT"),
        (-100.0, 850.0, 0.0, "mc0;1", "PYR"),  # in the top margin: the apical leaves the atlas (p = 1)
        (500.0, 250.0, 0.0, "mc0;5", "INT"),
        (200.0, 550.0, 0.0, "other", "PYR"),  # default region: no rules
    ],
    "boundaries": [
        (-300.0, 450.0, 0.0, "mc0;3", "PYR"),
        (350.0, 600.0, -50.0, "mc0;1", "INT"),
        (-250.0, 450.0, 100.0, "mc0;3", "GLO"),  # territory 0, inside glomeruli_000
        (450.0, 150.0, 0.0, "mc0;6", "GLO"),  # territory -1, inside no mesh: keeps the previous rule's mesh
    ],
    # spec §9.6 (region-grower's own boundary test), on the untilted column, pia.obj standing in for
    # neurocollage's boundary mesh of O0
    "boundary_scenario": [
        (100.0, 450.0, 0.0, "mc0;2", "PYR"),
        (-100.0, 470.0, 0.0, "mc0;2", "PYR"),
    ],
}
#: Options that differ from the other cases.
CASE_OPTIONS = {"boundary_scenario": {"atlas": "inputs/atlas", "min_depth": 800}}

#: spec §9.6: `mode` and `neurite_types` inside the params, so both rules are repulsive and their
#: section probabilities apply to no tree; the first rule's params_trunk steers every 3D-angle trunk.
SCENARIO_BOUNDARIES = [
    {"path": "meshes/pia.obj",
     "params_section": {"d_min": 0, "d_max": 20, "power": 1.2, "neurite_types": ["apical_dendrite"]},
     "params_trunk": {"mtype": "L2_TPC:A", "d_min": 0, "d_max": 500, "neurite_types": ["basal_dendrite"]}},
    {"path": "meshes/pia.obj",
     "params_section": {"d_min": 0, "d_max": 400, "power": 0.8, "mode": "attractive",
                        "neurite_types": ["basal_dendrite"]}},
]
SCENARIO_DIRECTIONS = [
    {"mtypes": ["L2_TPC:A"], "neurite_types": ["basal_dendrite"],
     "params": {"direction": [0, 1, 0], "mode": "perpendicular"}},
    {"mtypes": ["L2_TPC:A"], "neurite_types": ["apical_dendrite"],
     "params": {"direction": [0, 1, 0], "mode": "parallel", "layers": [2, 3]}},
]

DIRECTIONS = [
    {"mtypes": ["L2_TPC:A"], "neurite_types": ["apical_dendrite"],
     "params": {"direction": [0, 1, 0], "mode": "parallel", "power": 2.0, "layers": [1, 2]}},
    {"mclass": ["PYR"], "neurite_types": ["basal_dendrite"],
     "params": {"direction": [1, 0, 0], "mode": "perpendicular"}},
    {"mtypes": ["L5_TPC:A"], "neurite_types": ["apical_dendrite", "basal_dendrite"],
     "params": {"direction": [0, -1, 0]}},
    {"mclass": ["INT"], "neurite_types": ["basal_dendrite"], "processes": ["major"],
     "params_section": {"randomness_increase": 1.5},
     "params": {"direction": [0, 0, 1], "power": 0.5}},
]

# max_tries 10 everywhere keeps the test fast (NeuroTS takes the maximum over the rules of a tree).
BOUNDARIES = [
    # pia: a voxel-coordinate slab above y = 800 um
    {"path": "meshes/pia.obj", "mtypes": ["L2_TPC:A"], "neurite_types": ["apical_dendrite", "basal_dendrite"],
     "params_section": {"d_min": 5, "d_max": 300, "power": 1.0, "max_tries": 10},
     "params_trunk": {"d_min": 0, "d_max": 600, "power": 1.2}},
    # an attractive block in um coordinates
    {"path": "meshes/block.obj", "mesh_type": "spatial", "mode": "attractive", "mclass": ["PYR"],
     "neurite_types": ["basal_dendrite"], "params_section": {"d_min": 10, "d_max": 400, "power": 1.0, "max_tries": 10}},
    # the nearest of two walls; `mode` misplaced inside params_section (ignored: repulsive)
    {"path": "meshes/walls", "multimesh_mode": "closest", "mclass": ["PYR", "INT"], "neurite_types": ["basal_dendrite"],
     "params_section": {"d_min": 0, "d_max": 100, "power": 1.0, "mode": "attractive", "max_tries": 10}},
    {"path": "meshes/walls", "multimesh_mode": "closest_y", "mclass": ["INT"],
     "neurite_types": ["apical_dendrite"], "params_section": {"d_max": 150, "max_tries": 10}},
    {"path": "meshes/territories", "multimesh_mode": "inside", "mode": "attractive", "mclass": ["GLO"],
     "neurite_types": ["basal_dendrite"], "params_section": {"d_min": 0, "d_max": 300, "max_tries": 10}},
    {"path": "meshes/territories", "multimesh_mode": "territories", "mode": "attractive", "mclass": ["GLO"],
     "neurite_types": ["apical_dendrite"], "params_section": {"d_min": 0, "d_max": 250, "power": 2, "max_tries": 10}},
]


def box(path: Path, lower, upper) -> None:
    """Write an axis-aligned box mesh (.obj)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(bounds=np.array([lower, upper], dtype=float)).export(path)


def make_atlas() -> None:
    """The column atlas with an orientation tilted about z by 2 degrees per x-index, and territories."""
    atlas = INPUTS / "atlas"
    shutil.rmtree(atlas, ignore_errors=True)
    shutil.copytree(COLUMN_ATLAS, atlas)
    grid = VoxelData.load_nrrd(str(atlas / "brain_regions.nrrd"))
    nx, ny, nz = grid.shape
    angles = np.deg2rad(2.0 * (np.arange(nx) - nx // 2))
    quat = np.zeros((nx, ny, nz, 4))
    quat[..., 0] = np.cos(angles / 2)[:, None, None]  # w
    quat[..., 3] = np.sin(angles / 2)[:, None, None]  # z
    grid.with_data(np.round(quat * 127).astype(np.int8)).save_nrrd(str(atlas / "orientation.nrrd"))
    territories = np.full(grid.shape, -1, dtype=np.int32)
    territories[: nx // 2, 3:8, :] = 0
    territories[nx // 2 :, 3:8, :] = 1
    grid.with_data(territories).save_nrrd(str(atlas / "glomerular_territories.nrrd"))


def make_meshes() -> None:
    """Voxel-coordinate meshes (pia, walls, territories) and one um-coordinate block."""
    meshes = INPUTS / "meshes"
    shutil.rmtree(meshes, ignore_errors=True)
    box(meshes / "pia.obj", [-1, 9, -1], [23, 11, 21])  # y index 9 = 800 um
    box(meshes / "block.obj", [-700.0, 300.0, -300.0], [-350.0, 500.0, 300.0])
    box(meshes / "walls" / "left.obj", [-1, 0, -1], [3, 10, 21])  # x < -800 um
    box(meshes / "walls" / "right.obj", [19, 0, -1], [23, 10, 21])  # x > 800 um
    box(meshes / "territories" / "glomeruli_000.obj", [5, 3, 2], [10, 8, 18])
    box(meshes / "territories" / "glomeruli_001.obj", [12, 3, 2], [17, 8, 18])


def make_cells(case: str) -> Path:
    """SONATA cells of one case (mtype L2_TPC:A, with an mclass property)."""
    rows = CELLS[case]
    cells = CellCollection(population_name="default")
    cells.positions = np.array([r[:3] for r in rows])
    cells.properties["mtype"] = ["L2_TPC:A"] * len(rows)
    cells.properties["region"] = [r[3] for r in rows]
    cells.properties["mclass"] = [r[4] for r in rows]
    path = INPUTS / f"cells_{case}.h5"
    cells.save(str(path))
    return path


def make_region_structure(case: str) -> Path:
    """The column's region structure plus this case's rules (relative mesh paths)."""
    structure = yaml.safe_load((HERE / "inputs" / "region_structure.yaml").read_text())
    if case == "directions":
        structure["O0"]["directions"] = DIRECTIONS
    elif case == "boundaries":  # directions and boundaries combine by min/max only: boundaries alone here
        structure["O0"]["boundaries"] = BOUNDARIES
    else:
        structure["O0"]["boundaries"] = SCENARIO_BOUNDARIES
        structure["O0"]["directions"] = SCENARIO_DIRECTIONS
    path = INPUTS / f"region_structure_{case}.yaml"
    path.write_text(yaml.safe_dump(structure, sort_keys=False))
    return path


def run_case(case: str) -> None:
    """Run SynthesizeMorphologies on one case and write expected/<case>/."""
    from region_grower.synthesize_morphologies import SynthesizeMorphologies

    out = HERE / "expected" / case
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rel = lambda p: str(Path(p).relative_to(HERE))  # noqa: E731
    options = {
        "input_cells": rel(make_cells(case)),
        "tmd_parameters": "inputs/tmd_parameters.json",
        "tmd_distributions": "inputs/tmd_distributions.json",
        "atlas": rel(INPUTS / "atlas"),
        "out_cells": f"expected/{case}/nodes.h5",
        "out_apical": f"expected/{case}/apical.yaml",
        "out_morph_dir": f"expected/{case}/morphologies",
        "out_morph_ext": ["asc", "h5"],
        "morph_axon": None, "base_morph_dir": None, "atlas_cache": None, "seed": SEED,
        "out_apical_nrn_sections": f"expected/{case}/apical_NRN_sections.yaml",
        "max_files_per_dir": None, "overwrite": False, "max_drop_ratio": 0,
        "scaling_jitter_std": None, "rotational_jitter_std": None, "out_debug_data": None,
        "nb_processes": 0, "with_mpi": False, "min_depth": 25, "max_depth": 5000, "skip_write": False,
        "min_hard_scale": 0.2, "region_structure": rel(make_region_structure(case)),
        "container_path": None, "hide_progress_bar": True, "dask_config": None, "chunksize": None,
        "synthesize_axons": False,
        **CASE_OPTIONS.get(case, {}),
    }
    paths = ["input_cells", "tmd_parameters", "tmd_distributions", "atlas", "out_cells", "out_apical",
             "out_morph_dir", "out_apical_nrn_sections", "region_structure"]
    kwargs = {k: (str(HERE / v) if k in paths and v is not None else v) for k, v in options.items()}
    SynthesizeMorphologies(**kwargs).synthesize()
    (out / "case.json").write_text(json.dumps({
        "case": case,
        "description": f"region_structure context rules, case {case} "
                       "(tests/data/synthesis-column/make_context_rules_cases.py)",
        "region_grower_version": "1.6.0",
        "paths_relative_to": "the data folder (parent of inputs/ and expected/)",
        "path_options": paths,
        "options": options,
    }, indent=2) + "\n")


def main() -> None:
    """Inputs, then every case (or the cases named on the command line)."""
    INPUTS.mkdir(parents=True, exist_ok=True)
    make_atlas()
    make_meshes()
    for case in sys.argv[1:] or list(CELLS):
        run_case(case)


if __name__ == "__main__":
    main()
