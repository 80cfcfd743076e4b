"""Rule detect_raster_index: the chunks' raster files and which of them hold each hypervoxel, in one file."""

import argparse

from circuitflow.detect.steps import raster_index
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", required=True)
parser.add_argument("raster", nargs="+")
run(lambda a: raster_index(a.raster, a.out), parser)
