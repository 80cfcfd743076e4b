"""Rule prune_gather_merge: gather one destination range's rows and write them in Snudda's merge order."""

import argparse

from circuitflow.prune.merge import gather_merge_range
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--network", required=True, help="Snudda network directory")
parser.add_argument("--index", required=True, help="hypervoxel index written by prune_check_hypervoxels")
parser.add_argument("--n-ranges", type=int, required=True)
parser.add_argument("--range", type=int, required=True)
parser.add_argument("--out", required=True)
run(lambda a: gather_merge_range(a.network, a.index, a.n_ranges, a.range, a.out), parser)
