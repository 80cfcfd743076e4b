"""Prune one merge file (one destination range) into a pruned range file, streaming in chunks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
from tqdm import tqdm

from circuitflow.connectome.hypervoxels import TYPES
from circuitflow.connectome.prune import neuron_seeds, prune_rows, rule_table
from circuitflow.connectome.rules import resolve_rules
from circuitflow.io import snudda as sio

log = logging.getLogger(__name__)

CHUNK_ROWS = 2_000_000


def dest_chunks(ds: h5py.Dataset, chunk_rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
    """Yield the rows of a dest-sorted table in pieces of about `chunk_rows`, cut at destination changes."""
    n = ds.shape[0]
    carry = None
    s = 0
    while s < n:
        e = min(n, s + chunk_rows)
        block = np.asarray(ds[s:e], dtype=np.int32)
        if carry is not None:
            block = np.concatenate([carry, block])
            carry = None
        s = e
        if e < n:
            cut = int(np.searchsorted(block[:, 1], block[-1, 1], side="left"))
            if cut == 0:
                carry = block
                continue
            carry = block[cut:]
            block = block[:cut]
        yield block
    if carry is not None and len(carry):
        yield carry


def prune_range_file(merged: str | Path, config_file: str | Path, seed: int | None, network: str | Path,
                     out: str | Path, share_parameter_id: bool = True, chunk_rows: int = CHUNK_ROWS) -> dict:
    """Prune both tables of a merge file with the rules of `config_file` (checked again here); write kept rows."""
    rules = resolve_rules(network, config_file, seed)
    neurons = sio.read_neurons(Path(network) / sio.WORKLOG)
    with sio.open_h5(Path(network) / sio.WORKLOG, "detect worklog") as f:
        voxel_size = float(sio.read_scalar(f, "meta/voxel_size"))
    N = len(neurons["neuron_id"])
    table = rule_table(rules["rules"], neurons["name"])
    seeds = neuron_seeds(int(rules["seed"]), N)
    counts = {}
    lost: dict[int, int] = {}
    with sio.open_h5(merged, "merge file") as src, sio.atomic_h5(out) as dst:
        a, b = (int(x) for x in src.attrs["range"])
        if int(src.attrs["n_neurons"]) != N:
            raise ValueError(f"{merged}: made for {src.attrs['n_neurons']} neurons, the network has {N}")
        dst.attrs["range"] = (a, b)
        for t, width in TYPES.items():
            ds_in = src[f"network/{t}"]
            if ds_in.ndim != 2 or ds_in.shape[1] != width:
                raise ValueError(f"{merged}: network/{t} has shape {ds_in.shape}, expected (n, {width})")
            kept_parts = []
            n_in = n_out = 0
            for rows in tqdm(dest_chunks(ds_in, chunk_rows), desc=f"prune {t} {a}..{b - 1}", unit="chunk",
                             disable=None, total=max(1, -(-ds_in.shape[0] // chunk_rows))):
                dest = rows[:, 1]
                if len(dest) and (dest.min() < a or dest.max() >= b or np.any(np.diff(dest) < 0)):
                    raise ValueError(f"{merged}: network/{t} is unsorted or holds destinations outside {a}..{b - 1}")
                keep = prune_rows(rows, table, seeds, neurons["population_unit_id"], t == "gap_junctions",
                                  share_parameter_id, voxel_size, neurons.get("max_soma_distance_dend"), lost)
                kept = rows[keep]
                kept_parts.append(kept)
                n_in += len(rows)
                n_out += len(kept)
            if n_in != ds_in.shape[0]:
                raise AssertionError(f"{merged}: processed {n_in} of {ds_in.shape[0]} {t} rows")
            dst.create_dataset(t, data=np.concatenate(kept_parts) if kept_parts else np.zeros((0, width), np.int32))
            counts[t] = (n_in, n_out)
            dst.attrs[f"num_{t}_in"] = n_in
    if lost:
        names = table.type_names
        nt, nc = len(names), table.n_channels + 1
        for code, cnt in sorted(lost.items()):
            ch, rest = code % nc, code // nc
            log.info("removed %d putative rows without a pruning rule: %s -> %s, channel %d",
                     cnt, names[rest // nt], names[rest % nt], ch)
    log.info("pruned range %d..%d with seed %s: synapses %d -> %d, gap junctions %d -> %d", a, b - 1, rules["seed"],
             *counts["synapses"], *counts["gap_junctions"])
    return counts
