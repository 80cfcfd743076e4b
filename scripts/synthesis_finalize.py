"""Rule synthesis_finalize: gather the chunk tables into the output cells, morphologies and side files."""

import argparse

from circuitflow.runner import run
from circuitflow.synthesis.finalize import finalize

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--cells", required=True)
parser.add_argument("--tables", nargs="*", default=[])
parser.add_argument("--chunk-dirs", nargs="*", default=[])
parser.add_argument("--out-cells", required=True)
parser.add_argument("--format", choices=["sonata", "mvd3"], required=True)
parser.add_argument("--morph-dir", required=True)
parser.add_argument("--apical", required=True)
parser.add_argument("--apical-nrn")
parser.add_argument("--ext", nargs="+", required=True)
parser.add_argument("--container")
parser.add_argument("--debug-data")
run(
    lambda a: finalize(
        a.cells,
        a.tables,
        a.chunk_dirs,
        a.out_cells,
        a.format,
        a.morph_dir,
        a.apical,
        a.apical_nrn,
        a.ext,
        container=a.container,
        debug_data=a.debug_data,
    ),
    parser,
)
