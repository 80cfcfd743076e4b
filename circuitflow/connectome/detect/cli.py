"""Command-line glue for the detect scripts: one-line errors, logging, optional MPI communicator."""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

MPI_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def run(main: Callable[[], None]) -> None:
    """Run `main`; turn input errors (ValueError, OSError, KeyError) into one line on stderr and exit 1."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        main()
    except (ValueError, OSError, KeyError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(1)


def mpi_comm():
    """MPI.COMM_WORLD when launched by an MPI launcher with more than one rank, else None."""
    if not any(k in os.environ for k in MPI_ENV):
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        size = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("PMI_SIZE", "1")))
        if size > 1:
            raise OSError("launched with several MPI ranks, but mpi4py is not installed (pip install .[mpi])")
        return None
    comm = MPI.COMM_WORLD
    return comm if comm.size > 1 else None
