"""Rule detect_hypervoxels: detect one batch of hypervoxels (with --mpi, launched by mpirun/srun with several
ranks, the ranks split the batch)."""
import argparse
from pathlib import Path

from circuitflow.connectome.detect import cli, steps
from circuitflow.mpi import world


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--grid", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--batches", type=int, required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--mpi", action="store_true", help="split the batch over the MPI ranks (mpi4py)")
    p.add_argument("raster", nargs="+")
    a = p.parse_args()
    comm = world(a.mpi)
    rank, size = (comm.rank, comm.size) if comm else (0, 1)
    summary = steps.hypervoxels(a.work_dir, a.grid, a.raster, a.batch, a.batches, a.out_dir, rank, size)
    parts = comm.gather(summary, root=0) if comm else [summary]
    if rank == 0:
        merged = {str(k): v for part in parts for k, v in part.items()}
        steps.write_json(Path(a.out_dir) / "summary.json", merged)


if __name__ == "__main__":
    cli.run(main)
