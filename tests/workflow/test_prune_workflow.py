"""The prune half through real Snakemake runs: parity, incremental re-pruning, n_ranges, relocation."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from prune_helpers import (
    CASES,
    NETWORKS,
    ROOT,
    case_seed,
    cleaned_config,
    expected_rows,
    network_dir,
    read_rows,
    snakemake,
)

GATHER_SIDE = {"prune_check_hypervoxels", "prune_check_config", "prune_gather_merge"}
ONLY_PRUNE = {"prune_range", "prune_combine", "prune"}  # `prune` is the target rule


def write_config(path: Path, out_dir: Path, net: str, **prune) -> Path:
    """A config holding only out_dir and prune:, as a Snudda user would write it."""
    cfg = {"out_dir": str(out_dir), "prune": {"network_path": str(network_dir(net)), **prune}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def planned_jobs(workdir: Path, configfile: Path) -> dict[str, int]:
    """Jobs `snakemake -n prune` would run, from its job-stats table."""
    return job_stats(snakemake(workdir, configfile, "-n", "prune"))


def job_stats(proc) -> dict[str, int]:
    """Jobs a snakemake run (or dry run) planned, from the job-stats table it prints."""
    out = proc.stdout + proc.stderr
    jobs = {}
    if "Nothing to be done" in out:
        return jobs
    table = out.split("Job stats:", 1)[1]
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m or m.group(1) == "total":
            break
        jobs[m.group(1)] = int(m.group(2))
    return jobs


def assert_matches_snudda(out_dir: Path, net: str, case: str) -> None:
    """Our network-synapses.hdf5 equals Snudda's (all rows on hv120; all but neuron 5 on hv40, P-1)."""
    syn, gj = read_rows(out_dir / "network-synapses.hdf5")
    exp_syn, exp_gj = expected_rows(net, case)
    np.testing.assert_array_equal(gj, exp_gj)
    if net == "hv40":
        syn, exp_syn = syn[syn[:, 1] != 5], exp_syn[exp_syn[:, 1] != 5]
    np.testing.assert_array_equal(syn, exp_syn)


@pytest.fixture(scope="module", params=NETWORKS)
def full_run(request, tmp_path_factory):
    """One full run of `snakemake prune` per network with its own config and 1 range."""
    net = request.param
    work = tmp_path_factory.mktemp(f"wf-{net}")
    cfg = write_config(work / "config.yaml", work / "out", net, n_ranges=1)
    proc = snakemake(work, cfg, "prune")
    assert "prune_check_hypervoxels" in proc.stderr
    assert_matches_snudda(work / "out", net, "default")
    return net, work


def test_full_run_layout(full_run):
    """Outputs, kept merge files, removed temp files and per-rule logs are where the README says."""
    net, work = full_run
    out = work / "out"
    assert sorted(p.name for p in (out / "prune" / "ranges-1").iterdir()) == ["merged-0.h5"]
    logs = sorted(p.name for p in (out / "logs" / "prune").iterdir())
    assert logs == ["check_config.log", "check_hypervoxels.log", "combine.log", "gather_merge_1-0.log", "range_1-0.log"]
    import h5py

    with h5py.File(out / "network-synapses.hdf5") as f:
        assert f["network/synapses"].chunks == (10000, 13) and f["network/synapses"].compression == "lzf"
        assert f["network/num_synapses"][()] == 360 and f["network/num_synapses"].dtype == np.uint64
        assert "meta/connectivity_distributions" in f and "network/neurons/population_unit_id" in f
    assert planned_jobs(work, work / "config.yaml") == {}


