"""Rule prune_range: prune one merged destination range with the pruning config (checked again) and seed.

With --mpi (launched by mpirun/srun with several ranks) the ranks split the range's row chunks.
"""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.prune_file import prune_range_file
from circuitflow.mpi import world

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--merged", required=True)
p.add_argument("--config", required=True, help="pruning config (JSON)")
p.add_argument("--seed", default="null", help="explicit prune seed, or null")
p.add_argument("--network", required=True)
p.add_argument("--share-parameter-id", choices=("true", "false"), default="true")
p.add_argument("--chunk-rows", type=int, default=None, help="rows per pruning chunk (default: the package's)")
p.add_argument("--mpi", action="store_true", help="split the range over the MPI ranks (mpi4py)")
p.add_argument("--out", required=True)
sys.exit(run(lambda a: prune_range_file(
    a.merged, a.config, None if a.seed in ("null", "None", "") else int(a.seed), a.network, a.out,
    a.share_parameter_id == "true", **({"chunk_rows": a.chunk_rows} if a.chunk_rows else {}), comm=world(a.mpi),
), p))
