"""Synthesis workflow properties: chunking/cores invariance, incrementality, resume, container."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import morphio
import numpy as np
import pytest
import yaml
from conftest import DATA, ROOT, job_counts, run_snakemake, snakemake_command

COLUMN = DATA / "synthesis-column"


def grafting_config(**overrides) -> dict:
    """The grafting scenario (donors, jitters) with all three formats and a container."""
    section = {
        "input_cells": str(COLUMN / "inputs/cells/input_cells.mvd3"),
        "atlas": str(COLUMN / "inputs/atlas"),
        "tmd_parameters": str(COLUMN / "inputs/tmd_parameters.json"),
        "tmd_distributions": str(COLUMN / "inputs/tmd_distributions.json"),
        "region_structure": str(COLUMN / "inputs/region_structure.yaml"),
        "morph_axon": str(COLUMN / "inputs/axon_morphs.tsv"),
        "base_morph_dir": str(COLUMN / "inputs/donors"),
        "max_drop_ratio": 0.5,
        "scaling_jitter_std": 0.5,
        "rotational_jitter_std": 10,
        "out_morph_ext": ["h5", "asc", "swc"],
        "out_apical_nrn_sections": True,
        "out_cells_format": "sonata",
        "container_path": "morphologies-container.h5",
        "chunk_size": 3,
    }
    section.update(overrides)
    return {"out_dir": "out", "synthesis": section}


def h5_datasets(path: Path) -> dict:
    """Every dataset (and attribute) of an HDF5 file, by name."""
    out = {}
    with h5py.File(path, "r") as h5f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            for key, value in obj.attrs.items():
                out[f"{name}@{key}"] = value

        h5f.visititems(visit)
    return out


def assert_same_outputs(a: Path, b: Path) -> int:
    """Every synthesis output of two runs is identical (text byte for byte, HDF5 dataset by dataset)."""

    def outputs(root):
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))

    files = outputs(a)
    assert files == outputs(b)
    for rel in files:
        if rel.suffix == ".h5":
            da, db = h5_datasets(a / rel), h5_datasets(b / rel)
            assert da.keys() == db.keys(), rel
            for key in da:
                np.testing.assert_array_equal(da[key], db[key], err_msg=f"{rel}:{key}")
        else:
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    return len(files)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same scenario with 3 cells per chunk on 1 core, and 14 cells per chunk on 2 cores (and, as
    `balanced_run`, the automatic chunking)."""
    small = tmp_path_factory.mktemp("small_chunks")
    large = tmp_path_factory.mktemp("one_chunk")
    run_snakemake(small, grafting_config(chunk_size=3), "--cores", "1", "synthesis")
    run_snakemake(large, grafting_config(chunk_size=14), "--cores", "2", "synthesis")
    return small, large


@pytest.fixture(scope="module")
def balanced_run(tmp_path_factory):
    """The scenario with the automatic chunking: 14 cells in 4 balanced chunks of 3, 4, 3 and 4 cells."""
    balanced = tmp_path_factory.mktemp("balanced_chunks")
    run_snakemake(
        balanced, grafting_config(chunk_size=None, min_chunks=4, min_chunk_size=2), "--cores", "2", "synthesis"
    )
    tables = sorted((balanced / "out/synthesis/chunks").glob("*.json"))
    assert [len(json.loads(t.read_text())["cells"]) for t in tables] == [3, 4, 3, 4]
    return balanced


def final_outputs(workdir: Path) -> Path:
    """The user-facing outputs (no chunk or parameter intermediates)."""
    return workdir / "out" / "synthesis"


def test_same_outputs_whatever_chunking_and_cores(two_runs, balanced_run, tmp_path):
    """Byte-identical morphologies, YAMLs, cells file and container for three chunkings and two core counts."""
    small = two_runs[0]
    for other in (two_runs[1], balanced_run):
        for sub in ("morphologies",):
            n = assert_same_outputs(final_outputs(small) / sub, final_outputs(other) / sub)
            assert n == 18  # 6 synthesized cells x 3 formats
        for name in ("apical.yaml", "apical_NRN_sections.yaml"):
            assert (final_outputs(small) / name).read_bytes() == (final_outputs(other) / name).read_bytes()
        for name in ("nodes.h5", "morphologies-container.h5"):
            da, db = h5_datasets(final_outputs(small) / name), h5_datasets(final_outputs(other) / name)
            assert da.keys() == db.keys()
            for key in da:
                np.testing.assert_array_equal(da[key], db[key], err_msg=f"{name}:{key}")


