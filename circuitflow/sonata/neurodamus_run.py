"""Run one neurodamus simulation in this process; write its spikes and per-synapse event counts.

`circuitflow simulate` starts this module as a subprocess with NEURON's environment set
(`NRNMECH_LIB_PATH`, `HOC_LIBRARY_PATH`, `NEURON_INIT_MPI=0`): NEURON reads them when it loads, so
they cannot be set from inside a process that has imported it. Only here is neurodamus imported.

Output (HDF5): `spikes/node_ids`, `spikes/timestamps` (ms, every cell of the population), and one row
per chemical synapse neurodamus instantiated: `synapses/pre`, `synapses/post` (node ids), `delay`
(ms) and `weight` (nS) as neurodamus read them from the edges, `events` (presynaptic events
the synapse received, counted by the example's synapse mechanisms); one row per gap junction:
`gap_junctions/pre`, `post` and `conductance` (nS, as set on the model).
"""

from __future__ import annotations

import argparse
import sys

import h5py
import numpy as np


def simulate(sim_config: str, population: str) -> dict:
    """Run `sim_config` with neurodamus; the spikes and per-synapse events of `population`."""
    # One process, no MPI: neurodamus' edge reader takes mpi4py when it imports, which fails where
    # mpi4py is installed without an MPI library (and would start MPI where there is one).
    sys.modules["mpi4py"] = None
    from neurodamus import Neurodamus
    from neurodamus.connection_manager import SynapseRuleManager
    from neurodamus.core import NeuronWrapper as Nd
    from neurodamus.gap_junction import GapJunctionManager

    nd = Neurodamus(sim_config, lb_mode="RoundRobin", logging_level=0)
    times, gids = Nd.Vector(), Nd.Vector()
    Nd.pc.spike_record(-1, times, gids)
    nd.run(cleanup=False)
    rows, gaps = [], []
    for manager in nd.circuits.get_edge_managers(population, population):
        chemical = isinstance(manager, SynapseRuleManager)
        if not chemical and not isinstance(manager, GapJunctionManager):
            continue
        for conn in manager.all_connections():
            params = conn.synapse_params
            if chemical:
                for syn, delay, weight in zip(conn.synapses, params["delay"], params["weight"], strict=True):
                    rows.append((conn.sgid, conn.tgid, delay, weight, syn.n_events))
            else:
                gaps += [(conn.sgid, conn.tgid, gap.g) for gap in conn.synapses]
    return {
        "node_ids": np.asarray(gids, dtype=np.int64),
        "timestamps": np.asarray(times, dtype=np.float64),
        "synapses": np.array(rows, dtype=np.float64).reshape(-1, 5),
        "gap_junctions": np.array(gaps, dtype=np.float64).reshape(-1, 3),
    }


def write(out: str, result: dict) -> None:
    """The result as HDF5 at `out`."""
    table = result["synapses"]
    with h5py.File(out, "w") as f:
        f.create_dataset("spikes/node_ids", data=result["node_ids"])
        f.create_dataset("spikes/timestamps", data=result["timestamps"])
        f.create_dataset("synapses/pre", data=table[:, 0].astype(np.int64))
        f.create_dataset("synapses/post", data=table[:, 1].astype(np.int64))
        f.create_dataset("synapses/delay", data=table[:, 2])
        f.create_dataset("synapses/weight", data=table[:, 3])
        f.create_dataset("synapses/events", data=table[:, 4].astype(np.int64))
        gaps = result["gap_junctions"]
        f.create_dataset("gap_junctions/pre", data=gaps[:, 0].astype(np.int64))
        f.create_dataset("gap_junctions/post", data=gaps[:, 1].astype(np.int64))
        f.create_dataset("gap_junctions/conductance", data=gaps[:, 2])


def main(argv: list[str] | None = None) -> int:
    """Entry point: simulation config, node population, output file."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("simulation_config")
    p.add_argument("population")
    p.add_argument("out")
    a = p.parse_args(argv)
    write(a.out, simulate(a.simulation_config, a.population))
    return 0


if __name__ == "__main__":
    sys.exit(main())
