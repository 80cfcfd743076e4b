"""Proof by real consumers: the example circuit (40 cells) opened by bluepysnap, libsonata and Snudda's
loader (its fields), and simulated by neurodamus (NEURON) for 100 ms with the events checked against the edges.

The neurodamus test needs the `simulate` extra; CI installs it and sets CIRCUITFLOW_REQUIRE_SIMULATE=1,
which turns a missing simulator into a failure instead of a skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time

import libsonata
import numpy as np
import pytest
import yaml
from conftest import ROOT, job_counts, run_snakemake
from snudda_contract import missing_for_snudda_load

REQUIRED = os.environ.get("CIRCUITFLOW_REQUIRE_SIMULATE") == "1"
HAS_NEURODAMUS = importlib.util.find_spec("neurodamus") is not None


def example_config() -> dict:
    """The shipped example config."""
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


@pytest.fixture(scope="module")
def circuit(tmp_path_factory):
    """The example circuit built with `snakemake all`; its circuit config."""
    from circuitflow.example import make_example

    folder = tmp_path_factory.mktemp("simulate")
    make_example(folder / "example", n_cells=40)
    run_snakemake(folder, example_config(), "--cores", "2", "all")
    return folder / "out" / "sonata" / "circuit_config.json"


@pytest.mark.slow
def test_circuit_config_is_complete(circuit):
    config = json.loads(circuit.read_text())
    assert "metadata" not in config or config["metadata"].get("status") != "partial"
    assert config["components"]["biophysical_neuron_models_dir"]
    assert config["components"]["mechanisms_dir"]


@pytest.mark.slow
def test_model_edit_reruns_only_nodes_and_circuit_config(circuit):
    """A cell model is read by sonata_nodes and the circuit config alone: nothing upstream re-runs."""
    folder = circuit.parent.parent.parent
    config = example_config()
    config["connectome"]["models"]["mtypes"]["L4_BC"]["threshold_current"] = 0.2
    jobs = job_counts(run_snakemake(folder, config, "-n", "--cores", "1", "all").stdout)
    assert set(jobs) - {"all", "sonata"} == {"sonata_nodes", "sonata_circuit_config"}


@pytest.mark.slow
def test_bad_models_are_one_line_errors_before_any_job(circuit):
    folder = circuit.parent.parent.parent
    for edit, message in (
        (lambda m: m["mtypes"].pop("L4_BC"), "error: connectome.models.mtypes: no cell model for mtype(s) L4_BC"),
        (
            lambda m: m["mtypes"]["L4_BC"].update(model_template="hoc:Missing"),
            "error: connectome.models.mtypes.L4_BC.model_template: example/models/hoc/Missing.hoc does not exist",
        ),
    ):
        config = example_config()
        edit(config["connectome"]["models"])
        proc = run_snakemake(folder, config, "-n", "--cores", "1", "all", check=False)
        assert proc.returncode != 0
        assert proc.stderr.strip().splitlines()[-1] == message


@pytest.mark.slow
def test_partial_without_models(circuit, tmp_path):
    """Without connectome.models the config names the synthesized nodes and is partial."""
    from circuitflow.sonata.circuit import write_circuit

    out = circuit.parent
    config = write_circuit(
        tmp_path / "circuit_config.json",
        out.parent / "synthesis" / "nodes.h5",
        None,
        out.parent / "synthesis" / "morphologies",
        ["h5"],
        [out / "edges.h5"],
        out / "node_sets.json",
        None,
    )
    assert config["metadata"] == {"status": "partial"}
    assert "biophysical_neuron_models_dir" not in config["components"]


@pytest.mark.slow
def test_bluepysnap_validator_reports_no_errors(circuit):
    from bluepysnap import Circuit
    from bluepysnap.circuit_validation import validate

    errors = validate(str(circuit), skip_slow=False, only_errors=True, print_errors=False)
    assert not errors, "\n".join(str(e) for e in errors)
    snap = Circuit(str(circuit))
    nodes = snap.nodes["example"]
    assert nodes.size == 40
    assert set(nodes.get(properties="morph_class")) == {"PYR", "INT"}
    assert set(nodes.ids("Inhibitory")) == set(nodes.ids({"mtype": "L4_BC"}))


@pytest.mark.slow
def test_libsonata_reads_every_attribute(circuit):
    config = libsonata.CircuitConfig.from_file(str(circuit))
    for name in config.node_populations:
        pop = config.node_population(name)
        sel = pop.select_all()
        for attr in pop.attribute_names:
            assert len(pop.get_attribute(attr, sel)) == pop.size, attr
        for attr in pop.dynamics_attribute_names:
            assert len(pop.get_dynamics_attribute(attr, sel)) == pop.size, attr
        assert {"model_type", "model_template", "morph_class", "synapse_class", "etype"} <= pop.attribute_names
    for name in config.edge_populations:
        pop = config.edge_population(name)
        sel = libsonata.Selection([(0, pop.size)])
        for attr in pop.attribute_names:
            assert len(pop.get_attribute(attr, sel)) == pop.size, (name, attr)
    node_sets = libsonata.NodeSets.from_file(config.node_sets_path)
    assert {"All", "L4_BC", "Excitatory", "Inhibitory"} <= node_sets.names


@pytest.mark.slow
def test_snudda_load_reads_the_network(circuit):
    """Issue 18 item 7: the synthesized circuit's network-synapses.hdf5 has every field SnuddaLoad reads."""
    assert missing_for_snudda_load(circuit.parent.parent / "network-synapses.hdf5") == []


@pytest.fixture(scope="module")
def mechanisms(circuit, tmp_path_factory):
    """The circuit's mechanisms compiled once (the install step of a simulation); the cache folder."""
    from circuitflow.sonata.simulate import compile_mechanisms

    cache = tmp_path_factory.mktemp("mechanisms")
    compile_mechanisms(circuit, cache.parent / f"{cache.name}-build", cache)
    return cache


@pytest.mark.slow
@pytest.mark.skipif(not REQUIRED and not HAS_NEURODAMUS, reason="neurodamus not installed (extra `simulate`)")
def test_neurodamus_simulation_matches_edges(circuit, mechanisms, tmp_path):
    """100 ms, pulses into the 3 cells with most outgoing synapses; events match the edges exactly."""
    from circuitflow.sonata.simulate import simulate

    start = time.monotonic()
    summary = simulate(circuit, tmp_path / "sim", tstop=100.0, n_stimulated=3, cache_dir=mechanisms)
    elapsed = time.monotonic() - start
    assert elapsed < 60, f"simulation took {elapsed:.0f} s"
    # the stimulated cells fire; their synapses, and only theirs, receive one event per spike
    assert set(summary["stimulated"]) <= set(summary["spiking_cells"])
    assert summary["events"] > 0 and summary["synapses_with_events"] > 0
    assert summary["postsynaptic_cells_with_events"] == summary["expected_postsynaptic_cells"]
    assert summary["gap_junctions"] > 0  # the example's L4_BC pairs
    spikes = libsonata.SpikeReader(str(tmp_path / "sim" / "output" / "spikes.h5"))["example"].get()
    assert len(spikes) == summary["spikes"]
    assert np.all(np.diff([t for _, t in spikes]) >= 0)
