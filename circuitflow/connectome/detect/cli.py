"""Command-line glue for the detect scripts: one-line errors and logging."""

from __future__ import annotations

import logging
import sys
from typing import Callable


def run(main: Callable[[], None]) -> None:
    """Run `main`; turn input errors (ValueError, OSError, KeyError) into one line on stderr and exit 1."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        main()
    except (ValueError, OSError, KeyError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(1)

