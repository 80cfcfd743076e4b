"""Rule merge: gather one destination range's rows (in memory) and write them in Snudda's merge order, grouped by type."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.merge import gather_merge_range

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--network", required=True, help="Snudda network directory")
p.add_argument("--index", required=True, help="hypervoxel index written by check_hypervoxels")
p.add_argument("--n-ranges", type=int, required=True)
p.add_argument("--range", type=int, required=True)
p.add_argument("--out", required=True)
sys.exit(run(lambda a: gather_merge_range(a.network, a.index, a.n_ranges, a.range, a.out), p))
