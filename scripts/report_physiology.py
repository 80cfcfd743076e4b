"""Rule report_physiology: synapse physiology drawn into the edges vs configured, per pathway (PNG + CSV)."""

import argparse

from circuitflow.io.atomic import write_text
from circuitflow.report import save
from circuitflow.report.physiology import drawn_statistics, plot_physiology, read_distributions
from circuitflow.runner import run
from circuitflow.sonata.node_table import NodeTable
from circuitflow.sonata.physiology import read_physiology
from circuitflow.sonata.populations import default_population

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--edges", required=True, help="SONATA edges.h5")
parser.add_argument("--synapses", required=True, help="network-synapses.hdf5 (channel ids of the pathways)")
parser.add_argument("--nodes", required=True)
parser.add_argument("--node-population", default=None)
parser.add_argument("--physiology", required=True, help="physiology JSON (rule sonata_physiology)")
parser.add_argument("--population", default=None, help="edge population (default: <nodes>__<nodes>__chemical)")
parser.add_argument("--out", required=True, help="figure (PNG)")
parser.add_argument("--table", required=True, help="per pathway and property (CSV)")


def main(a):
    with NodeTable(a.nodes, ".", population=a.node_population or None) as nodes:
        population = a.population or default_population(nodes.population)
        table = drawn_statistics(
            a.edges, population, nodes, read_physiology(a.physiology), read_distributions(a.synapses)
        )
    save(plot_physiology(table), a.out)
    write_text(a.table, table.to_csv(index=False, float_format="%.6g"))


run(main, parser)
