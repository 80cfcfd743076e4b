"""Combine pruned range files, in range order, into Snudda's network-synapses.hdf5 layout (spec §5)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from circuitflow.io import snudda as sio
from circuitflow.io.atomic import atomic_h5
from circuitflow.io.chunked import TableWriter
from circuitflow.prune.index import TYPES
from circuitflow.prune.rule_table import load_config

log = logging.getLogger(__name__)


def combine(
    pruned: list[str | Path], config_file: str | Path, network: str | Path, out: str | Path, threads: int = 1
) -> dict:
    """Concatenate the pruned ranges (which must tile 0..N in order) into `out`; /config is the prune config.

    `threads` threads compress the LZF chunks of the output.
    """
    config = load_config(config_file)
    worklog = Path(network) / sio.WORKLOG
    N = sio.neuron_count(worklog)
    sources = []
    expected_start = 0
    for path in pruned:
        with sio.open_h5(path, "pruned range file") as f:
            a, b = (int(x) for x in f.attrs["range"])
        if a != expected_start:
            raise ValueError(f"{path}: range starts at {a}, expected {expected_start} (ranges must tile 0..N in order)")
        expected_start = b
        sources.append(path)
    if expected_start != N:
        raise ValueError(f"pruned ranges end at neuron {expected_start}, the network has {N} neurons")
    counts = {}
    with atomic_h5(out) as h5:
        sio.write_network_synapses_header(h5, worklog, config)
        for t, width in TYPES.items():
            total = 0
            for path in sources:
                with sio.open_h5(path, "pruned range file") as f:
                    total += f[t].shape[0]
            ds = sio.create_table(h5, f"network/{t}", total, width)
            with TableWriter(ds, threads) as writer:
                for path in sources:
                    with sio.open_h5(path, "pruned range file") as f:
                        writer.write_from(f[t])
            h5.create_dataset(f"network/num_{t}", data=np.uint64(total))
            counts[t] = total
    log.info("wrote %s: %d synapses, %d gap junctions", out, counts["synapses"], counts["gap_junctions"])
    return counts
