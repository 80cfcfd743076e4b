"""Job counts that follow the data: how many parallel jobs a step gets, decided at planning time.

Counts come from the number of neurons, read from a file that exists before the run and does not
change during it (synthesis' input cells for the synthesized circuit, else the source's own file),
so a re-run plans the same jobs. No output depends on a job count (each step's outputs are
identical for any count); only the parallelism and the size of each job do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import h5py

from circuitflow.errors import CircuitflowError

#: Snudda's files inside a network folder that list its neurons (network/neurons/neuron_id).
POSITIONS = "network-neuron-positions.hdf5"
WORKLOG = "log/network-detect-worklog.hdf5"


class JobCountError(CircuitflowError, ValueError):
    """The file that gives a stage's neuron count is missing or unreadable."""


#: Jobs a step gets at least while it has that many items: twice the cores of a 2-core laptop, so a
#: small circuit keeps the cores busy although its items fit in one job.
MIN_JOBS = 4


def n_jobs(n_items: int, per_job: int) -> int:
    """Jobs of at most `per_job` items each for `n_items` items, and at least min(MIN_JOBS, n_items), and 1."""
    if per_job < 1:
        raise JobCountError(f"config: items per job must be >= 1, got {per_job}")
    return max(1, min(MIN_JOBS, n_items), -(-n_items // per_job))


def count_snudda_neurons(network_path: str | os.PathLike, name: str = POSITIONS) -> int:
    """Neurons of a Snudda network folder: rows of network/neurons/neuron_id in its file `name`."""
    path = Path(network_path) / name
    try:
        with h5py.File(path, "r") as f:
            return int(f["network/neurons/neuron_id"].shape[0])
    except (OSError, KeyError) as exc:
        raise JobCountError(f"{path}: cannot count neurons (network/neurons/neuron_id: {exc})") from exc


def count_sonata_nodes(nodes_file: str | os.PathLike, population: str | None = None) -> int:
    """Nodes of one population of a SONATA nodes file (the only one when `population` is None)."""
    try:
        with h5py.File(nodes_file, "r") as f:
            pops = list(f["nodes"])
            if population is None:
                if len(pops) != 1:
                    raise JobCountError(f"{nodes_file}: several populations {pops}; set detect.sonata.population")
                population = pops[0]
            return int(f[f"nodes/{population}/node_type_id"].shape[0])
    except (OSError, KeyError) as exc:
        raise JobCountError(f"{nodes_file}: cannot count nodes of population {population!r} ({exc})") from exc


def detect_neurons(detect: dict, synthesized: tuple[str, int] | None = None) -> int:
    """Neurons that detect reads; `synthesized` = (nodes file, input cell count) when synthesis writes the nodes."""
    if "network_path" in detect:
        return count_snudda_neurons(detect["network_path"])
    sonata = detect["sonata"]
    if synthesized is not None and sonata["nodes_file"] == synthesized[0]:
        # not yet written at planning: at most one node per input cell (failed cells are dropped),
        # a count that only sizes the jobs and does not change between runs
        return synthesized[1]
    return count_sonata_nodes(sonata["nodes_file"], sonata.get("population"))


def job_count(section: dict, count_key: str, size_key: str, n_items: Callable[[], int]) -> int:
    """`section[count_key]` when set (a fixed count), else `n_items()` split in jobs of `section[size_key]`."""
    fixed = section.get(count_key)
    return int(fixed) if fixed is not None else n_jobs(n_items(), int(section[size_key]))
