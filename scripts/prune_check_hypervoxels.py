"""Rule prune_check_hypervoxels: check every hypervoxel file the worklog lists and index them per neuron."""

import argparse

from circuitflow.prune.index import build_index
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--network", required=True, help="Snudda network directory")
parser.add_argument("--out", required=True, help="index file to write")
run(lambda a: build_index(a.network, a.out), parser)
