"""MPI glue: run a share of a job on every rank and gather the results on rank 0.

Every MPI-capable rule passes `--mpi` when its profile gives it an `mpi` launcher; mpi4py is imported
only then, so it is needed only where jobs are MPI-launched.
"""

from __future__ import annotations

from typing import Callable


def comm_world():
    """mpi4py's MPI.COMM_WORLD; a one-line OSError if mpi4py is missing."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise OSError(f"--mpi given, but mpi4py cannot be imported ({exc}): pip install '.[slurm]'") from None
    return MPI.COMM_WORLD


def run_shared(work: Callable[[int, int], list], use_mpi: bool) -> list | None:
    """Call `work(rank, size)` on every rank; rank 0 gets every rank's list concatenated, others None.

    Without MPI (`use_mpi` false) this is `work(0, 1)`.
    """
    if not use_mpi:
        return work(0, 1)
    comm = comm_world()
    parts = comm.gather(work(comm.rank, comm.size), root=0)
    if comm.rank != 0:
        return None
    return [item for part in parts for item in part]


def world(use_mpi: bool):
    """MPI.COMM_WORLD when asked for (and launched with more than one rank), else None."""
    if not use_mpi:
        return None
    comm = comm_world()
    return comm if comm.size > 1 else None
