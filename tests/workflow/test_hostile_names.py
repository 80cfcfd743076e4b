"""Hostile folder and file names (issue 15, finding 1): shell metacharacters, quotes, spaces and non-ASCII in
out_dir and input paths never run a command and never write outside out_dir; names Snakemake cannot take
(braces) fail at planning with one line naming the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import DATA, ROOT, run_snakemake
from prune_helpers import cleaned_config

COLUMN = DATA / "synthesis-column"
MARK = "PWNED"
# Each would create a marker file if a shell ever evaluated it (no '/' so each stays one path component).
HOSTILE = f"a $(touch {MARK}1) ; touch {MARK}2 ; `touch {MARK}3` 'q\" é ü & | > x"


def markers(*roots: Path) -> list[Path]:
    """Files the commands in HOSTILE would create (in the job's folder or any other)."""
    names = {f"{MARK}{i}" for i in (1, 2, 3)}
    return [p for root in roots for p in root.rglob(f"{MARK}*") if p.name in names]


def snapshot(root: Path, skip: Path) -> set[Path]:
    """Every file under `root` outside `skip` and Snakemake's own folder."""
    return {p for p in root.rglob("*") if p.is_file() and skip not in p.parents and ".snakemake" not in p.parts}


def check_contained(work: Path, out: Path, before: set[Path]) -> None:
    assert not markers(work, ROOT), "a shell ran a command from a name"
    assert snapshot(work, out) - before <= {work / "config.yaml"}, snapshot(work, out) - before


def test_hostile_out_dir_and_input_names_synthesis(tmp_path):
    work = tmp_path / "work"
    inputs = work / f"in {HOSTILE}"
    inputs.mkdir(parents=True)
    cells = inputs / f"cells {HOSTILE}.h5"
    shutil.copy(COLUMN / "inputs/cells/input_cells.h5", cells)
    params = inputs / f"params {HOSTILE}.json"
    shutil.copy(COLUMN / "inputs/tmd_parameters.json", params)
    structure = inputs / f"structure {HOSTILE}.yaml"
    shutil.copy(COLUMN / "inputs/region_structure.yaml", structure)
    out = work / f"out {HOSTILE}"
    config = {
        "out_dir": out.name,
        "synthesis": {
            "input_cells": str(cells.relative_to(work)),
            "atlas": str(COLUMN / "inputs/atlas"),
            "tmd_parameters": str(params),
            "tmd_distributions": str(COLUMN / "inputs/tmd_distributions.json"),
            "region_structure": str(structure),
            "out_morph_ext": ["asc", "h5"],
            "out_apical_nrn_sections": True,
            "container_path": f"container {HOSTILE}.h5",
            "chunk_size": 7,
        },
    }
    before = snapshot(work, out)
    run_snakemake(work, config, "--cores", "2", "synthesis")
    check_contained(work, out, before)
    assert len(list((out / "synthesis/morphologies").glob("*.asc"))) == 14
    assert (out / "synthesis" / f"container {HOSTILE}.h5").is_file()
    assert (out / "logs/synthesis/finalize.log").is_file()


def test_hostile_names_prune_only(tmp_path):
    work = tmp_path / "work"
    net = work / f"net {HOSTILE}"
    shutil.copytree(DATA / "prune-fixture/hv40/network", net)
    cfg = cleaned_config("hv40", "default", work / f"prune {HOSTILE}.json")
    out = work / f"out {HOSTILE}"
    config = {"out_dir": str(out), "prune": {"network_path": str(net), "config_file": str(cfg), "n_ranges": 2}}
    before = snapshot(work, out)
    run_snakemake(work, config, "--cores", "2", "prune")
    check_contained(work, out, before)
    assert (out / "network-synapses.hdf5").is_file()


@pytest.mark.parametrize("key", ["out_dir", "synthesis.input_cells", "prune.network_path"])
def test_braces_in_a_path_fail_at_planning_naming_the_key(tmp_path, key):
    """Snakemake reads {…} in a path as a wildcard: refused before any job, with the key named."""
    config = {"out_dir": "out", "prune": {"network_path": str(DATA / "prune-fixture/hv40/network")}}
    if key == "synthesis.input_cells":
        config = {
            "out_dir": "out",
            "synthesis": {
                "input_cells": "cells{x}.h5",
                "atlas": str(COLUMN / "inputs/atlas"),
                "tmd_parameters": str(COLUMN / "inputs/tmd_parameters.json"),
                "tmd_distributions": str(COLUMN / "inputs/tmd_distributions.json"),
                "region_structure": str(COLUMN / "inputs/region_structure.yaml"),
            },
        }
    elif key == "out_dir":
        config["out_dir"] = "out{x}"
    else:
        config["prune"]["network_path"] = "net{x}"
    proc = run_snakemake(tmp_path, config, "-n", "--cores", "1", "all", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"config: {key}: " in output and "'{' and '}'" in output, output[-3000:]
