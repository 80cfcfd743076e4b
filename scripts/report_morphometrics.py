"""Rule report_morphometrics: synthesized cells vs TMD input distributions, per mtype (PNG + CSV)."""

import argparse

from circuitflow.report.morphometrics import write_morphometrics
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--nodes", required=True)
parser.add_argument("--morphology-dir", required=True)
parser.add_argument("--morphology-ext", default="h5", choices=["h5", "asc", "swc"])
parser.add_argument("--distributions", required=True, help="TMD distributions JSON (synthesis input)")
parser.add_argument("--max-cells", type=int, default=None, help="cells per mtype (evenly spaced ids)")
parser.add_argument("--out", required=True, help="figure (PNG)")
parser.add_argument("--table", required=True, help="per-tree metrics (CSV)")
run(
    lambda a: write_morphometrics(
        a.nodes, a.morphology_dir, a.distributions, a.morphology_ext, a.max_cells, a.out, a.table
    ),
    parser,
)
