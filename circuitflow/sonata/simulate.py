"""Simulate a SONATA circuit with neurodamus and check the result against the edges.

`simulate(circuit_config, out_dir)`:

1. Picks the presynaptic cells with the most outgoing chemical synapses (ties: lower node id) and
   writes a SONATA `simulation_config.json` in `out_dir`: `tstop` ms, current pulses (`amplitude` nA,
   2 ms at 50 Hz, from 10 ms to 20 ms before the end) into those cells, `node_sets.json` with the
   circuit's node sets plus `circuitflow_stimulated`.
2. Compiles the mechanisms (neurodamus' own and the circuit's `mechanisms_dir`) with
   `neurodamus-compile-mods` into a cache keyed by the mod files' contents, with
   `-DDISABLE_REPORTINGLIB`: neurodamus' report mechanisms otherwise need Blue Brain's
   libsonatareport, a C++ library on no package registry. Without it neurodamus writes no report
   files, so spikes and synapse events are taken from the model (`neurodamus_run`).
3. Runs neurodamus (`neurodamus_run`, a subprocess) and writes `output/spikes.h5` (SONATA spikes).
4. Checks the simulation against the edges: every connection of the edges has exactly its synapses
   in the model, with the edges' conductances and delays (rounded down to the time step, as
   neurodamus does); every synapse received exactly one event per spike of its presynaptic cell
   that arrives before `tstop`; the cells that received events are exactly the targets of the
   spiking cells; every gap junction of the edges is in the model with its conductance.
   `summary.json` records the counts; a mismatch is an error naming the first one.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import libsonata
import numpy as np

from circuitflow.errors import CircuitflowError
from circuitflow.io.atomic import atomic_h5, write_json

log = logging.getLogger(__name__)

STIMULATED = "circuitflow_stimulated"
PULSE = {"width": 2.0, "frequency": 50.0, "delay": 10.0}
DT = 0.025


class SimulationError(CircuitflowError):
    """The circuit cannot be simulated, or the simulation disagrees with the edges."""


def circuit_parts(circuit_config: str | os.PathLike) -> tuple[libsonata.CircuitConfig, str, dict]:
    """The parsed config, its one biophysical node population and its edge populations by type."""
    try:
        config = libsonata.CircuitConfig.from_file(str(circuit_config))
    except (RuntimeError, libsonata.SonataError) as exc:
        raise SimulationError(f"{circuit_config}: {exc}") from exc
    nodes = sorted(config.node_populations)
    if len(nodes) != 1:
        raise SimulationError(f"{circuit_config}: expected one node population, found {nodes}")
    props = config.node_population_properties(nodes[0])
    if not getattr(props, "biophysical_neuron_models_dir", ""):
        raise SimulationError(
            f"{circuit_config}: no biophysical_neuron_models_dir (a partial circuit); "
            "give cell models in connectome.models"
        )
    by_type = {"chemical": [], "electrical": []}
    for name in sorted(config.edge_populations):
        kind = config.edge_population_properties(name).type
        if kind in by_type:
            by_type[kind].append(name)
    return config, nodes[0], by_type


def read_edges(config: libsonata.CircuitConfig, populations: list[str], attributes: tuple[str, ...]) -> dict:
    """Source (`pre`), target (`post`) and `attributes` of every edge of `populations`."""
    parts = {k: [] for k in ("pre", "post", *attributes)}
    for name in populations:
        pop = config.edge_population(name)
        sel = libsonata.Selection([(0, pop.size)])
        parts["pre"].append(pop.source_nodes(sel))
        parts["post"].append(pop.target_nodes(sel))
        for attr in attributes:
            parts[attr].append(pop.get_attribute(attr, sel))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}


def stimulated_cells(pre: np.ndarray, n: int) -> list[int]:
    """The `n` cells with the most outgoing synapses (ties: lower node id)."""
    ids, counts = np.unique(np.asarray(pre, dtype=np.int64), return_counts=True)
    order = np.lexsort((ids, -counts))
    return sorted(int(i) for i in ids[order[:n]])


def simulation_config(
    circuit_config: str | os.PathLike, out_dir: Path, population: str, tstop: float, amplitude: float
) -> dict:
    """The SONATA simulation config (paths relative to `out_dir`)."""
    return {
        "network": os.path.relpath(os.path.abspath(circuit_config), out_dir.resolve()),
        "node_sets_file": "node_sets.json",
        "node_set": "All",
        "target_simulator": "NEURON",
        "run": {"tstop": tstop, "dt": DT, "random_seed": 1},
        "conditions": {"celsius": 34.0, "v_init": -65.0},
        "output": {"output_dir": "output", "spikes_file": "spikes.h5"},
        "inputs": {
            "pulses": {
                "input_type": "current_clamp",
                "module": "pulse",
                "node_set": STIMULATED,
                "amp_start": amplitude,
                **PULSE,
                "duration": tstop - 20.0 - PULSE["delay"],
            },
        },
    }


def circuit_node_sets(config_path: str | os.PathLike) -> dict:
    """The circuit's node sets (empty when it names no node sets file)."""
    path = libsonata.CircuitConfig.from_file(str(config_path)).node_sets_path
    return json.loads(Path(path).read_text()) if path else {}


