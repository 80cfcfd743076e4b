"""Rule report_pathways_range: synapses per connection per pathway, putative and kept, of one destination range."""

import argparse

from circuitflow.report.pathways import write_range_histogram
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--network", required=True, help="detect network folder (voxels/, log/)")
parser.add_argument("--index", required=True, help="hypervoxel index written by prune_check_hypervoxels")
parser.add_argument("--synapses", required=True, help="network-synapses.hdf5")
parser.add_argument("--n-ranges", type=int, required=True)
parser.add_argument("--range", type=int, required=True)
parser.add_argument("--out", required=True, help="the range's histograms (JSON)")
run(lambda a: write_range_histogram(a.network, a.index, a.synapses, a.n_ranges, a.range, a.out), parser)