def test_container_holds_every_morphology(two_runs):
    """morphio.Collection opens the container and finds every morphology, equal to its own file."""
    out = final_outputs(two_runs[0])
    names = list(yaml.safe_load((out / "apical.yaml").read_text()))
    assert len(names) == 6
    collection = morphio.Collection(str(out / "morphologies-container.h5"))
    for name in names:
        ours = collection.load(name)
        own = morphio.Morphology(str(out / "morphologies" / f"{name}.h5"))
        np.testing.assert_array_equal(ours.points, own.points)
        np.testing.assert_array_equal(ours.diameters, own.diameters)
        assert [s.type for s in ours.iter()] == [s.type for s in own.iter()]


def planned_jobs(workdir: Path, config: dict | None = None) -> dict:
    """Rule -> job count that a dry run plans."""
    proc = run_snakemake(workdir, config, "-n", "--cores", "1", "synthesis")
    return job_counts(proc.stdout)


def test_second_run_does_nothing_and_seed_reruns(two_runs, tmp_path):
    """A repeated run plans no job; a new seed re-plans every chunk and the finalization only."""
    small = two_runs[0]
    assert planned_jobs(small, grafting_config(chunk_size=3)) == {}
    jobs = planned_jobs(small, grafting_config(chunk_size=3, seed=1))
    assert jobs == {"synthesis_finalize": 1, "synthesis": 1, "synthesis_chunk": 5}


def test_switching_cores_or_to_the_slurm_profile_reruns_nothing(balanced_run):
    """The automatic chunking follows the cells, never the machine: a run made on 2 cores is complete on
    1 core and under the SLURM profile (MPI chunk jobs, other resources)."""
    config = grafting_config(chunk_size=None, min_chunks=4, min_chunk_size=2)
    assert planned_jobs(balanced_run, config) == {}
    proc = run_snakemake(balanced_run, config, "-n", "--profile", str(ROOT / "profiles" / "slurm"), "synthesis")
    assert "Nothing to be done" in proc.stdout + proc.stderr and job_counts(proc.stdout) == {}


def test_parameter_edit_reruns_only_touched_chunks(tmp_path):
    """Editing the 'default' region's entry re-runs only the chunk holding default-region cells."""
    import json

    params = json.loads((COLUMN / "inputs/tmd_parameters.json").read_text())
    config = grafting_config(
        chunk_size=5,
        tmd_parameters=str(tmp_path / "params.json"),
        morph_axon=None,
        base_morph_dir=None,
        container_path=None,
        out_morph_ext=["swc"],
    )
    (tmp_path / "params.json").write_text(json.dumps(params))
    run_snakemake(tmp_path, config, "--cores", "2", "synthesis")
    params["default"]["L2_TPC:A"]["apical_dendrite"]["randomness"] = 0.16
    (tmp_path / "params.json").write_text(json.dumps(params))
    proc = run_snakemake(tmp_path, config, "--cores", "2", "synthesis")
    ran = [line.split()[-1].rstrip(")") for line in proc.stderr.splitlines() if "Finished jobid" in line]
    assert sorted(ran) == ["synthesis", "synthesis_chunk", "synthesis_finalize", "synthesis_validate_params"], ran
    assert "wildcards: chunk=2" in proc.stderr  # cells 12 and 13 (region 'default') are in chunk 2


def finished_chunks(log: str) -> set[str]:
    """Chunks a Snakemake log reports finished (logged only after Snakemake has recorded them)."""
    chunk_of = dict(re.findall(r"rule synthesis_chunk:\n.*?jobid: (\d+)\n.*?wildcards: chunk=(\d+)", log, re.S))
    return {chunk_of[j] for j in re.findall(r"Finished jobid: (\d+) \(Rule: synthesis_chunk\)", log)}


def test_killed_run_resumes_from_finished_chunks(two_runs, tmp_path):
    """SIGKILL during a chunk: the re-run keeps finished chunks and ends identical to a clean run."""
    config = grafting_config(chunk_size=3)
    cmd, env = snakemake_command(tmp_path, config, "--cores", "1", "synthesis")
    log = tmp_path / "killed.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
    # Kill as soon as Snakemake says one chunk job finished: it logs that only after it has recorded the
    # job complete, and on one core the next chunk job starts right after (watching output files or log
    # files instead raced with Snakemake's bookkeeping, or waited for a chunk that had already run).
    deadline = time.time() + 120
    while not finished_chunks(log.read_text()) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = finished_chunks(log.read_text())
    assert done, log.read_text()
    assert not (tmp_path / "out/synthesis/nodes.h5").exists()
    run_snakemake(tmp_path, config, "--unlock")  # a killed Snakemake leaves its lock behind
    resumed = run_snakemake(tmp_path, config, "--cores", "1", "--rerun-incomplete", "synthesis")
    rerun = finished_chunks(resumed.stderr)
    assert rerun and not rerun & done, (done, rerun)
    assert_same_outputs(final_outputs(tmp_path) / "morphologies", final_outputs(two_runs[0]) / "morphologies")
    assert (final_outputs(tmp_path) / "apical.yaml").read_bytes() == (
        final_outputs(two_runs[0]) / "apical.yaml"
    ).read_bytes()


