"""Rule gather: collect one destination range's putative rows from the hypervoxel files holding them."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.gather import gather_range

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--network", required=True)
p.add_argument("--index", required=True)
p.add_argument("--n-ranges", type=int, required=True)
p.add_argument("--range", type=int, required=True)
p.add_argument("--out", required=True)
sys.exit(run(lambda a: gather_range(a.network, a.index, a.n_ranges, a.range, a.out), p))
