"""Shared entry-point plumbing for the prune rule scripts: logging and one-line errors."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from circuitflow.connectome.hypervoxels import HypervoxelError
from circuitflow.connectome.prune import PruneError
from circuitflow.connectome.rules import PruneConfigError
from circuitflow.io.snudda import SnuddaFormatError

EXPECTED = (HypervoxelError, PruneConfigError, PruneError, SnuddaFormatError, ValueError, OSError)


def run(main: Callable[[argparse.Namespace], object], parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse args, set up logging and run `main`; bad input ends with a one-line error and exit 1."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        main(args)
    except EXPECTED as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0
