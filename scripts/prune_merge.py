"""Rule merge: put one range's gathered rows into Snudda's merge order, grouped by type."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.merge import merge_range

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--gathered", required=True)
p.add_argument("--index", required=True)
p.add_argument("--out", required=True)
sys.exit(run(lambda a: merge_range(a.gathered, a.index, a.out), p))
