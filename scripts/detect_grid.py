"""Rule detect_grid: reduce the chunk bounding boxes to the hypervoxel grid."""

import argparse

from circuitflow.detect.steps import grid
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--work-dir", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("bbox", nargs="+")
run(lambda a: grid(a.work_dir, a.bbox, a.out), parser)
