"""Rule detect_bbox: bounding box of one neuron chunk's placed morphologies."""

import argparse

from circuitflow.detect.steps import bbox
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--work-dir", required=True)
parser.add_argument("--chunk", type=int, required=True)
parser.add_argument("--chunks", type=int, required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--trees-out", help="also write the parsed morphologies here (read by detect_rasterise)")
run(lambda a: bbox(a.work_dir, a.chunk, a.chunks, a.out, a.trees_out), parser)
