"""Rule prune_range: prune one merged destination range (with --mpi the MPI ranks split its row chunks)."""

import argparse

from circuitflow.mpi import world
from circuitflow.prune.prune_file import prune_range_file
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--merged", required=True)
parser.add_argument("--config", required=True, help="pruning config (JSON)")
parser.add_argument("--seed", type=int, default=None, help="explicit prune seed (default: the config's)")
parser.add_argument("--network", required=True)
parser.add_argument("--share-parameter-id", choices=("true", "false"), default="true")
parser.add_argument("--chunk-rows", type=int, default=None, help="rows per pruning chunk (default: the package's)")
parser.add_argument("--mpi", action="store_true", help="split the range over the MPI ranks (mpi4py)")
parser.add_argument("--out", required=True)
run(
    lambda a: prune_range_file(
        a.merged,
        a.config,
        a.seed,
        a.network,
        a.out,
        a.share_parameter_id == "true",
        **({"chunk_rows": a.chunk_rows} if a.chunk_rows else {}),
        comm=world(a.mpi),
    ),
    parser,
)
