"""Rule report_pathways: putative vs kept synapses and connections per pathway (PNG + CSV)."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.io.atomic import write_text
from circuitflow.report import save
from circuitflow.report.pathways import connections, pathway_table, plot_pathways

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--network", required=True, help="detect network folder (voxels/, log/)")
p.add_argument("--synapses", required=True, help="network-synapses.hdf5")
p.add_argument("--out", required=True, help="figure (PNG)")
p.add_argument("--table", required=True, help="per-pathway counts (CSV)")


def main(a):
    conn = connections(a.network, a.synapses)
    save(plot_pathways(conn), a.out)
    write_text(a.table, pathway_table(conn).to_csv(index=False, float_format="%.3f"))


sys.exit(run(main, p))
