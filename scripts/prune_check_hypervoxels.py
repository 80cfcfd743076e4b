"""Rule check_hypervoxels: check every hypervoxel file the worklog lists and index them per neuron."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.hypervoxels import build_index

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--network", required=True, help="Snudda network directory")
p.add_argument("--out", required=True, help="index file to write")
sys.exit(run(lambda a: build_index(a.network, a.out), p))
