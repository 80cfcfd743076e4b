"""Rule sonata_nodes: node sets of the synthesized nodes and, with cell models, the simulation nodes."""

import argparse
import json

from circuitflow.runner import run
from circuitflow.sonata.nodes import sonata_nodes

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--nodes", required=True)
parser.add_argument("--node-population", default=None, help="node population (default: the only one)")
parser.add_argument("--models", default="", help="connectome.models as JSON (empty or {}: node sets only)")
parser.add_argument("--out-node-sets", required=True)
parser.add_argument("--out-nodes", default=None, help="the simulation nodes file (with --models)")
run(
    lambda a: sonata_nodes(
        a.nodes, a.node_population or None, json.loads(a.models or "{}") or None, a.out_node_sets, a.out_nodes
    ),
    parser,
)
