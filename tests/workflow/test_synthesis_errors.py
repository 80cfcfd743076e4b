"""Bad synthesis input: a one-line error naming the culprit, and nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, run_snakemake
from voxcell import CellCollection

COLUMN = DATA / "synthesis-column"


def base_config(**overrides) -> dict:
    """The no-axon reference scenario."""
    section = {
        "input_cells": str(COLUMN / "inputs/cells/input_cells.h5"),
        "atlas": str(COLUMN / "inputs/atlas"),
        "tmd_parameters": str(COLUMN / "inputs/tmd_parameters.json"),
        "tmd_distributions": str(COLUMN / "inputs/tmd_distributions.json"),
        "region_structure": str(COLUMN / "inputs/region_structure.yaml"),
        "out_morph_ext": ["asc"],
        "out_apical_nrn_sections": True,
        "chunk_size": 7,
    }
    section.update(overrides)
    return {"out_dir": "out", "synthesis": section}


def fails_with(workdir: Path, config: dict, message: str, planning: bool = True) -> str:
    """Run the synthesis target; assert it fails with `message` and wrote no final output.

    `planning`: the error is found while planning, before any job, so not even the validated
    parameters exist (errors found by the atlas job may let the independent validation finish).
    """
    proc = run_snakemake(workdir, config, "--cores", "1", "synthesis", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert message in output, output[-3000:]
    assert not (workdir / "out/synthesis/nodes.h5").exists()
    assert not (workdir / "out/synthesis/apical.yaml").exists()
    assert not list((workdir / "out/synthesis").glob("chunks/*.json"))
    if planning:
        assert not (workdir / "out/synthesis/parameters.json").exists()
    return output


def edited_parameters(tmp_path: Path, edit) -> str:
    """A copy of the reference parameters with `edit` applied."""
    params = json.loads((COLUMN / "inputs/tmd_parameters.json").read_text())
    edit(params)
    path = tmp_path / "params.json"
    path.write_text(json.dumps(params))
    return str(path)


def test_missing_parameters_for_region_mtype(tmp_path):
    def drop(params):
        del params["O0"]["L2_TPC:A"]
        del params["default"]["L2_TPC:A"]

    config = base_config(tmd_parameters=edited_parameters(tmp_path, drop))
    out = fails_with(tmp_path, config, "Missing parameters for mtype 'L2_TPC:A' in region 'O0'")
    # found while planning, before any job starts: the console shows that one line only
    assert out.strip().splitlines() == ["error: Missing parameters for mtype 'L2_TPC:A' in region 'O0'"]


def test_schema_violation_names_json_path(tmp_path):
    def bad(params):
        params["O0"]["L2_TPC:A"]["grow_types"] = ["dendrite"]

    config = base_config(tmd_parameters=edited_parameters(tmp_path, bad))
    fails_with(tmp_path, config, "tmd_parameters: at [O0/L2_TPC:A/grow_types/0]: 'dendrite' is not one of")


def test_neurots_schema_violation_names_region_and_mtype(tmp_path):
    def bad(params):
        params["O0"]["L2_TPC:A"]["basal_dendrite"]["randomness"] = "high"

    config = base_config(tmd_parameters=edited_parameters(tmp_path, bad))
    out = fails_with(tmp_path, config, "tmd_parameters, region 'O0', mtype 'L2_TPC:A': In [")
    assert "In [basal_dendrite->randomness]: 'high' is not of type 'number'" in out


def test_unknown_config_key(tmp_path):
    config = base_config(seeed=3)
    fails_with(tmp_path, config, "config: unknown key 'synthesis.seeed'")


def test_region_grower_only_option_names_equivalent(tmp_path):
    config = base_config(nb_processes=4)
    fails_with(tmp_path, config, "synthesis.nb_processes is a region-grower option that circuitflow replaces")


def test_cell_outside_atlas(tmp_path):
    cells = CellCollection.load(str(COLUMN / "inputs/cells/input_cells.h5"))
    cells.positions = np.array(cells.positions, dtype=float)
    cells.positions[3] = [5000.0, 200.0, 200.0]
    path = tmp_path / "cells.h5"
    cells.save_sonata(str(path))
    out = fails_with(
        tmp_path, base_config(input_cells=str(path)), "cell(s) outside the atlas bounding box", planning=False
    )
    assert "3 at [5000.0, 200.0, 200.0]" in out
    assert not (tmp_path / "out/synthesis/atlas_cache.h5").exists()


def test_missing_region_structure(tmp_path):
    config = base_config(region_structure=str(tmp_path / "nowhere.yaml"))
    fails_with(tmp_path, config, "synthesis.region_structure: file not found")


def test_nrn_sections_need_asc_or_swc(tmp_path):
    config = base_config(out_morph_ext=["h5"])
    fails_with(tmp_path, config, "The 'out_morph_ext' parameter must contain one of")


def test_max_files_per_dir_below_256(tmp_path):
    config = base_config(max_files_per_dir=100)
    out = fails_with(tmp_path, config, "100 is less than the minimum of 256")
    assert "max_files_per_dir" in out


def test_non_empty_morphology_folder(tmp_path):
    folder = tmp_path / "out/synthesis/morphologies"
    folder.mkdir(parents=True)
    (folder / "precious.asc").write_text("not ours")
    fails_with(tmp_path, base_config(), "Non-empty morphology output folder")
    assert (folder / "precious.asc").read_text() == "not ours"


def test_missing_donors_over_max_drop_ratio(tmp_path):
    config = base_config(
        input_cells=str(COLUMN / "inputs/cells/input_cells.mvd3"),
        morph_axon=str(COLUMN / "inputs/axon_morphs.tsv"),
        base_morph_dir=str(COLUMN / "inputs/donors"),
        max_drop_ratio=0.2,
    )
    fails_with(tmp_path, config, "Max N/A ratio (20.0%) exceeded for mtype(s): L2_TPC:A")


def test_region_block_without_layers(tmp_path):
    path = tmp_path / "region_structure.yaml"
    path.write_text("O0:\n  thicknesses: {1: 100}\n")
    fails_with(tmp_path, base_config(region_structure=str(path)), "region_structure: region 'O0' has no 'layers'")


@pytest.mark.parametrize("key", ["thicknes", "layer"])
def test_region_block_unknown_key(tmp_path, key):
    path = tmp_path / "region_structure.yaml"
    path.write_text(f"O0:\n  layers: [1, 2, 3, 4, 5, 6]\n  {key}: 1\n")
    fails_with(tmp_path, base_config(region_structure=str(path)), f"region 'O0' has unknown key(s) ['{key}']")


def test_unusable_context_rule(tmp_path):
    """A boundary rule region-grower would only trip over mid-growth fails at planning, naming it."""
    path = tmp_path / "region_structure.yaml"
    path.write_text(
        "O0:\n  layers: [1, 2, 3, 4, 5, 6]\n  boundaries:\n    - {path: pia.obj, neurite_types: [apical_dendrite]}\n"
    )
    fails_with(
        tmp_path,
        base_config(region_structure=str(path)),
        f"region_structure: region 'O0' boundaries[0]: mesh path not found: {tmp_path / 'pia.obj'}",
    )
