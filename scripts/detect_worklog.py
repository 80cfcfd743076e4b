"""Rule detect_worklog: write the detect worklog and gather the hypervoxel files into voxels/."""

import argparse

from circuitflow.detect.steps import read_raster_index, worklog
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--work-dir", required=True)
parser.add_argument("--grid", required=True)
parser.add_argument("--network-dir", required=True)
parser.add_argument("--raster-index", required=True, help="the raster files' index (detect_raster_index)")
parser.add_argument("--bbox", nargs="+", required=True)
parser.add_argument("--batch-dirs", nargs="+", required=True)
run(
    lambda a: worklog(a.work_dir, a.grid, read_raster_index(a.raster_index), a.bbox, a.batch_dirs, a.network_dir),
    parser,
)
