"""Rule synthesis_cache_atlas: per-cell atlas lookups (depths, orientations, layer boundaries), once."""

import argparse

from circuitflow.runner import run
from circuitflow.synthesis.atlas import cache_atlas

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--cells", required=True)
parser.add_argument("--atlas", required=True, help="atlas folder")
parser.add_argument("--region-structure", required=True)
parser.add_argument("--min-depth", type=float, required=True)
parser.add_argument("--max-depth", type=float, required=True)
parser.add_argument("--out", required=True)
run(lambda a: cache_atlas(a.cells, a.atlas, a.region_structure, a.min_depth, a.max_depth, a.out), parser)
