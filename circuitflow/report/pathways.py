"""Putative (detected) vs kept (pruned) synapses and connections, per pathway (pre type -> post type).

A connection is an ordered (source, target) neuron pair with at least one chemical synapse. Putative
rows are those of every completed hypervoxel file of the detect network (plus the projection file
when the worklog counts projection synapses); kept rows are `network-synapses.hdf5`. Types are
Snudda's neuron types (the name up to the first '_', i.e. the mtype with '_' written '-').
Pathways with a chemical pruning rule in the pruning config (`/config` of network-synapses.hdf5)
are listed even where detection found no touch, so an empty pathway shows as zero, not as absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from circuitflow.detect.sources import type_name
from circuitflow.prune.index import PROJECTION_HID, file_of, read_worklog
from circuitflow.prune.rule_table import split_pair_key

COLOURS = {"putative": "#7f7f7f", "kept": "#2ca02c"}


def pair_counts(keys: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sum (unique key, count) partial results into one (key, count) table."""
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    k = np.concatenate([a for a, _ in keys])
    c = np.concatenate([b for _, b in keys])
    uk, inv = np.unique(k, return_inverse=True)
    return uk, np.bincount(inv, weights=c, minlength=len(uk)).astype(np.int64)


def count_rows(ds: h5py.Dataset, n_neurons: int, chunk_rows: int = 1_000_000) -> list:
    """(pair key = dest·N + src, count) partial tables of a synapse dataset, read in chunks."""
    parts = []
    for start in range(0, ds.shape[0], chunk_rows):
        cols = ds[start : start + chunk_rows, :2].astype(np.int64)
        parts.append(np.unique(cols[:, 1] * n_neurons + cols[:, 0], return_counts=True))
    return parts


def putative_files(network: str | os.PathLike) -> list[Path]:
    """The putative synapse files detect completed (per the worklog), plus the projection file if used."""
    network = Path(network)
    wl = read_worklog(network)
    files = [file_of(network, int(h)) for h in wl.completed]
    if wl.num_projection_synapses > 0:
        files.append(file_of(network, PROJECTION_HID))
    return files


def configured_pathways(prune_config: dict, types: set[str]) -> list[tuple[str, str]]:
    """(pre, post) type pairs with a chemical connection type in a Snudda pruning config, among `types`."""
    pairs = set()
    for region in (prune_config.get("regions") or {}).values():
        for key, con in ((region or {}).get("connectivity") or {}).items():
            if not any(name != "gap_junction" for name in (con or {})):
                continue
            pre, posts = split_pair_key("regions", key)
            pairs |= {(pre, post) for post in posts if pre in types and post in types}
    return sorted(pairs)


def connections(
    network: str | os.PathLike, network_synapses: str | os.PathLike, mtypes: list[str] | None = None
) -> pd.DataFrame:
    """One row per putative connection: src, dst, pre/post type, putative and kept synapse counts.

    With the circuit's `mtypes`, types are named as the config names them (`L2_TPC:A`, not Snudda's
    `L2-TPC:A`)."""
    with h5py.File(network_synapses, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["network/neurons/name"][()]]
        n = len(names)
        kept = pair_counts(count_rows(f["network/synapses"], n))
        prune_config = json.loads(f["config"][()]) if "config" in f else {}
    parts = []
    for path in putative_files(network):
        with h5py.File(path, "r") as f:
            parts += count_rows(f["network/synapses"], n)
    putative = pair_counts(parts)
    keys = np.union1d(putative[0], kept[0])
    put = np.zeros(len(keys), np.int64)
    put[np.searchsorted(keys, putative[0])] = putative[1]
    kep = np.zeros(len(keys), np.int64)
    kep[np.searchsorted(keys, kept[0])] = kept[1]
    types = np.array([name.split("_")[0] for name in names])
    pathways = configured_pathways(prune_config, set(types.tolist()))
    if mtypes is not None:
        rename = {type_name(m): m for m in mtypes}
        types = np.array([rename.get(t, t) for t in types.tolist()], dtype=object)
        pathways = [(rename.get(a, a), rename.get(b, b)) for a, b in pathways]
    src, dst = keys % n, keys // n
    conn = pd.DataFrame(
        {
            "src": src,
            "dst": dst,
            "pre": types[src] if n else [],
            "post": types[dst] if n else [],
            "putative": put,
            "kept": kep,
        }
    )
    conn.attrs["pathways"] = pathways
    return conn


