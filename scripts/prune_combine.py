"""Rule prune_combine: concatenate the pruned ranges into network-synapses.hdf5 (Snudda's layout)."""

import argparse

from circuitflow.prune.combine import combine
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", required=True, help="pruning config (JSON), stored as /config")
parser.add_argument("--network", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--threads", type=int, default=1, help="threads compressing the output")
parser.add_argument("pruned", nargs="+", help="pruned range files, in range order")
run(lambda a: combine(a.pruned, a.config, a.network, a.out, a.threads), parser)
