"""Rule sonata_edges: network-synapses.hdf5 + the SONATA nodes it was detected on -> SONATA edges.h5."""
import argparse

from circuitflow.runner import run
from circuitflow.sonata.edges import convert_files

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--synapses", required=True, help="Snudda network-synapses.hdf5")
parser.add_argument("--nodes", required=True, help="SONATA nodes file detect read")
parser.add_argument("--node-population", default=None, help="node population (default: the only one)")
parser.add_argument("--morphology-dir", required=True)
parser.add_argument("--morphology-ext", default="h5", choices=["h5", "asc", "swc"])
parser.add_argument("--population", default=None, help="edge population (default: <nodes>__<nodes>__chemical)")
parser.add_argument("--out", required=True)
run(lambda a: convert_files(a.synapses, a.nodes, a.morphology_dir, a.out, a.morphology_ext,
                            a.node_population or None, a.population or None), parser)
