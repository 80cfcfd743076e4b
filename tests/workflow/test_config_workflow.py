"""The config as a user meets it: one-line errors, overrides on the command line, no files from a dry run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import DATA, ROOT, job_counts, run_snakemake

COLUMN = DATA / "synthesis-column" / "inputs"


def synthesis_config(out_dir: str = "out", **overrides) -> dict:
    """A synthesis-only config on the small reference column."""
    section = {
        "input_cells": str(COLUMN / "cells/input_cells.h5"),
        "atlas": str(COLUMN / "atlas"),
        "tmd_parameters": str(COLUMN / "tmd_parameters.json"),
        "tmd_distributions": str(COLUMN / "tmd_distributions.json"),
        "region_structure": str(COLUMN / "region_structure.yaml"),
        "out_morph_ext": ["asc"],
        "chunk_size": 7,
    }
    section.update(overrides)
    return {"out_dir": out_dir, "synthesis": section}


def console_lines(proc) -> list[str]:
    """The non-empty lines Snakemake printed (stdout and stderr)."""
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


def fails_with_one_line(workdir: Path, config: dict) -> str:
    """Dry-run `config`; assert it fails with exactly one console line, and return that line."""
    proc = run_snakemake(workdir, config, "-n", "all", check=False)
    lines = console_lines(proc)
    assert proc.returncode != 0
    assert len(lines) == 1, "\n".join(lines[:20])
    return lines[0]


def test_missing_required_key_is_one_line(tmp_path):
    config = synthesis_config()
    del config["synthesis"]["tmd_parameters"]
    assert fails_with_one_line(tmp_path, config) == "error: config: missing required key 'synthesis.tmd_parameters'"


@pytest.mark.parametrize(
    "section, key, value, reason",
    [
        ("synthesis", "chunk_size", 0, "synthesis.chunk_size: 0 is less than the minimum of 1"),
        ("synthesis", "out_morph_ext", ["obj"], "synthesis.out_morph_ext.0: 'obj' is not one of"),
        ("prune", "n_ranges", "two", "prune.n_ranges: 'two' is not of type 'integer'"),
        ("detect", "voxel_size", "small", "detect.voxel_size: 'small' is not of type 'number'"),
    ],
)
def test_schema_violation_is_one_line_with_key_path(tmp_path, section, key, value, reason):
    config = synthesis_config()
    if section == "prune":
        config["prune"] = {"network_path": "net"}
    if section == "detect":
        config["detect"] = {"network_path": "net"}
    config[section][key] = value
    line = fails_with_one_line(tmp_path, config)
    assert line.startswith(f"error: config: {reason}"), line


def test_unknown_key_is_one_line(tmp_path):
    line = fails_with_one_line(tmp_path, synthesis_config(seeed=3))
    assert line.startswith("error: config: unknown key 'synthesis.seeed'")


def test_dry_run_writes_nothing_and_a_run_writes_the_plan_cache(tmp_path):
    proc = run_snakemake(tmp_path, synthesis_config(), "-n", "synthesis")
    assert job_counts(proc.stdout)["synthesis_chunk"] == 2
    assert not (tmp_path / "out").exists()
    run_snakemake(tmp_path, synthesis_config(), "--cores", "1", "synthesis_validate_params")
    # a real run keeps planning's caches, which the jobs reuse
    assert (tmp_path / "out/synthesis/.plan-cache.json").is_file()
    assert (tmp_path / "out/synthesis/.validated-parameters.json").is_file()


def test_planning_error_is_one_line_and_writes_nothing(tmp_path):
    config = synthesis_config(tmd_distributions=str(tmp_path / "missing.json"))
    line = fails_with_one_line(tmp_path, config)
    assert line.startswith("error: ") and "missing.json" in line, line
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def example_workdir(tmp_path_factory) -> Path:
    """A work folder as `make example` leaves it: the example inputs and config/config.yaml."""
    from circuitflow.example import make_example

    folder = tmp_path_factory.mktemp("workdir")
    make_example(folder / "example", n_cells=8)
    (folder / "config").mkdir()
    shutil.copy(ROOT / "config/config.yaml", folder / "config/config.yaml")
    return folder


def planned_outputs(dry_run_stdout: str) -> list[str]:
    """Every output path of the jobs a dry run lists."""
    return [
        path.strip()
        for line in dry_run_stdout.splitlines()
        if line.strip().startswith("output:")
        for path in line.split(":", 1)[1].split(",")
    ]


def test_config_override_keeps_config_yaml_and_plans_everything_into_it(example_workdir):
    proc = run_snakemake(example_workdir, None, "-n", "all", "--config", "out_dir=elsewhere")
    jobs = job_counts(proc.stdout)
    assert {"synthesis_chunk", "detect_hypervoxels", "prune_combine", "sonata_edges", "report_pathways"} <= set(jobs)
    outputs = planned_outputs(proc.stdout)
    assert outputs and all(path.startswith("elsewhere/") for path in outputs), outputs[:5]
    assert not (example_workdir / "elsewhere").exists()  # a dry run writes nothing
    assert not (example_workdir / "out").exists()


def test_configfile_replaces_config_yaml(example_workdir, tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text(yaml.safe_dump(synthesis_config(out_dir="mine")))
    proc = run_snakemake(example_workdir, None, "-n", "all", "--configfile", str(own))
    jobs = job_counts(proc.stdout)
    assert set(jobs) == {
        "synthesis_cache_atlas",
        "synthesis_validate_params",
        "synthesis_chunk",
        "synthesis_finalize",
        "all",
    }, jobs
    assert all(path.startswith("mine/") for path in planned_outputs(proc.stdout))


def test_config_failing_a_later_check_writes_nothing(example_workdir):
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config["out_dir"] = "bad"
    config["connectome"]["pathways"][0]["post"] = ["L2_TPC:A", "L23_MC"]
    proc = run_snakemake(example_workdir, config, "-n", "all", check=False)
    assert proc.returncode != 0
    [line] = console_lines(proc)
    assert line.startswith("error: connectome.pathways[0].post: unknown mtype(s) ['L23_MC']"), line
    assert not (example_workdir / "bad").exists()


def test_target_list_plans_no_synthesis_and_writes_nothing(tmp_path):
    """Without targets Snakemake runs `help`: it lists the targets without validating the TMD inputs
    (the slow part of planning), so it prints even where they are broken, and writes nothing."""
    broken = tmp_path / "tmd_parameters.json"
    broken.write_text('{"default": {"L2_TPC:A": {"grow_types": ["dendrite"]}}}')
    config = synthesis_config(tmd_parameters=str(broken))
    proc = run_snakemake(tmp_path, config, "--cores", "1")
    assert "circuitflow targets" in proc.stdout and "stages in this config: synthesis" in proc.stdout
    assert "circuitflow: outputs in" not in proc.stdout  # no run summary after the target list
    assert not (tmp_path / "out").exists()
    # the same config fails as soon as a target is asked for
    assert fails_with_one_line(tmp_path, config).startswith("error: tmd_parameters")
