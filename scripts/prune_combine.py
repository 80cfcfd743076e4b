"""Rule combine: concatenate the pruned ranges into network-synapses.hdf5 (Snudda's layout)."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.combine import combine

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--config", required=True, help="pruning config (JSON), stored as /config")
p.add_argument("--network", required=True)
p.add_argument("--out", required=True)
p.add_argument("--threads", type=int, default=1, help="threads compressing the output")
p.add_argument("pruned", nargs="+", help="pruned range files, in range order")
sys.exit(run(lambda a: combine(a.pruned, a.config, a.network, a.out, a.threads), p))
