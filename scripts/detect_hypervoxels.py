"""Rule detect_hypervoxels: detect one batch of hypervoxels (with --mpi the MPI ranks split the batch)."""

import argparse

from circuitflow.detect.steps import hypervoxels_job
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--work-dir", required=True)
parser.add_argument("--grid", required=True)
parser.add_argument("--batch", type=int, required=True)
parser.add_argument("--batches", type=int, required=True)
parser.add_argument("--out-dir", required=True)
parser.add_argument("--mpi", action="store_true", help="split the batch over the MPI ranks (mpi4py)")
parser.add_argument("--raster-index", required=True, help="the raster files' index (detect_raster_index)")
run(
    lambda a: hypervoxels_job(a.work_dir, a.grid, a.raster_index, a.batch, a.batches, a.out_dir, a.mpi),
    parser,
)
