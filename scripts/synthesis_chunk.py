"""Rule synthesis_chunk: grow the cells of one chunk (split over the MPI ranks with --mpi); write its table."""

import argparse
import gc
import json

gc.disable()  # while importing: synthesize_chunk_job turns it back on (chunk.ready_to_grow)
from circuitflow.runner import run  # noqa: E402
from circuitflow.synthesis.chunk import synthesize_chunk_job  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", required=True, help="the synthesis config section as JSON")
parser.add_argument("--chunk", type=int, required=True, help="chunk index")
parser.add_argument(
    "--rows", type=int, nargs=2, required=True, metavar=("START", "STOP"), help="its cell ids [START, STOP)"
)
parser.add_argument("--atlas-cache", required=True)
parser.add_argument("--options", required=True, help="growth options as JSON")
parser.add_argument("--morph-dir", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--mpi", action="store_true", help="split the chunk over the MPI ranks (mpi4py)")
parser.add_argument(
    "--engine",
    choices=["compiled", "neurots"],
    default="compiled",
    help="growth engine (synthesis.engine; outputs do not depend on it)",
)
run(
    lambda a: synthesize_chunk_job(
        json.loads(a.config),
        a.chunk,
        tuple(a.rows),
        a.atlas_cache,
        json.loads(a.options),
        a.morph_dir,
        a.out,
        a.mpi,
        a.engine,
    ),
    parser,
)
