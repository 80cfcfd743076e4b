"""Rule report_morphometrics: synthesized cells vs TMD input distributions, per mtype (PNG + CSV)."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.report import save
from circuitflow.report.morphometrics import morphometrics_figure
from circuitflow.io.atomic import write_text

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--nodes", required=True)
p.add_argument("--morphology-dir", required=True)
p.add_argument("--morphology-ext", default="h5", choices=["h5", "asc", "swc"])
p.add_argument("--distributions", required=True, help="TMD distributions JSON (synthesis input)")
p.add_argument("--max-cells", type=int, default=None, help="cells per mtype (evenly spaced ids)")
p.add_argument("--out", required=True, help="figure (PNG)")
p.add_argument("--table", required=True, help="per-tree metrics (CSV)")


def main(a):
    fig, table = morphometrics_figure(a.nodes, a.morphology_dir, a.distributions, a.morphology_ext, a.max_cells)
    save(fig, a.out)
    write_text(a.table, table.to_csv(index=False))


sys.exit(run(main, p))