@pytest.mark.slow
def test_reprune_every_case_reruns_only_prune(full_run):
    """Each of Snudda's test configs: only prune jobs re-run, and the output is Snudda's for that config."""
    net, work = full_run
    if net == "hv120":
        pytest.skip(
            "hv40 (17 files, type interleaving) runs every case; hv120's cases run in test_prune_parity "
            "and, through snakemake, in the incremental and moved-folder tests"
        )
    for case in CASES[1:]:
        cfg_json = cleaned_config(net, case, work / "rules" / f"{case}.json")
        cfg = write_config(
            work / f"config-{case}.yaml",
            work / "out",
            net,
            n_ranges=1,
            config_file=str(cfg_json),
            random_seed=case_seed(net, case),
        )
        jobs = job_stats(snakemake(work, cfg, "prune"))
        assert set(jobs) <= ONLY_PRUNE | {"prune_check_config"}, jobs  # a new config_file *name* is re-checked
        assert jobs.get("prune_range") == 1 and jobs.get("prune_combine") == 1, jobs
        assert_matches_snudda(work / "out", net, case)


def test_incremental_reprune(tmp_path):
    """Editing the pruning rules (file contents, then the seed) plans only prune jobs; n_ranges re-gathers only."""
    net = "hv120"
    rules = cleaned_config(net, "test-1", tmp_path / "prune-rules.json")
    cfg = write_config(
        tmp_path / "config.yaml", tmp_path / "out", net, n_ranges=2, config_file=str(rules), random_seed=1003
    )
    snakemake(tmp_path, cfg, "prune")
    assert_matches_snudda(tmp_path / "out", net, "test-1")
    cleaned_config(net, "test-3", rules)  # same file name, new contents
    jobs = planned_jobs(tmp_path, cfg)
    assert set(jobs) == ONLY_PRUNE and jobs["prune_range"] == 2, jobs
    snakemake(tmp_path, cfg, "prune")
    assert_matches_snudda(tmp_path / "out", net, "test-3")
    write_config(cfg, tmp_path / "out", net, n_ranges=2, config_file=str(rules), random_seed=1004)
    jobs = planned_jobs(tmp_path, cfg)
    assert set(jobs) == ONLY_PRUNE and jobs["prune_range"] == 2, jobs
    snakemake(tmp_path, cfg, "prune")
    assert (
        read_rows(tmp_path / "out" / "network-synapses.hdf5")[0].tobytes() != expected_rows(net, "test-3")[0].tobytes()
    )  # another seed, other draws


def test_n_ranges_change_same_bytes(full_run):
    """Re-pruning with 7 and then 2 ranges works (Snudda refuses) and gives the same bytes as 1 range."""
    net, work = full_run
    if net == "hv120":
        pytest.skip("hv40 (type interleaving, 17 files) is the harder case; hv120 is covered in test_prune_parity")
    snakemake(work, work / "config.yaml", "prune")  # back to the fixture's own config if another test changed it
    ref = read_rows(work / "out" / "network-synapses.hdf5")
    for n in (7, 2):
        cfg = write_config(work / f"config-n{n}.yaml", work / "out", net, n_ranges=n)
        jobs = job_stats(snakemake(work, cfg, "prune"))
        assert "prune_check_hypervoxels" not in jobs and jobs["prune_gather_merge"] == n, jobs
        syn, gj = read_rows(work / "out" / "network-synapses.hdf5")
        assert syn.tobytes() == ref[0].tobytes() and gj.tobytes() == ref[1].tobytes()


def test_neurons_per_range_same_bytes(full_run):
    """Ranges sized by neurons (28 neurons at 5 per range: 6 ranges) give the same bytes as 1 range."""
    net, work = full_run
    if net == "hv120":
        pytest.skip("hv40 (type interleaving, 17 files) is the harder case")
    snakemake(work, work / "config.yaml", "prune")
    ref = read_rows(work / "out" / "network-synapses.hdf5")
    cfg = write_config(work / "config-per5.yaml", work / "out", net, neurons_per_range=5)
    jobs = job_stats(snakemake(work, cfg, "prune"))
    assert jobs["prune_gather_merge"] == jobs["prune_range"] == 6, jobs
    assert (work / "out/prune/ranges-6/merged-5.h5").is_file()
    syn, gj = read_rows(work / "out" / "network-synapses.hdf5")
    assert syn.tobytes() == ref[0].tobytes() and gj.tobytes() == ref[1].tobytes()


