"""The one runner of every rule script: arguments, logging, and a one-line error as the last line.

A rule runs `python scripts/<stage>_<step>.py ... > log 2>&1 || (tail -n 1 log >&2; exit 1)`, so the
last line a failing script writes is what the console shows. Expected failures (`CircuitflowError`,
`OSError`, `ValueError`, `KeyError`) end with `error: <message>`; anything else also logs its traceback
first, so the log keeps the details and the console still gets one line.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from typing import Callable, NoReturn

from circuitflow.errors import CircuitflowError

EXPECTED = (CircuitflowError, OSError, ValueError, KeyError)


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run(
    main: Callable[[argparse.Namespace], object], parser: argparse.ArgumentParser, argv: list[str] | None = None
) -> NoReturn:
    """Parse `argv`, set up logging, call `main(args)` and exit: 0, or 1 after one `error:` line on stderr.

    What the script imported (10^5-10^6 objects: the modules) lives until the process exits: gc.freeze() keeps it
    out of the garbage collector's full collections during `main` and at exit (a synthesis chunk job of 250
    cells: 0.2-0.3 s of CPU, most of it at exit).
    """
    gc.freeze()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        main(args)
    except EXPECTED as exc:
        logging.getLogger("circuitflow").debug("failure", exc_info=True)
        print(f"error: {one_line(exc)}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception as exc:  # a bug, not bad input: keep the traceback in the log, one line for the console
        logging.getLogger("circuitflow").exception("unexpected failure")
        print(f"error: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr, flush=True)
        sys.exit(1)
    sys.exit(0)
