"""`circuitflow` command line: one subcommand per workflow step (the rules call these)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

# Each subcommand imports only what it needs: jobs start faster (NeuroTS alone takes about 1 s).


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_cache_atlas(args) -> None:
    """Per-cell atlas lookups, once."""
    from circuitflow.synthesis.atlas import cache_atlas

    cache_atlas(args.cells, args.atlas, args.region_structure, args.min_depth, args.max_depth, args.out)


def cmd_validate_params(args) -> None:
    """Validate TMD parameters and write the normalized parameters."""
    from circuitflow.synthesis import prepare

    prepare.validate_params(json.loads(args.config), args.out, args.validated)


def cmd_synthesize_chunk(args) -> None:
    """Grow the cells of one chunk (split over MPI ranks with --mpi) and write its result table."""
    from circuitflow.mpi import run_shared
    from circuitflow.synthesis import chunk

    options = json.loads(args.options)
    section = json.loads(args.config)
    results = run_shared(
        lambda rank, size: chunk.synthesize_chunk(section, args.chunk, args.atlas_cache, options,
                                                  args.morph_dir, (rank, size)),
        args.mpi,
    )
    if results is not None:
        chunk.write_chunk_table(args.out, args.chunk, results)


def cmd_finalize(args) -> None:
    """Gather chunk tables into the output collection and side files."""
    from circuitflow.synthesis import finalize

    finalize.finalize(
        args.cells, args.tables, args.chunk_dirs, args.out_cells, args.format, args.morph_dir, args.apical,
        args.apical_nrn, args.ext, container=args.container, debug_data=args.debug_data,
    )


def cmd_make_example(args) -> None:
    """Generate the small example circuit (atlas, cells, TMD inputs) into a folder."""
    from circuitflow.example import make_example

    make_example(args.folder, n_cells=args.cells, seed=args.seed)


def cmd_write_json(args) -> None:
    """Write a JSON document given on the command line (a rule's params) to a file."""
    from circuitflow.io.atomic import write_json

    write_json(args.out, json.loads(args.data), sort_keys=True)


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

    p = sub.add_parser("write-json", help=cmd_write_json.__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_write_json)

    p = sub.add_parser("cache-atlas", help=cmd_cache_atlas.__doc__)
    p.add_argument("--cells", required=True)
    p.add_argument("--atlas", required=True)
    p.add_argument("--region-structure", required=True)
    p.add_argument("--min-depth", type=float, required=True)
    p.add_argument("--max-depth", type=float, required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_cache_atlas)

    p = sub.add_parser("validate-params", help=cmd_validate_params.__doc__)
    p.add_argument("--config", required=True, help="the synthesis config section as JSON")
    p.add_argument("--out", required=True, help="normalized parameters (JSON)")
    p.add_argument("--validated", help="what planning validated (written as is if the inputs are unchanged)")
    p.set_defaults(func=cmd_validate_params)

    p = sub.add_parser("synthesize-chunk", help=cmd_synthesize_chunk.__doc__)
    p.add_argument("--config", required=True, help="the synthesis config section as JSON")
    p.add_argument("--chunk", type=int, required=True, help="chunk index")
    p.add_argument("--atlas-cache", required=True)
    p.add_argument("--options", required=True, help="growth options as JSON")
    p.add_argument("--morph-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mpi", action="store_true", help="split the chunk over the MPI ranks (mpi4py)")
    p.set_defaults(func=cmd_synthesize_chunk)

    p = sub.add_parser("finalize", help=cmd_finalize.__doc__)
    p.add_argument("--cells", required=True)
    p.add_argument("--tables", nargs="*", default=[])
    p.add_argument("--chunk-dirs", nargs="*", default=[])
    p.add_argument("--out-cells", required=True)
    p.add_argument("--format", choices=["sonata", "mvd3"], required=True)
    p.add_argument("--morph-dir", required=True)
    p.add_argument("--apical", required=True)
    p.add_argument("--apical-nrn")
    p.add_argument("--ext", nargs="+", required=True)
    p.add_argument("--container")
    p.add_argument("--debug-data")
    p.set_defaults(func=cmd_finalize)
    return parser


def main(argv=None) -> int:
    """Entry point: run one subcommand; errors become one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        args.func(args)
    except (ValueError, RuntimeError, OSError, KeyError) as exc:
        logging.getLogger("circuitflow").debug("failure", exc_info=True)
        print(f"circuitflow {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
