"""Prune one merge file (one destination range) into a pruned range file, streaming in chunks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from circuitflow.io import snudda as sio
from circuitflow.io.atomic import atomic_h5
from circuitflow.progress import progress
from circuitflow.prune.index import TYPES
from circuitflow.prune.prune import neuron_seeds, prune_rows, rule_table
from circuitflow.prune.rule_table import resolve_rules

log = logging.getLogger(__name__)

CHUNK_ROWS = 250_000  # small enough that its arrays reuse freed memory instead of faulting in fresh pages


def dest_chunks(ds: h5py.Dataset, chunk_rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
    """Yield the rows of a dest-sorted table in pieces of about `chunk_rows`, cut at destination changes.

    Every piece is a view of one reused buffer (fresh pages cost more than reading them): it is valid
    until the next piece is asked for.
    """
    n, width = ds.shape
    buf = np.empty((min(n, chunk_rows), width), dtype=np.int32)
    carry = 0  # rows at the front of buf that continue into the next piece (one destination)
    s = 0
    while s < n:
        e = min(n, s + chunk_rows)
        need = carry + e - s
        if len(buf) < need:  # one destination spans more than a piece: grow
            grown = np.empty((max(need, 2 * len(buf)), width), dtype=np.int32)
            grown[:carry] = buf[:carry]
            buf = grown
        ds.read_direct(buf, np.s_[s:e], np.s_[carry:need])
        s = e
        block = buf[:need]
        if e == n:
            yield block
            break
        cut = int(np.searchsorted(block[:, 1], block[-1, 1], side="left"))
        if cut == 0:
            carry = need
            continue
        yield block[:cut]
        carry = need - cut
        buf[:carry] = buf[cut:need].copy()


def prune_range_file(
    merged: str | Path,
    config_file: str | Path,
    seed: int | None,
    network: str | Path,
    out: str | Path,
    share_parameter_id: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    comm=None,
) -> dict:
    """Prune both tables of a merge file with the rules of `config_file` (checked again here); write kept rows.

    With an MPI communicator `comm`, rank r prunes row chunks r, r + size, ... (chunks end at
    destination boundaries and every destination has its own random stream, so the result does not
    depend on the split); rank 0 gathers them in chunk order and writes the file.
    """
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    rules = resolve_rules(network, config_file, seed)
    neurons = sio.read_neurons(Path(network) / sio.WORKLOG)
    with sio.open_h5(Path(network) / sio.WORKLOG, "detect worklog") as f:
        voxel_size = float(sio.read_scalar(f, "meta/voxel_size"))
    N = len(neurons["neuron_id"])
    table = rule_table(rules["rules"], neurons["name"])
    seeds = neuron_seeds(int(rules["seed"]), N)
    counts, kept_tables = {}, {}
    lost: dict[int, int] = {}
    with sio.open_h5(merged, "merge file") as src:
        a, b = (int(x) for x in src.attrs["range"])
        if int(src.attrs["n_neurons"]) != N:
            raise ValueError(f"{merged}: made for {src.attrs['n_neurons']} neurons, the network has {N}")
        for t, width in TYPES.items():
            ds_in = src[f"network/{t}"]
            if ds_in.ndim != 2 or ds_in.shape[1] != width:
                raise ValueError(f"{merged}: network/{t} has shape {ds_in.shape}, expected (n, {width})")
            parts = []  # (chunk index, rows in, kept rows) of this rank's chunks
            chunks = dest_chunks(ds_in, chunk_rows)
            for i, rows in enumerate(
                progress(
                    chunks, f"prune {t} {a}..{b - 1}", unit="chunk", total=max(1, -(-ds_in.shape[0] // chunk_rows))
                )
            ):
                if i % size != rank:
                    continue
                dest = rows[:, 1]
                if len(dest) and (dest.min() < a or dest.max() >= b or np.any(np.diff(dest) < 0)):
                    raise ValueError(f"{merged}: network/{t} is unsorted or holds destinations outside {a}..{b - 1}")
                keep = prune_rows(
                    rows,
                    table,
                    seeds,
                    neurons["population_unit_id"],
                    t == "gap_junctions",
                    share_parameter_id,
                    voxel_size,
                    neurons.get("max_soma_distance_dend"),
                    lost,
                )
                parts.append((i, len(rows), rows[keep]))
            if comm is not None:
                gathered = comm.gather(parts, root=0)
                parts = sorted((p for ps in gathered for p in ps), key=lambda p: p[0]) if rank == 0 else []
            n_in = sum(p[1] for p in parts)
            if rank == 0 and n_in != ds_in.shape[0]:
                raise AssertionError(f"{merged}: processed {n_in} of {ds_in.shape[0]} {t} rows")
            kept_tables[t] = np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, width), np.int32)
            counts[t] = (n_in, len(kept_tables[t]))
    if comm is not None:
        gathered_lost = comm.gather(lost, root=0)
        lost = {}
        for part in gathered_lost or []:
            for code, cnt in part.items():
                lost[code] = lost.get(code, 0) + cnt
    if rank != 0:
        return counts
    with atomic_h5(out) as dst:
        dst.attrs["range"] = (a, b)
        for t, kept in kept_tables.items():
            dst.create_dataset(t, data=kept)
            dst.attrs[f"num_{t}_in"] = counts[t][0]
    if lost:
        names = table.type_names
        nt, nc = len(names), table.n_channels + 1
        for code, cnt in sorted(lost.items()):
            ch, rest = code % nc, code // nc
            log.info(
                "removed %d putative rows without a pruning rule: %s -> %s, channel %d",
                cnt,
                names[rest // nt],
                names[rest % nt],
                ch,
            )
    log.info(
        "pruned range %d..%d with seed %s: synapses %d -> %d, gap junctions %d -> %d",
        a,
        b - 1,
        rules["seed"],
        *counts["synapses"],
        *counts["gap_junctions"],
    )
    return counts
