"""Rule sonata_join: the edge range files, in range order -> one SONATA edges.h5 with its indices."""
import argparse

from circuitflow.runner import run
from circuitflow.sonata.join import join

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", required=True, help="SONATA edges file")
parser.add_argument("ranges", nargs="+", help="edge range files in range order")
run(lambda a: join(a.ranges, a.out), parser)
