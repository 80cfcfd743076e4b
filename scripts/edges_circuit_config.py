"""Rule circuit_config: a SONATA circuit_config.json for the nodes, morphologies and edges."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.edges import edge_populations, node_population
from circuitflow.io.circuit_config import write_circuit_config

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--nodes", required=True)
p.add_argument("--node-population", default=None, help="node population (default: the only one)")
p.add_argument("--morphology-dir", required=True)
p.add_argument("--morphology-ext", nargs="+", required=True, help="morphology formats in the folder")
p.add_argument("--edges", required=True)
p.add_argument("--out", required=True)


def main(a):
    edges = [(a.edges, pop, kind) for pop, kind in edge_populations(a.edges)]
    write_circuit_config(a.out, a.nodes, node_population(a.nodes, a.node_population), a.morphology_dir,
                         a.morphology_ext, edges)


sys.exit(run(main, p))
