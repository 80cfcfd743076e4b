"""Rule report_pathways: putative vs kept synapses and connections per pathway (PNG + CSV), from the ranges' counts."""

import argparse

from circuitflow.report.pathways import write_pathways
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--synapses", required=True, help="network-synapses.hdf5")
parser.add_argument("--out", required=True, help="figure (PNG)")
parser.add_argument("--table", required=True, help="per-pathway counts (CSV)")
parser.add_argument("--nodes", help="SONATA nodes whose mtypes name the pathways (default: Snudda's type names)")
parser.add_argument("ranges", nargs="+", help="the ranges' histograms (report_pathways_range), in range order")
run(lambda a: write_pathways(a.ranges, a.synapses, a.out, a.table, a.nodes), parser)
