"""Synapse physiology drawn into the SONATA edges beside the configured mean and std, per pathway.

Every synapse of a connection (pre cell, post cell, Snudda channel) shares its drawn values, so the
statistics are over connections: the edges file is streamed in chunks (on large circuits, a fixed
number of evenly spaced chunks) and each connection counted once (its first synapse; rows of a connection are consecutive, as the edges step writes them). A
pathway is (pre mtype, post mtype, synapse type), named as detect names the types (mtype with '_'
written '-'). For the truncated normals (u_syn, decay_time) the configured mean/std are those of
the untruncated normal, so the drawn moments differ where the truncation bites; n_rrp_vesicles is
1 + Poisson(mean - 1), so its configured std is sqrt(mean - 1).
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from circuitflow.sonata.node_table import NodeTable
from circuitflow.sonata.physiology import CHEMICAL_DRAWS, GAP_JUNCTION, build_classes

PROPERTIES = list(CHEMICAL_DRAWS)
UNITS = {
    "conductance": "nS",
    "u_syn": "",
    "depression_time": "ms",
    "facilitation_time": "ms",
    "decay_time": "ms",
    "n_rrp_vesicles": "vesicles",
}


def drawn_statistics(
    edges_file: str | os.PathLike,
    population: str,
    nodes: NodeTable,
    physiology: dict,
    distributions: dict,
    chunk: int = 1 << 20,
    max_edges: int = 1 << 24,
) -> pd.DataFrame:
    """One row per (pathway, property): configured mean/std, drawn mean/std over connections, counts.

    At most `max_edges` edges are read: beyond that, evenly spaced blocks of `chunk` edges (a sample
    whose size does not grow with the circuit; a connection cut by a block start counts in both)."""
    classes = build_classes(physiology, distributions, nodes.type_names)
    n_cls = len(classes.names)
    sums = {p: np.zeros((n_cls, 2)) for p in PROPERTIES}
    n_conn = np.zeros(n_cls)
    n_syn = np.zeros(n_cls)
    with h5py.File(edges_file, "r") as f:
        g = f[f"edges/{population}"]
        n = g["source_node_id"].shape[0]
        starts = np.arange(0, n, chunk)
        if len(starts) * chunk > max_edges:
            keep = max(max_edges // chunk, 1)
            starts = starts[np.linspace(0, len(starts) - 1, keep).round().astype(np.int64)]
        last = None
        for lo in starts:
            if last is not None and lo - chunk not in starts:
                last = None  # not contiguous with the previous block
            src = g["source_node_id"][lo : lo + chunk].astype(np.int64)
            dst = g["target_node_id"][lo : lo + chunk].astype(np.int64)
            chan = g["0/snudda_channel_model_id"][lo : lo + chunk].astype(np.int64)
            cls = classes.classify(nodes.type_id[src], nodes.type_id[dst], chan, str(edges_file))
            # the first synapse of each connection: the rows of a cell pair are consecutive (sorted by
            # target, then source), its synapse types may interleave
            head = np.zeros(len(src), dtype=bool)
            if len(src):
                _, first = np.unique(np.stack([dst, src, chan], axis=1), axis=0, return_index=True)
                head[first] = True
                if last is not None and last[0] == (dst[0], src[0]):  # a pair cut by the chunk start
                    cut = np.flatnonzero((dst == dst[0]) & (src == src[0]))
                    head[cut[np.isin(chan[cut], last[1])]] = False
                tail = (dst == dst[-1]) & (src == src[-1])
                last = ((dst[-1], src[-1]), np.unique(chan[tail]))
            n_syn += np.bincount(cls, minlength=n_cls)
            n_conn += np.bincount(cls[head], minlength=n_cls)
            for p in PROPERTIES:
                v = g[f"0/{p}"][lo : lo + chunk].astype(np.float64)[head]
                sums[p][:, 0] += np.bincount(cls[head], weights=v, minlength=n_cls)
                sums[p][:, 1] += np.bincount(cls[head], weights=v * v, minlength=n_cls)
    rows = []
    for c, (pre, post, con_type) in enumerate(classes.names):
        for p in PROPERTIES:
            mean_cfg = classes.table[p]["mean"][c]
            std_cfg = np.sqrt(max(mean_cfg - 1, 0.0)) if p == "n_rrp_vesicles" else classes.table[p]["std"][c]
            k = n_conn[c]
            mean = sums[p][c, 0] / k if k else np.nan
            var = max(sums[p][c, 1] / k - mean * mean, 0.0) if k else np.nan
            rows.append(
                {
                    "pre": pre,
                    "post": post,
                    "synapse_type": con_type,
                    "property": p,
                    "unit": UNITS[p],
                    "configured_mean": mean_cfg,
                    "configured_std": std_cfg,
                    "drawn_mean": mean,
                    "drawn_std": np.sqrt(var) if k else np.nan,
                    "connections": int(k),
                    "synapses": int(n_syn[c]),
                }
            )
    return pd.DataFrame(rows)


def plot_physiology(table: pd.DataFrame) -> Figure:
    """One panel per property: drawn mean ± std (bars) and configured mean ± std (markers) per pathway."""
    fig = Figure(figsize=(12, 8), dpi=100)
    labels = [
        f"{r.pre} → {r.post} {r.synapse_type}"
        for r in table.drop_duplicates(["pre", "post", "synapse_type"]).itertuples()
    ]
    x = np.arange(len(labels))
    for k, prop in enumerate(PROPERTIES):
        ax = fig.add_subplot(2, 3, k + 1)
        t = table[table["property"] == prop]
        ax.bar(x, t["drawn_mean"], yerr=t["drawn_std"], color="#1f77b4", alpha=0.7, capsize=2, label="drawn")
        ax.errorbar(
            x, t["configured_mean"], yerr=t["configured_std"], fmt="o", color="#d62728", capsize=3, label="configured"
        )
        unit = UNITS[prop]
        ax.set_title(f"{prop}" + (f" ({unit})" if unit else ""), fontsize=9)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=90, fontsize=6)
        if k == 0:
            ax.legend(fontsize=7)
    fig.suptitle("Synapse physiology per connection: drawn (mean ± std) vs configured")
    fig.tight_layout()
    return fig


def read_distributions(network_synapses: str | os.PathLike) -> dict:
    """The network's `meta/connectivity_distributions` (channel id of every pathway's types), chemical only."""
    with h5py.File(network_synapses, "r") as f:
        dist = json.loads(f["meta/connectivity_distributions"][()])
    return {pair: {t: v for t, v in types.items() if t != GAP_JUNCTION} for pair, types in dist.items()}