def pathway_table(conn: pd.DataFrame, pathways: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Per pathway: connections and synapses before/after pruning, mean synapses per connection.

    `pathways` (default: `conn.attrs["pathways"]`, set by `connections`) adds rows of zeros for
    configured pathways without any putative synapse."""
    g = conn.assign(kept_connection=conn["kept"] > 0, putative_connection=conn["putative"] > 0)
    table = (
        g.groupby(["pre", "post"], sort=True)
        .agg(
            putative_connections=("putative_connection", "sum"),
            kept_connections=("kept_connection", "sum"),
            putative_synapses=("putative", "sum"),
            kept_synapses=("kept", "sum"),
        )
        .reset_index()
    )
    pathways = conn.attrs.get("pathways", []) if pathways is None else pathways
    have = set(zip(table["pre"], table["post"]))
    missing = [p for p in pathways if p not in have]
    if missing:
        zeros = pd.DataFrame([{"pre": a, "post": b} for a, b in missing]).assign(
            putative_connections=0, kept_connections=0, putative_synapses=0, kept_synapses=0
        )
        table = pd.concat([table, zeros], ignore_index=True).sort_values(["pre", "post"], ignore_index=True)
    table["putative_per_connection"] = table["putative_synapses"] / table["putative_connections"].clip(lower=1)
    table["kept_per_connection"] = table["kept_synapses"] / table["kept_connections"].clip(lower=1)
    return table


def plot_pathways(conn: pd.DataFrame) -> Figure:
    """Connection counts before/after pruning (bars) and synapses per connection (box plots) per pathway."""
    table = pathway_table(conn)
    labels = [f"{a} → {b}" for a, b in zip(table["pre"], table["post"])]
    width = min(max(7.0, 0.6 * len(labels) + 2), 14.0)
    fig = Figure(figsize=(width, 7.5), dpi=90, layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(labels))
    ax1.bar(x - 0.2, table["putative_connections"], 0.4, color=COLOURS["putative"], label="putative (detected)")
    ax1.bar(x + 0.2, table["kept_connections"], 0.4, color=COLOURS["kept"], label="kept (pruned)")
    ax1.set_ylabel("connections")
    ax1.set_title("Connections per pathway, before and after pruning")
    ax1.legend(fontsize=8)
    for k, (a, b) in enumerate(zip(table["pre"], table["post"])):
        sel = conn[(conn["pre"] == a) & (conn["post"] == b)]
        for j, (kind, values) in enumerate(
            (("putative", sel.loc[sel["putative"] > 0, "putative"]), ("kept", sel.loc[sel["kept"] > 0, "kept"]))
        ):
            if len(values) == 0:
                continue
            bp = ax2.boxplot(
                [values.to_numpy(dtype=float)],
                positions=[k - 0.2 + 0.4 * j],
                widths=0.35,
                patch_artist=True,
                flierprops={"markersize": 3},
            )
            for patch in bp["boxes"]:
                patch.set_facecolor(COLOURS[kind])
    ax2.set_ylabel("synapses per connection")
    ax2.set_title("Synapses per connection: putative (all detected pairs) vs kept (surviving pairs)")
    ax2.set_xticks(
        x, labels, rotation=45 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center", fontsize=8
    )
    ax2.set_xlim(-0.7, max(len(labels), 1) - 0.3)
    return fig


def write_pathways(network: str, synapses: str, figure: str, table: str, nodes: str | None = None) -> None:
    """Rule report_pathways: write the per-pathway figure (PNG) and counts (CSV); mtype names from `nodes`."""
    from circuitflow.io.atomic import write_text
    from circuitflow.io.cells import load_cells
    from circuitflow.report import save

    mtypes = None if nodes is None else sorted(set(load_cells(nodes).properties["mtype"].astype(str)))
    conn = connections(network, synapses, mtypes)
    save(plot_pathways(conn), figure)
    write_text(table, pathway_table(conn).to_csv(index=False, float_format="%.3f"))
