"""Everything checkable at planning fails at planning, before any job, naming the file and key (issue 15,
findings 4 and 5); a job killed from outside says so on the console."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import DATA, ROOT, run_snakemake, snakemake_command

COLUMN = DATA / "synthesis-column"
NETWORK = DATA / "prune-fixture" / "hv40" / "network"
PAIR = "ballanddoublestick,ballanddoublestick"


def example_config() -> dict:
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def fails_at_planning(workdir: Path, config: dict, target: str, message: str) -> str:
    """A dry run of `target` fails (so the check runs at planning), with `message` on the console."""
    proc = run_snakemake(workdir, config, "-n", "--cores", "1", target, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert message in output, output[-3000:]
    return output


def test_bad_pathway_expression_fails_at_planning(tmp_path):
    """A dist_pruning that numexpr cannot compile used to fail after synthesis and detection (21 jobs, 38 s)."""
    from circuitflow.example import make_example

    make_example(tmp_path / "example", n_cells=8)
    config = example_config()
    config["connectome"]["pathways"][0]["synapses"]["AMPA"]["pruning"]["dist_pruning"] = "1-exp(-dd/60e-6"
    fails_at_planning(
        tmp_path,
        config,
        "all",
        "config: connectome.pathways[0].synapses.AMPA.pruning/dist_pruning: cannot compile '1-exp(-dd/60e-6'",
    )


def test_gap_junction_distance_pruning_fails_at_planning(tmp_path):
    from circuitflow.pathways import PathwayError, check_pruning

    pathways = [
        {"pre": "A", "post": "B", "gap_junction": {"conductance": [1e-10, 0], "pruning": {"dist_pruning": "d"}}}
    ]
    with pytest.raises(PathwayError, match=r"connectome.pathways\[0\].gap_junction.pruning: dist_pruning and "):
        check_pruning(pathways)


def prune_only(tmp_path: Path, pruning: dict) -> dict:
    """A prune-only config on the fixture network whose config file has `pruning` for GABA."""
    network_config = json.loads((NETWORK / "network-config.json").read_text())
    region = next(iter(network_config["regions"].values()))
    region["connectivity"][PAIR]["GABA"]["pruning"].update(pruning)
    (tmp_path / "prune-config.json").write_text(json.dumps(network_config))
    return {
        "out_dir": "out",
        "prune": {"network_path": str(NETWORK), "config_file": str(tmp_path / "prune-config.json")},
    }


@pytest.mark.parametrize(
    "pruning, message",
    [
        ({"f1": 1.5}, "/GABA/pruning/f1: must be [0, 1], got 1.5"),
        ({"f1": "abc"}, "/GABA/pruning/f1: must be a number or null, got 'abc'"),
        ({"a3": -0.1}, "/GABA/pruning/a3: must be [0, 1], got -0.1"),
        ({"soft_max": "5"}, "/GABA/pruning/soft_max: must be a number or null, got '5'"),
        ({"cluster_pruning": "yes"}, "/GABA/pruning/cluster_pruning: must be true, false or null"),
        ({"dist_pruning": "1-exp(-d/60e-6"}, "/GABA/pruning/dist_pruning: cannot compile"),
    ],
)
def test_bad_prune_json_values_fail_at_planning_naming_file_and_key(tmp_path, pruning, message):
    """The prune JSON obeys the config schema's rules; before, f1: 1.5 ran with a log warning and f1: "abc"
    failed in a job with 'could not convert string to float' (no file, no key)."""
    output = fails_at_planning(tmp_path, prune_only(tmp_path, pruning), "prune", message)
    assert f"{tmp_path / 'prune-config.json'}: prune config regions/TestStriatum/connectivity/" in output


def test_schema_and_prune_checks_agree():
    """rule_table.NUMBER_RANGES holds the config schema's bounds for every numeric pruning value."""
    from circuitflow.prune.rule_table import NUMBER_RANGES

    schema = yaml.safe_load((ROOT / "config/schema.connectome.yaml").read_text())["$defs"]["pruning"]["properties"]
    for key, (low, high) in NUMBER_RANGES.items():
        assert (schema[key].get("minimum"), schema[key].get("maximum")) == (low, high), key
        assert schema[key]["type"] == ["number", "null"]


def empty_cells(tmp_path: Path) -> str:
    from voxcell import CellCollection

    cells = CellCollection.load(str(COLUMN / "inputs/cells/input_cells.h5"))
    empty = CellCollection.from_dataframe(cells.as_dataframe().iloc[:0])
    empty.population_name = cells.population_name
    empty.save_sonata(str(tmp_path / "empty.h5"))
    return str(tmp_path / "empty.h5")


def synthesis_section(**overrides) -> dict:
    section = {
        "input_cells": str(COLUMN / "inputs/cells/input_cells.h5"),
        "atlas": str(COLUMN / "inputs/atlas"),
        "tmd_parameters": str(COLUMN / "inputs/tmd_parameters.json"),
        "tmd_distributions": str(COLUMN / "inputs/tmd_distributions.json"),
        "region_structure": str(COLUMN / "inputs/region_structure.yaml"),
        "out_morph_ext": ["asc"],
    }
    section.update(overrides)
    return section


def test_empty_cells_file_with_donors_is_named(tmp_path):
    """Before: 'Morphology list GIDs mismatch (ids differ from the cell ids)'."""
    section = synthesis_section(
        input_cells=empty_cells(tmp_path),
        morph_axon=str(COLUMN / "inputs/axon_morphs.tsv"),
        base_morph_dir=str(COLUMN / "inputs/donors"),
    )
    fails_at_planning(
        tmp_path,
        {"out_dir": "out", "synthesis": section},
        "synthesis",
        "synthesis.input_cells: the cells file has no cells, but morph_axon",
    )


def test_empty_cells_file_with_pathways_is_named(tmp_path):
    """Before: "connectome.pathways[0].pre: unknown mtype(s) [...]; the circuit has []"."""
    config = {
        "out_dir": "out",
        "synthesis": synthesis_section(input_cells=empty_cells(tmp_path)),
        "connectome": {
            "pathways": [{"pre": "L2_TPC:A", "post": "L2_TPC:A", "synapses": {"AMPA": {"conductance": [1e-9, 0]}}}]
        },
    }
    fails_at_planning(
        tmp_path,
        config,
        "synthesis",
        f"synthesis.input_cells: {tmp_path / 'empty.h5'} has no cells, so connectome.pathways connect",
    )


def job_pids(script: str, marker: str) -> list[int]:
    """Processes running `script` whose command line holds `marker` (only those this test started)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if script in cmdline and marker in cmdline and "bash" not in cmdline.split()[0]:
            pids.append(int(entry.name))
    return pids


def test_a_job_killed_from_outside_says_so(tmp_path):
    """SIGKILL to a chunk job's Python process: the console line is the signal and the log, not an INFO line."""
    config = {"out_dir": str(tmp_path / "out"), "synthesis": synthesis_section(chunk_size=14)}
    cmd, env = snakemake_command(tmp_path, config, "--cores", "1", "synthesis")
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    log = tmp_path / "out/logs/synthesis/chunk_0.log"
    deadline = time.time() + 120
    pids = []
    while time.time() < deadline and proc.poll() is None:
        pids = job_pids("synthesis_chunk.py", str(tmp_path))
        if pids and log.is_file() and "INFO" in log.read_text():
            break
        time.sleep(0.05)
    assert pids, "the chunk job never started"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert f"error: killed by signal KILL (exit status 137); log: {log}" in output, output[-3000:]
