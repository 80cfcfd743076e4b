"""Rule detect_rasterise: hypervoxel membership and voxel entries of one neuron chunk."""

import argparse

from circuitflow.detect.steps import rasterise
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--work-dir", required=True)
parser.add_argument("--grid", required=True)
parser.add_argument("--chunk", type=int, required=True)
parser.add_argument("--chunks", type=int, required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--trees", help="the bbox step's parsed morphologies of this chunk (else parsed again)")
run(lambda a: rasterise(a.work_dir, a.grid, a.chunk, a.chunks, a.out, a.trees), parser)
