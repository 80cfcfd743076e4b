"""The `circuitflow` command: tools for users around the pipeline (the rules run scripts/, not this)."""

from __future__ import annotations

import argparse
import logging
import sys

from circuitflow.runner import EXPECTED, one_line


def cmd_make_example(args) -> None:
    """Generate the small example circuit (atlas, cells, TMD inputs) into a folder."""
    from circuitflow.example import make_example

    make_example(args.folder, n_cells=args.cells, seed=args.seed, density=args.density)


def cmd_simulate(args) -> None:
    """Simulate a SONATA circuit with neurodamus (extra `simulate`) and check the events against its edges."""
    from circuitflow.sonata.simulate import simulate

    summary = simulate(
        args.circuit_config,
        args.out_dir,
        tstop=args.tstop,
        n_stimulated=args.stimulate,
        amplitude=args.amplitude,
        cache_dir=args.mechanisms_cache,
    )
    print(
        f"stimulated cells {summary['stimulated']}: {summary['spikes']} spikes in {summary['tstop']:g} ms "
        f"from cells {summary['spiking_cells']}"
    )
    print(
        f"{summary['events']} synaptic events on {summary['synapses_with_events']} of {summary['synapses']} "
        f"synapses, at cells {summary['postsynaptic_cells_with_events']}: as the edges predict"
    )
    print(f"{summary['gap_junctions']} gap junctions, as in the edges")
    print(f"spikes: {args.out_dir}/output/spikes.h5, summary: {args.out_dir}/summary.json")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="circuitflow", description=__doc__)
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("make-example", help=cmd_make_example.__doc__)
    p.add_argument("folder")
    p.add_argument("--cells", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--density",
        type=float,
        default=None,
        help="cells per mm^3 (mean over the cell layers; cortex ~1e5): the column grows with the cells."
        " Default: the small example's fixed 150 um core",
    )
    p.set_defaults(func=cmd_make_example)

    p = sub.add_parser("simulate", help=cmd_simulate.__doc__)
    p.add_argument("circuit_config", help="a complete circuit_config.json (out/sonata/ with connectome.models)")
    p.add_argument("out_dir", help="folder for the simulation config, spikes and summary")
    p.add_argument("--tstop", type=float, default=100.0, help="simulated time (ms)")
    p.add_argument("--stimulate", type=int, default=3, help="cells with the most outgoing synapses to stimulate")
    p.add_argument("--amplitude", type=float, default=3.0, help="current pulse amplitude (nA)")
    p.add_argument("--mechanisms-cache", default=None, help="compiled mechanisms cache (default ~/.cache/circuitflow)")
    p.set_defaults(func=cmd_simulate)
    return parser


def main(argv=None) -> int:
    """Entry point: run one subcommand; errors become one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        args.func(args)
    except EXPECTED as exc:
        print(f"circuitflow {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
