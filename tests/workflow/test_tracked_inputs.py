"""Every file a job reads is tracked (issue 15, finding 3): editing or deleting one re-runs what depends on it (dry
runs; a deleted file then fails the job, named), and a clean folder plans nothing. Hypervoxel files and
morphologies are tracked through the state of their folder listing (a param), donors through their content
(the chunk digest)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest
from conftest import DATA, job_counts, run_snakemake
from prune_helpers import cleaned_config

DETECT_INPUTS = DATA / "detect-fixture" / "hv120" / "inputs"
COLUMN = DATA / "synthesis-column"
PRUNE_RULES = {"prune_check_hypervoxels", "prune_gather_merge", "prune_range", "prune_combine"}


def planned(workdir: Path, config: dict, target: str) -> dict:
    return job_counts(run_snakemake(workdir, config, "-n", "--cores", "1", target).stdout)


def deleted_reruns_and_fails(workdir: Path, config: dict, target: str, rule: str, path: Path) -> None:
    """After deleting `path`, the dry run plans `rule` again, and the run fails naming `path`."""
    proc = run_snakemake(workdir, config, "-n", "--cores", "1", target)
    assert rule in job_counts(proc.stdout), proc.stdout[-3000:]
    proc = run_snakemake(workdir, config, "--cores", "1", target, check=False)
    assert proc.returncode != 0 and str(path.name) in proc.stderr, proc.stderr[-3000:]


def edit_h5(path: Path) -> None:
    """Change a hypervoxel/donor file's content (an attribute), as a hand edit or a bad copy would."""
    with h5py.File(path, "a") as f:
        f.attrs["edited"] = 1


def test_external_prune_network_files_are_inputs(tmp_path):
    """prune.network_path outside the workflow: every hypervoxel file the worklog lists is tracked."""
    net = tmp_path / "network"
    shutil.copytree(DATA / "prune-fixture" / "hv40" / "network", net)
    config = {
        "out_dir": "out",
        "prune": {
            "network_path": str(net),
            "n_ranges": 1,
            "config_file": str(cleaned_config("hv40", "default", tmp_path / "c.json")),
        },
    }
    run_snakemake(tmp_path, config, "--cores", "2", "prune")
    assert planned(tmp_path, config, "prune") == {}
    voxel = net / "voxels" / "network-putative-synapses-9.hdf5"
    edit_h5(voxel)
    assert PRUNE_RULES <= set(planned(tmp_path, config, "prune"))
    voxel.unlink()
    deleted_reruns_and_fails(tmp_path, config, "prune", "prune_check_hypervoxels", voxel)


@pytest.fixture(scope="module")
def detected(tmp_path_factory):
    """detect (Snudda network folder with its SWC) then prune what detect wrote, in one workflow."""
    work = tmp_path_factory.mktemp("detect_prune")
    source = work / "source"
    shutil.copytree(DETECT_INPUTS, source)
    prune_cfg = json.loads((source / "network-config.json").read_text().replace("dist-pruning", "dist_pruning"))
    (work / "prune.json").write_text(json.dumps(prune_cfg))
    config = {
        "out_dir": "out",
        "detect": {"network_path": str(source), "hyper_voxel_size": 120},
        "prune": {"config_file": str(work / "prune.json"), "n_ranges": 1},
    }
    run_snakemake(work, config, "--cores", "2", "all")
    return work, config


def test_a_clean_detect_and_prune_plans_nothing(detected):
    work, config = detected
    assert planned(work, config, "all") == {}


def test_edited_swc_reruns_detection(detected, tmp_path):
    work, config = detected
    work2 = tmp_path / "w"
    shutil.copytree(work, work2, symlinks=True)
    config = json.loads(json.dumps(config))
    config["detect"]["network_path"] = str(work2 / "source")
    config["prune"]["config_file"] = str(work2 / "prune.json")
    run_snakemake(work2, config, "--cores", "2", "all")
    swc = work2 / "source" / "validation" / "ballanddoublestick" / "double.swc"
    swc.write_text(swc.read_text() + "# edited after the run\n")
    jobs = planned(work2, config, "all")
    assert {"detect_setup", "detect_bbox", "prune_combine"} <= set(jobs), jobs
    swc.unlink()
    deleted_reruns_and_fails(work2, config, "all", "detect_setup", swc)


def test_changed_or_deleted_hypervoxel_file_of_detect(detected, tmp_path):
    """The network detect writes: a changed hypervoxel file re-runs pruning, a deleted one too (and it fails
    naming the file)."""
    work, config = detected
    voxel = work / "out" / "network" / "voxels" / "network-putative-synapses-1.hdf5"
    backup = tmp_path / "backup.hdf5"
    shutil.copy2(voxel, backup)
    try:
        edit_h5(voxel)
        jobs = planned(work, config, "all")
        assert PRUNE_RULES <= set(jobs) and "detect_setup" not in jobs, jobs
        voxel.unlink()
        deleted_reruns_and_fails(work, config, "all", "prune_check_hypervoxels", voxel)
    finally:
        shutil.copy2(backup, voxel)


def test_edited_donor_reruns_the_chunks_grafting_it(tmp_path):
    donors = tmp_path / "donors"
    shutil.copytree(COLUMN / "inputs" / "donors", donors)
    section = {
        "input_cells": str(COLUMN / "inputs/cells/input_cells.mvd3"),
        "atlas": str(COLUMN / "inputs/atlas"),
        "tmd_parameters": str(COLUMN / "inputs/tmd_parameters.json"),
        "tmd_distributions": str(COLUMN / "inputs/tmd_distributions.json"),
        "region_structure": str(COLUMN / "inputs/region_structure.yaml"),
        "morph_axon": str(COLUMN / "inputs/axon_morphs.tsv"),
        "base_morph_dir": str(donors),
        "max_drop_ratio": 0.5,
        "out_morph_ext": ["h5"],
        "chunk_size": 5,
    }
    config = {"out_dir": "out", "synthesis": section}
    run_snakemake(tmp_path, config, "--cores", "2", "synthesis")
    assert planned(tmp_path, config, "synthesis") == {}
    table = [line.split() for line in (COLUMN / "inputs/axon_morphs.tsv").read_text().splitlines()[1:]]
    used = next(name for _, name, *rest in table if name != "N/A" and (donors / f"{name}.h5").is_file())
    edit_h5(donors / f"{used}.h5")
    jobs = planned(tmp_path, config, "synthesis")
    assert jobs.get("synthesis_chunk", 0) >= 1 and "synthesis_cache_atlas" not in jobs, jobs