def _executable(name: str) -> str:
    """`name` beside this Python (its venv's bin), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise SimulationError(f"{name} not found: install the simulate extra (pip install 'circuitflow[simulate]')")
    return found


def compile_mechanisms(circuit_config: str | os.PathLike, out_dir: Path, cache_dir: Path) -> str:
    """Compile neurodamus' and the circuit's mechanisms (cached); the path of libnrnmech."""
    cmd = [
        _executable("neurodamus-compile-mods"),
        "--with-internal-mods",
        "--circuit-config",
        str(circuit_config),
        "--output-dir",
        str(out_dir),
        "--cache-dir",
        str(cache_dir),
        "--incflags=-DDISABLE_REPORTINGLIB",
        "--nrnivmodl",
        _executable("nrnivmodl"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SimulationError(f"compiling the mechanisms failed: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["NRNMECH_LIB_PATH"]


def run_neurodamus(sim_config: Path, population: str, mechanisms: str, result: Path, log_file: Path) -> None:
    """Run `neurodamus_run` in a subprocess with NEURON's environment; its log to `log_file`."""
    spec = importlib.util.find_spec("neurodamus")
    if spec is None or spec.origin is None:
        raise SimulationError(
            "neurodamus is not installed: install the simulate extra (pip install 'circuitflow[simulate]')"
        )
    hoc = Path(spec.origin).parent / "data" / "hoc"
    env = dict(
        os.environ,
        NEURON_INIT_MPI="0",
        NRNMECH_LIB_PATH=mechanisms,
        HOC_LIBRARY_PATH=os.pathsep.join(filter(None, [str(hoc), os.environ.get("HOC_LIBRARY_PATH")])),
    )
    cmd = [sys.executable, "-m", "circuitflow.sonata.neurodamus_run", sim_config.name, population, str(result)]
    with open(log_file, "w") as out:
        proc = subprocess.run(cmd, cwd=sim_config.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SimulationError(f"neurodamus failed (exit {proc.returncode}); see {log_file}")


def read_result(path: Path) -> dict:
    """The spikes and synapse table `neurodamus_run` wrote."""
    with h5py.File(path, "r") as f:
        return {
            k.replace("/", "_"): f[k][()]
            for k in (
                "spikes/node_ids",
                "spikes/timestamps",
                "synapses/pre",
                "synapses/post",
                "synapses/delay",
                "synapses/weight",
                "synapses/events",
                "gap_junctions/pre",
                "gap_junctions/post",
                "gap_junctions/conductance",
            )
        }


def write_spikes(path: Path, population: str, node_ids: np.ndarray, timestamps: np.ndarray) -> None:
    """A SONATA spike file sorted by time."""
    order = np.lexsort((node_ids, timestamps))
    with atomic_h5(path) as f:
        g = f.create_group(f"spikes/{population}")
        # SONATA's sorting attribute is an HDF5 enum (libsonata's SpikeReader reads it as one)
        g.attrs.create("sorting", 2, dtype=h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype="u1"))
        ts = g.create_dataset("timestamps", data=np.asarray(timestamps, dtype=np.float64)[order])
        ts.attrs["units"] = "ms"
        g.create_dataset("node_ids", data=np.asarray(node_ids, dtype=np.uint64)[order])


def expected_events(pre: np.ndarray, delay: np.ndarray, spikes: dict, tstop: float) -> np.ndarray:
    """Per synapse: the spikes of its presynaptic cell that arrive before `tstop`."""
    by_cell: dict[int, np.ndarray] = {}
    for node, t in zip(spikes["node_ids"], spikes["timestamps"]):
        by_cell.setdefault(int(node), []).append(t)
    out = np.zeros(len(pre), dtype=np.int64)
    for i, (p, d) in enumerate(zip(pre, delay)):
        times = np.asarray(by_cell.get(int(p), []))
        out[i] = int(np.sum(times + d < tstop))
    return out


