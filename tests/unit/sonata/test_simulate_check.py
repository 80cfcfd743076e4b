"""The simulation check: synapses, delays, conductances and event counts against the edges."""

from __future__ import annotations

import numpy as np
import pytest

from circuitflow.sonata.simulate import SimulationError, check, check_gap_junctions, simulation_config, stimulated_cells

EDGES = {
    "pre": np.array([0, 0, 1, 2]),
    "post": np.array([1, 1, 2, 0]),
    "delay": np.array([1.5, 2.0, 1.0, 0.5]),
    "conductance": np.array([0.5, 0.7, 1.0, 0.2]),
}


def result(events, delay=None, pre=None):
    """A neurodamus result with cell 0 spiking at 10 and 95 ms, cell 1 at 20 ms; synapses in another order."""
    order = [3, 2, 1, 0]
    return {
        "spikes_node_ids": np.array([0, 1, 0]),
        "spikes_timestamps": np.array([10.0, 20.0, 95.0]),
        "synapses_pre": (EDGES["pre"] if pre is None else np.asarray(pre))[order],
        "synapses_post": EDGES["post"][order],
        "synapses_delay": (EDGES["delay"] if delay is None else np.asarray(delay))[order],
        "synapses_weight": EDGES["conductance"][order],
        "synapses_events": np.asarray(events)[order],
    }


def test_consistent_run():
    # cell 0's 95 ms spike reaches its synapses after tstop only through the 2 ms delay
    summary = check(EDGES, result([2, 1, 1, 0]), tstop=96.8)
    assert summary["synapses"] == 4 and summary["events"] == 4
    assert summary["postsynaptic_cells_with_events"] == summary["expected_postsynaptic_cells"] == [1, 2]
    assert summary["spiking_cells"] == [0, 1]


def test_missing_event_is_an_error():
    with pytest.raises(SimulationError, match="synapse 0->1 received 1 events, its presynaptic cell's spikes give 2"):
        check(EDGES, result([1, 1, 1, 0]), tstop=96.8)


def test_event_at_an_unconnected_cell_is_an_error():
    with pytest.raises(SimulationError, match="synapse 2->0 received 1 events"):
        check(EDGES, result([2, 1, 1, 1]), tstop=96.8)


def test_delay_and_connection_mismatches_are_errors():
    with pytest.raises(SimulationError, match="delay 3.0 in the model, 1.0 in the edges"):
        check(EDGES, result([2, 1, 1, 0], delay=[1.5, 2.0, 3.0, 0.5]), tstop=96.8)
    with pytest.raises(SimulationError, match="first difference"):
        check(EDGES, result([2, 1, 1, 0], pre=[0, 0, 1, 1]), tstop=96.8)


def test_stimulated_cells_have_most_outgoing_synapses():
    assert stimulated_cells(np.array([5, 5, 3, 3, 7, 9, 9, 9]), 2) == [3, 9]


def test_simulation_config_pulses_end_before_tstop(tmp_path):
    cfg = simulation_config(tmp_path / "c" / "circuit_config.json", tmp_path / "sim", "example", 100.0, 3.0)
    pulses = cfg["inputs"]["pulses"]
    assert cfg["network"] == "../c/circuit_config.json"
    assert pulses["delay"] + pulses["duration"] <= 80.0
    assert pulses["node_set"] == "circuitflow_stimulated"


def test_gap_junctions_match_the_electrical_edges():
    edges = {"pre": np.array([1, 5]), "post": np.array([5, 1]), "conductance": np.array([0.2, 0.2])}
    model = {
        "gap_junctions_pre": np.array([5, 1]),
        "gap_junctions_post": np.array([1, 5]),
        "gap_junctions_conductance": np.array([0.2, 0.2]),
    }
    assert check_gap_junctions(edges, model) == 2
    model["gap_junctions_conductance"] = np.array([0.2, 0.3])
    with pytest.raises(SimulationError, match="first difference"):
        check_gap_junctions(edges, model)
