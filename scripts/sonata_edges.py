"""Rule sonata_edges: the synapses and gap junctions onto one range of target nodes -> an edge range file."""

import argparse

from circuitflow.runner import run
from circuitflow.sonata.edges import convert_files

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--synapses", required=True, help="Snudda network-synapses.hdf5")
parser.add_argument("--nodes", required=True, help="SONATA nodes file detect read")
parser.add_argument("--node-population", default=None, help="node population (default: the only one)")
parser.add_argument("--morphology-dir", required=True)
parser.add_argument("--morphology-ext", default="h5", choices=["h5", "asc", "swc"])
parser.add_argument("--physiology", required=True, help="physiology JSON (rule sonata_physiology)")
parser.add_argument("--first-node", type=int, required=True, help="first target node id of the range")
parser.add_argument("--end-node", type=int, required=True, help="end (exclusive) of the target node range")
parser.add_argument("--population", default=None, help="edge population (default: <nodes>__<nodes>__chemical)")
parser.add_argument("--out", required=True, help="edge range file")
run(
    lambda a: convert_files(
        a.synapses,
        a.nodes,
        a.morphology_dir,
        a.physiology,
        a.out,
        a.first_node,
        a.end_node,
        a.morphology_ext,
        a.node_population or None,
        a.population or None,
    ),
    parser,
)
