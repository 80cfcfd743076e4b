"""Rule sonata_circuit_config: a SONATA circuit_config.json for the nodes, morphologies, node sets and edges."""

import argparse
import json

from circuitflow.runner import run
from circuitflow.sonata.circuit import write_circuit

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--nodes", required=True)
parser.add_argument("--node-population", default=None, help="node population (default: the only one)")
parser.add_argument("--morphology-dir", required=True)
parser.add_argument("--morphology-ext", nargs="+", required=True, help="morphology formats in the folder")
parser.add_argument("--edges", nargs="+", required=True, help="edges files (chemical, electrical)")
parser.add_argument("--node-sets", default=None)
parser.add_argument("--models", default="", help="connectome.models as JSON (empty or {}: a partial circuit)")
parser.add_argument("--out", required=True)
run(
    lambda a: write_circuit(
        a.out,
        a.nodes,
        a.node_population or None,
        a.morphology_dir,
        a.morphology_ext,
        a.edges,
        a.node_sets,
        json.loads(a.models or "{}") or None,
    ),
    parser,
)
