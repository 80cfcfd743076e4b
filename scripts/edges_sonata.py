"""Rule sonata_edges: network-synapses.hdf5 + the SONATA nodes it was detected on -> SONATA edges.h5."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.edges import convert_files

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--synapses", required=True, help="Snudda network-synapses.hdf5")
p.add_argument("--nodes", required=True, help="SONATA nodes file detect read")
p.add_argument("--node-population", default=None, help="node population (default: the only one)")
p.add_argument("--morphology-dir", required=True)
p.add_argument("--morphology-ext", default="h5", choices=["h5", "asc", "swc"])
p.add_argument("--population", default=None, help="edge population (default: <nodes>__<nodes>__chemical)")
p.add_argument("--out", required=True)
sys.exit(run(lambda a: convert_files(a.synapses, a.nodes, a.morphology_dir, a.out, a.morphology_ext,
                                     a.node_population, a.population or None), p))
