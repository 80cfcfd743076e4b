"""Rule detect_worklog: write the detect worklog and gather the hypervoxel files into voxels/."""
import argparse

from circuitflow.detect.steps import worklog
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--work-dir", required=True)
parser.add_argument("--grid", required=True)
parser.add_argument("--network-dir", required=True)
parser.add_argument("--raster", nargs="+", required=True)
parser.add_argument("--bbox", nargs="+", required=True)
parser.add_argument("--batch-dirs", nargs="+", required=True)
run(lambda a: worklog(a.work_dir, a.grid, a.raster, a.bbox, a.batch_dirs, a.network_dir), parser)
