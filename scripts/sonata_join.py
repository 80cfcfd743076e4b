"""Rule sonata_join: the edge range files, in range order -> the SONATA edges files (chemical, electrical) with their indices."""

import argparse

import h5py

from circuitflow.runner import run
from circuitflow.sonata.join import join
from circuitflow.sonata.populations import default_population, electrical_population

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--chemical", required=True, help="SONATA edges file of the chemical synapses")
parser.add_argument("--electrical", default="", help="SONATA edges file of the gap junctions (none: not written)")
parser.add_argument("--population", default="", help="chemical edge population (default: <nodes>__<nodes>__chemical)")
parser.add_argument("ranges", nargs="+", help="edge range files in range order")


def main(a):
    with h5py.File(a.ranges[0], "r") as f:
        chemical = a.population or default_population(str(f.attrs["node_population"]))
    outputs = {chemical: a.chemical, **({electrical_population(chemical): a.electrical} if a.electrical else {})}
    join(a.ranges, outputs)


run(main, parser)