def check(edges: dict, result: dict, tstop: float) -> dict:
    """Compare the simulated synapses and events with the edges; the summary, or SimulationError."""
    spikes = {"node_ids": result["spikes_node_ids"], "timestamps": result["spikes_timestamps"]}
    # pair synapses by (pre, post, conductance, delay): the model keeps conductances exactly, rounds delays
    key_e = np.lexsort((edges["delay"], edges["conductance"], edges["post"], edges["pre"]))
    key_s = np.lexsort(
        (result["synapses_delay"], result["synapses_weight"], result["synapses_post"], result["synapses_pre"])
    )
    e = {k: np.asarray(v)[key_e] for k, v in edges.items()}
    s = {k: np.asarray(result[f"synapses_{k}"])[key_s] for k in ("pre", "post", "delay", "weight", "events")}
    if len(e["pre"]) != len(s["pre"]) or not (
        np.array_equal(e["pre"], s["pre"]) and np.array_equal(e["post"], s["post"])
    ):
        pairs_e = set(zip(e["pre"].tolist(), e["post"].tolist()))
        pairs_s = set(zip(s["pre"].tolist(), s["post"].tolist()))
        diff = sorted(pairs_e ^ pairs_s) or ["per-pair synapse counts differ"]
        raise SimulationError(
            f"the model has {len(s['pre'])} synapses, the edges {len(e['pre'])}; first difference: {diff[0]}"
        )
    # neurodamus rounds delays down to a multiple of the time step
    lag = e["delay"] - s["delay"]
    checks = {
        "delay": ("delay", (lag > -1e-6) & (lag < DT + 1e-6)),
        "conductance": ("weight", np.isclose(e["conductance"], s["weight"], rtol=1e-5, atol=1e-6)),
    }
    for name, (sim_name, ok) in checks.items():
        bad = np.flatnonzero(~ok)
        if bad.size:
            i = bad[0]
            raise SimulationError(
                f"synapse {e['pre'][i]}->{e['post'][i]}: {name} {s[sim_name][i]} in the model, "
                f"{e[name][i]} in the edges"
            )
    want = expected_events(e["pre"], s["delay"], spikes, tstop)
    bad = np.flatnonzero(want != s["events"])
    if bad.size:
        i = bad[0]
        raise SimulationError(
            f"synapse {e['pre'][i]}->{e['post'][i]} received {s['events'][i]} events, "
            f"its presynaptic cell's spikes give {want[i]}"
        )
    receivers = sorted(set(e["post"][want > 0].tolist()))
    received = sorted(set(s["post"][s["events"] > 0].tolist()))
    spiking = sorted(set(np.asarray(spikes["node_ids"]).tolist()))
    return {
        "synapses": int(len(e["pre"])),
        "spikes": int(len(spikes["node_ids"])),
        "spiking_cells": spiking,
        "synapses_with_events": int(np.sum(s["events"] > 0)),
        "events": int(np.sum(s["events"])),
        "postsynaptic_cells_with_events": received,
        "expected_postsynaptic_cells": receivers,
    }


def check_gap_junctions(edges: dict, result: dict) -> int:
    """Every electrical edge is one gap junction of the model, with its conductance; their count."""

    def rows(pre, post, g):
        return sorted(
            zip(np.asarray(pre).tolist(), np.asarray(post).tolist(), np.round(np.asarray(g, float), 4).tolist())
        )

    want = rows(edges["pre"], edges["post"], edges["conductance"])
    got = rows(result["gap_junctions_pre"], result["gap_junctions_post"], result["gap_junctions_conductance"])
    if want != got:
        diff = sorted(set(want) ^ set(got)) or ["per-pair counts differ"]
        raise SimulationError(
            f"the model has {len(got)} gap junctions, the edges {len(want)}; first difference: {diff[0]}"
        )
    return len(got)


def default_cache() -> Path:
    """Where compiled mechanisms are cached: $XDG_CACHE_HOME (or ~/.cache)/circuitflow/mechanisms."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "circuitflow" / "mechanisms"


def simulate(
    circuit_config: str | os.PathLike,
    out_dir: str | os.PathLike,
    tstop: float = 100.0,
    n_stimulated: int = 3,
    amplitude: float = 3.0,
    cache_dir: str | os.PathLike | None = None,
) -> dict:
    """Simulate `circuit_config` into `out_dir` and check it against the edges; the summary."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config, population, by_type = circuit_parts(circuit_config)
    edges = read_edges(config, by_type["chemical"], ("delay", "conductance"))
    gap_edges = read_edges(config, by_type["electrical"], ("conductance",))
    if not len(edges["pre"]):
        raise SimulationError(f"{circuit_config}: no chemical synapses to simulate")
    stimulated = stimulated_cells(edges["pre"], n_stimulated)
    sets = {**circuit_node_sets(circuit_config), STIMULATED: {"population": population, "node_id": stimulated}}
    write_json(out / "node_sets.json", sets)
    write_json(out / "simulation_config.json", simulation_config(circuit_config, out, population, tstop, amplitude))
    mechanisms = compile_mechanisms(circuit_config, out / "mechanisms", Path(cache_dir or default_cache()))
    result_file = out / "neurodamus-result.h5"
    run_neurodamus(out / "simulation_config.json", population, mechanisms, result_file, out / "neurodamus.log")
    result = read_result(result_file)
    (out / "output").mkdir(exist_ok=True)
    write_spikes(out / "output" / "spikes.h5", population, result["spikes_node_ids"], result["spikes_timestamps"])
    summary = {
        "stimulated": stimulated,
        "tstop": tstop,
        **check(edges, result, tstop),
        "gap_junctions": check_gap_junctions(gap_edges, result),
    }
    write_json(out / "summary.json", summary)
    return summary
