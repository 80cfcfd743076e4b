"""Atlas to connectome in one DAG: the example end to end, pathway checks, incrementality."""

from __future__ import annotations

import copy

import h5py
import pytest
import yaml
from conftest import ROOT, job_counts, run_snakemake

SYNTHESIS_RULES = {"synthesis_cache_atlas", "synthesis_validate_params", "synthesis_chunk", "synthesis_finalize"}
DETECT_RULES = {
    "pathways_detect_config",
    "detect_setup",
    "detect_bbox",
    "detect_grid",
    "detect_rasterise",
    "detect_raster_index",
    "detect_hypervoxels",
    "detect_worklog",
}


def example_config() -> dict:
    """The shipped example config."""
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The example circuit (40 cells) built end to end with `snakemake all`."""
    from circuitflow.example import make_example

    folder = tmp_path_factory.mktemp("e2e")
    make_example(folder / "example", n_cells=40)
    proc = run_snakemake(folder, example_config(), "--cores", "2", "all")
    (folder / "run.stdout").write_text(proc.stdout)
    return folder


@pytest.mark.slow
def test_example_gives_a_connectome(built):
    """Synthesized cells touch: putative synapses are found and some survive pruning."""
    with h5py.File(built / "out/network-synapses.hdf5", "r") as f:
        kept = f["network/synapses"].shape[0]
        n_neurons = f["network/neurons/neuron_id"].shape[0]
    putative = 0
    for path in (built / "out/network/voxels").glob("*.hdf5"):
        with h5py.File(path, "r") as f:
            putative += f["network/synapses"].shape[0]
    assert n_neurons == 40
    assert 0 < kept < putative


@pytest.mark.slow
def test_run_ends_with_a_summary(built):
    """The console's last lines say what was built, with counts, and where."""
    with h5py.File(built / "out/network-synapses.hdf5", "r") as f:
        kept, gap_junctions = f["network/synapses"].shape[0], f["network/gap_junctions"].shape[0]
    summary = (built / "run.stdout").read_text()
    assert "circuitflow: outputs in out/" in summary
    assert "synthesis: 40 cells grown -> out/synthesis/nodes.h5" in summary
    assert f"prune:     {kept} synapses, {gap_junctions} gap junctions kept -> out/network-synapses.hdf5" in summary
    assert "putative synapses" in summary and "out/sonata/circuit_config.json" in summary


def dry_run(folder, config) -> dict:
    """Job counts a dry run of `all` plans for `config` in an already built folder."""
    return job_counts(run_snakemake(folder, config, "-n", "--cores", "1", "all").stdout)


@pytest.mark.slow
def test_rebuild_plans_nothing(built):
    assert dry_run(built, example_config()) == {}


@pytest.mark.slow
def test_pruning_rule_edit_reruns_only_pruning(built):
    config = example_config()
    config["connectome"]["pathways"][0]["synapses"]["AMPA"]["pruning"]["f1"] = 0.3
    jobs = dry_run(built, config)
    assert {"pathways_prune_config", "prune_range", "prune_combine"} <= set(jobs)
    assert not set(jobs) & (SYNTHESIS_RULES | DETECT_RULES | {"prune_gather_merge", "prune_check_hypervoxels"})


@pytest.mark.slow
@pytest.mark.parametrize("edited", ["pruning", "physiology"])
def test_dry_run_reasons_stay_short(built, edited):
    """An edited pruning or physiology value shows as two digests in the reason, not the whole config."""
    config = example_config()
    synapse = config["connectome"]["pathways"][0]["synapses"]["AMPA"]
    if edited == "pruning":
        synapse["pruning"]["f1"] = 0.3
    else:
        synapse["physiology"]["u_syn"]["mean"] = 0.45
    stdout = run_snakemake(built, config, "-n", "--cores", "1", "all").stdout
    reasons = [line.strip() for line in stdout.splitlines() if line.strip().startswith("reason:")]
    assert any("Params have changed" in line for line in reasons), reasons
    assert reasons and max(len(line) for line in reasons) <= 250, max(reasons, key=len)


@pytest.mark.slow
def test_connectivity_edit_reruns_detection_not_synthesis(built):
    config = example_config()
    config["connectome"]["pathways"][1]["synapses"]["GABA"]["conductance"] = [3.0e-10, 1.0e-10]
    jobs = dry_run(built, config)
    assert {"pathways_detect_config", "detect_setup", "detect_hypervoxels", "prune_range"} <= set(jobs)
    assert not set(jobs) & SYNTHESIS_RULES


def test_unknown_mtype_is_an_error(tmp_path):
    from circuitflow.example import make_example

    make_example(tmp_path / "example", n_cells=8)
    config = example_config()
    config["connectome"]["pathways"][0]["post"] = ["L2_TPC:A", "L23_MC"]
    proc = run_snakemake(tmp_path, config, "-n", "all", check=False)
    assert proc.returncode != 0
    assert "connectome.pathways[0].post: unknown mtype(s) ['L23_MC']" in proc.stdout + proc.stderr


def test_pathway_given_twice_is_an_error(tmp_path):
    from circuitflow.pathways import PathwayError, expand

    pathways = copy.deepcopy(example_config()["connectome"]["pathways"])
    pathways.append({"pre": "L4_BC", "post": "L2_TPC:A", "gap_junction": {"conductance": [1e-10, 0]}})
    with pytest.raises(PathwayError, match="pathway L4_BC -> L2_TPC:A is given twice"):
        expand(pathways)


def test_detect_and_prune_configs_split_the_pathways():
    from circuitflow.pathways import detect_config, prune_config

    pathways = example_config()["connectome"]["pathways"]
    detect = detect_config(pathways, 7)["regions"]["circuit"]["connectivity"]
    prune = prune_config(pathways, None)
    assert detect["L4_BC,L4_BC"]["gap_junction"] == {"conductance": [5.0e-10, 1.0e-10]}
    assert prune["random_seed"] == {"prune": 1003}
    rules = prune["regions"]["circuit"]["connectivity"]
    assert rules["L4-BC,L2-TPC:A"]["GABA"]["pruning"]["f1"] == 0.6  # detect's type names for SONATA
    assert "conductance" not in rules["L4-BC,L2-TPC:A"]["GABA"]


def test_bad_physiology_is_an_error_before_any_job(tmp_path):
    """An impossible physiology value, or a synapse type without physiology, stops planning with one
    line naming the key (physiology reaches only the SONATA edges, so only they need it)."""
    from circuitflow.example import make_example

    make_example(tmp_path / "example", n_cells=8)
    config = example_config()
    config["connectome"]["pathways"][0]["synapses"]["AMPA"]["physiology"]["u_syn"]["mean"] = 1.5
    proc = run_snakemake(tmp_path, config, "-n", "all", check=False)
    assert proc.returncode != 0
    assert (
        "connectome.pathways.0.synapses.AMPA.physiology.u_syn.mean: 1.5 is greater than the maximum of 1"
        in proc.stderr.splitlines()[-1]
    )
    config = example_config()
    del config["connectome"]["pathways"][1]["synapses"]["GABA"]["physiology"]
    proc = run_snakemake(tmp_path, config, "-n", "all", check=False)
    assert proc.returncode != 0
    assert "connectome.pathways[1].synapses.GABA.physiology is required" in proc.stderr.splitlines()[-1]