def test_moved_output_folder(tmp_path):
    """A moved output folder re-prunes from its own merge files: no stored paths, no hidden state (P-10)."""
    net = "hv120"
    first = tmp_path / "first"
    first.mkdir()
    cfg = write_config(first / "config.yaml", first / "out", net, n_ranges=2)
    snakemake(first, cfg, "prune")
    for p in (first / "out" / "prune").rglob("*"):
        if p.is_file():
            assert str(first).encode() not in p.read_bytes(), p
    moved = tmp_path / "moved"
    shutil.copytree(first, moved)  # copy2 keeps mtimes, as `cp -a` or `mv` would
    shutil.rmtree(first)
    rules = cleaned_config(net, "test-2", moved / "rules.json")
    cfg2 = write_config(
        moved / "config2.yaml", moved / "out", net, n_ranges=2, config_file=str(rules), random_seed=1003
    )
    jobs = job_stats(snakemake(moved, cfg2, "prune"))
    assert not GATHER_SIDE & set(jobs) and jobs["prune_range"] == 2, jobs
    assert_matches_snudda(moved / "out", net, "test-2")


def test_keep_files_false_removes_merge_files(tmp_path):
    """keep_files: false makes the merged range files Snakemake temp files."""
    cfg = write_config(tmp_path / "config.yaml", tmp_path / "out", "hv120", n_ranges=2, keep_files=False)
    snakemake(tmp_path, cfg, "prune")
    assert not list((tmp_path / "out" / "prune").rglob("merged-*.h5"))
    assert not list((tmp_path / "out" / "prune").rglob("gathered-*.h5"))
    assert_matches_snudda(tmp_path / "out", "hv120", "default")


def test_example_config_runs(tmp_path):
    """config/prune-example.yaml (prune alone on the copied fixture) runs from the project root layout."""
    root = ROOT
    example = yaml.safe_load((root / "config" / "prune-example.yaml").read_text())
    assert (root / example["prune"]["network_path"]).is_dir()
    example["out_dir"] = str(tmp_path / "out")
    example["prune"]["network_path"] = str(root / example["prune"]["network_path"])
    cfg = tmp_path / "example.yaml"
    cfg.write_text(yaml.safe_dump(example))
    snakemake(tmp_path, cfg, "prune")
    assert_matches_snudda(tmp_path / "out", "hv40", "default")


def test_unknown_prune_key_rejected_by_schema(tmp_path):
    """A misspelled workflow key under prune: is rejected before anything runs."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {"out_dir": str(tmp_path / "out"), "prune": {"network_path": str(network_dir("hv120")), "n_range": 2}}
        )
    )
    proc = snakemake(tmp_path, cfg, "-n", "prune", check=False)
    assert proc.returncode != 0 and "n_range" in proc.stdout + proc.stderr


def test_bad_pruning_config_fails_before_gathering(tmp_path):
    """A config naming an undetected connection stops the run before any gather_merge job (P-3)."""
    import json

    cfg_json = json.loads(cleaned_config("hv120", "default", tmp_path / "c.json").read_text())
    cfg_json["regions"]["TestStriatum"]["connectivity"]["ballanddoublestick,ballanddoublestick"]["NMDA"] = {
        "pruning": {"f1": 0.5}
    }
    (tmp_path / "c.json").write_text(json.dumps(cfg_json))
    cfg = write_config(tmp_path / "config.yaml", tmp_path / "out", "hv120", config_file=str(tmp_path / "c.json"))
    # One core: the check's priority orders it first (with two, a gather_merge may start beside it).
    proc = snakemake(tmp_path, cfg, "prune", "--cores", "1", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "out" / "logs" / "prune" / "check_config.log").read_text()
    assert "NMDA that were not present at detect time" in log.splitlines()[-1]
    assert not list((tmp_path / "out" / "logs" / "prune").glob("gather_merge_*"))
    assert not (tmp_path / "out" / "network-synapses.hdf5").exists()
