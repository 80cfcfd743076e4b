"""Worklog contents: the `hyper_voxels` JSON and Snudda's completion order (spec detect.md §2.1-2.2)."""

from __future__ import annotations

import json

import numpy as np

from circuitflow.detect.grid import Grid
from circuitflow.detect.rasterise import Table
from circuitflow.detect.tree import AXON, BASAL, SOMA


def hyper_voxels_json(g: Grid, members: Table, seeds: np.ndarray) -> tuple[str, np.ndarray]:
    """The JSON of every hypervoxel (origin, neurons with soma/axon/dend sections, count, seed) and neuron counts."""
    c = members.cols
    order = np.lexsort((c["sec_id"], c["kind"], c["neuron"], c["hid"]))
    hid, nid, kind = (c[k][order] for k in ("hid", "neuron", "kind"))
    sec = c["sec_id"][order].tolist()
    # one Python step per (hid, neuron, kind) group, not per section
    change = np.ones(len(hid), dtype=bool)
    change[1:] = (hid[1:] != hid[:-1]) | (nid[1:] != nid[:-1]) | (kind[1:] != kind[:-1])
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], len(hid))
    per_hid: dict = {}
    for h, n, k, a, b in zip(
        hid[starts].tolist(), nid[starts].tolist(), kind[starts].tolist(), starts.tolist(), ends.tolist()
    ):
        entry = per_hid.setdefault(h, {}).setdefault(n, {})
        if k == SOMA:
            entry["soma"] = True
        elif k == AXON:
            entry["axon"] = [[sec[a:b], "neuron"]]
        elif k == BASAL:
            entry["dend"] = sec[a:b]
    origins = g.origins(np.arange(g.n_total)).tolist()
    out = {}
    ctr = np.zeros(g.n_total, dtype=np.int64)
    for h in range(g.n_total):
        neurons = per_hid.get(h, {})
        ordered = {}
        for n, e in neurons.items():
            ordered[str(n)] = {k: e[k] for k in ("soma", "axon", "dend") if k in e}
        ctr[h] = len(ordered)
        out[str(h)] = {
            "origo": origins[h],
            "neurons": ordered,
            "axon_density": [],
            "neuron_ctr": len(ordered),
            "random_seed": int(seeds[h]),
        }
    return json.dumps(out), ctr


def completion_order(hids: np.ndarray, neuron_ctr: np.ndarray) -> np.ndarray:
    """Hypervoxels by descending neuron count, ties by ascending HID.

    Snudda uses numpy's default (unstable) argsort of -neuron_ctr, whose order of ties depends on the
    numpy version and CPU (numpy 1.26 and 2.4 differ beyond a few dozen hypervoxels). A stable sort
    keeps the worklog identical on every machine; prune does not depend on this order (it merges by
    unique id, then HID), and every per-slot count stays aligned with `completed`."""
    return np.asarray(hids)[np.argsort(-np.asarray(neuron_ctr, dtype=np.int64), kind="stable")]