def test_empty_population(tmp_path):
    """0 cells: the input collection is written unchanged and the YAML outputs hold {} (RG-7)."""
    from voxcell import CellCollection

    cells = CellCollection.load(str(COLUMN / "inputs/cells/input_cells.h5"))
    empty = CellCollection.from_dataframe(cells.as_dataframe().iloc[:0])
    empty.population_name = cells.population_name
    empty.save_sonata(str(tmp_path / "empty.h5"))
    config = grafting_config(
        input_cells=str(tmp_path / "empty.h5"), morph_axon=None, base_morph_dir=None, container_path=None
    )
    run_snakemake(tmp_path, config, "--cores", "1", "synthesis")
    out = final_outputs(tmp_path)
    result = CellCollection.load(str(out / "nodes.h5"))
    assert len(result.positions) == 0 and result.population_name == cells.population_name
    assert yaml.safe_load((out / "apical.yaml").read_text()) == {}
    assert yaml.safe_load((out / "apical_NRN_sections.yaml").read_text()) == {}


def test_every_cell_excluded_gives_empty_collection(tmp_path):
    """All donors N/A within max_drop_ratio: an empty collection with the input's properties (RG-31)."""
    table = (COLUMN / "inputs/axon_morphs.tsv").read_text().splitlines()
    rows = [table[0]] + [f"{line.split(chr(9))[0]}\tN/A\tN/A" for line in table[1:]]
    (tmp_path / "donors.tsv").write_text("\n".join(rows) + "\n")
    config = grafting_config(morph_axon=str(tmp_path / "donors.tsv"), max_drop_ratio=1.0, container_path=None)
    run_snakemake(tmp_path, config, "--cores", "1", "synthesis")
    from voxcell import CellCollection

    result = CellCollection.load(str(final_outputs(tmp_path) / "nodes.h5"))
    assert len(result.positions) == 0
    assert {"mtype", "region", "morphology"} <= set(result.properties.columns)


#: Modules that NeuroTS' package __init__ pulls in (its growers; tmd and scipy.stats through the astrocyte
#: modules), and matplotlib's figure machinery: planning checks the TMD inputs without any of them.
NOT_AT_PLANNING = ("neurots.astrocyte", "neurots.generate.grower", "tmd.Topology", "scipy.stats", "matplotlib.figure")

#: `snakemake ...` that also prints, at exit, how many objects the Snakefile froze out of the garbage collector's way
SNAKEMAKE_FREEZE_COUNT = (
    "import atexit, gc, runpy, sys\n"
    "atexit.register(lambda: print(f'frozen objects: {gc.get_freeze_count()}', file=sys.stderr))\n"
    "sys.argv[0] = 'snakemake'\n"
    "runpy.run_module('snakemake', run_name='__main__', alter_sys=True)\n"
)


def test_planning_checks_inputs_without_neurots_growers(tmp_path):
    """Snakemake's process validates every TMD entry and donor at planning (the checks run: a dry run lists the
    chunk jobs) but imports none of NOT_AT_PLANNING (0.5 s of the dry run's 2.7 s); the Snakefile froze what
    Snakemake had loaded out of the garbage collector's full collections (0.4 s more)."""
    cmd, env = snakemake_command(tmp_path, grafting_config(), "-n", "synthesis")
    cmd = [sys.executable, "-X", "importtime", "-c", SNAKEMAKE_FREEZE_COUNT, *cmd[1:]]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "circuitflow.synthesis.prepare" in imported and "neurots.validator" in imported
    assert job_counts(proc.stdout)["synthesis_chunk"] > 1
    loaded = sorted(m for m in imported if m.startswith(NOT_AT_PLANNING))
    assert not loaded, loaded[:10]
    frozen = int(re.search(r"frozen objects: (\d+)", proc.stderr).group(1))
    assert frozen > 50_000
