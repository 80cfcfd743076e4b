"""MPI glue: run a share of a job on every rank and gather the results on rank 0."""

from __future__ import annotations

from typing import Callable


def run_shared(work: Callable[[int, int], list], use_mpi: bool) -> list | None:
    """Call `work(rank, size)` on every rank; rank 0 gets every rank's list concatenated, others None.

    Without MPI (`use_mpi` false) this is `work(0, 1)`. mpi4py is imported only when asked for, so
    it is needed only where jobs are MPI-launched.
    """
    if not use_mpi:
        return work(0, 1)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    parts = comm.gather(work(comm.rank, comm.size), root=0)
    if comm.rank != 0:
        return None
    return [item for part in parts for item in part]


def world(use_mpi: bool):
    """MPI.COMM_WORLD when asked for (and launched with more than one rank), else None."""
    if not use_mpi:
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.size > 1 else None
