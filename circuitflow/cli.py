"""The `circuitflow` command: tools for users around the pipeline (the rules run scripts/, not this)."""

from __future__ import annotations

import argparse
import logging
import sys

from circuitflow.runner import EXPECTED, one_line


def cmd_make_example(args) -> None:
    """Generate the small example circuit (atlas, cells, TMD inputs) into a folder."""
    from circuitflow.example import make_example

    make_example(args.folder, n_cells=args.cells, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="circuitflow", description=__doc__)
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("make-example", help=cmd_make_example.__doc__)
    p.add_argument("folder")
    p.add_argument("--cells", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_make_example)
    return parser


def main(argv=None) -> int:
    """Entry point: run one subcommand; errors become one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except EXPECTED as exc:
        print(f"circuitflow {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
