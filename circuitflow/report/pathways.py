"""Putative (detected) vs kept (pruned) synapses and connections, per pathway (pre type -> post type).

A connection is an ordered (source, target) neuron pair with at least one chemical synapse. Putative
rows are those of every hypervoxel file the prune index lists (the completed hypervoxels of the
detect network, plus the projection file when the worklog counts projection synapses); kept rows are
`network-synapses.hdf5`. Types are Snudda's neuron types (the name up to the first '_', i.e. the
mtype with '_' written '-'). Pathways with a chemical pruning rule in the pruning config (`/config`
of network-synapses.hdf5) are listed even where detection found no touch, so an empty pathway shows
as zero, not as absent.

The work is split by destination neuron range, the prune ranges: every synapse onto a neuron lies in
one range, so a range job (`range_histogram`) counts its connections completely and keeps only, per
pathway, how many connections have k synapses (putative and kept). The join (`write_pathways`) sums
these small histograms; the table and the box plots follow from them exactly, so the report is the
same for any number of ranges, and no job holds the circuit's connections.
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
from circuitflow.errors import CircuitflowError
from circuitflow.io import snudda as sio
from circuitflow.prune.gather import HypervoxelFiles, blocks_of, gather_block, read_range_index
from circuitflow.prune.rule_table import split_pair_key

COLOURS = {"putative": "#7f7f7f", "kept": "#2ca02c"}
KINDS = ("putative", "kept")
#: Synapses per connection, per pathway: `connections` connections of `pre` -> `post` have `synapses`
#: synapses of kind `kind` (putative or kept); only k >= 1, sorted by (pre, post, kind, synapses).
HISTOGRAM = ["pre", "post", "kind", "synapses", "connections"]
KEPT_PIECE = 1 << 20  # kept rows read at a time


class PathwaysReportError(CircuitflowError, ValueError):
    """A pathway count file or the pruned synapses do not fit together."""


def pair_counts(keys: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sum (unique key, count) partial results into one (key, count) table."""
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    k = np.concatenate([a for a, _ in keys])
    c = np.concatenate([b for _, b in keys])
    uk, inv = np.unique(k, return_inverse=True)
    return uk, np.bincount(inv, weights=c, minlength=len(uk)).astype(np.int64)


def histogram(keys: np.ndarray, counts: np.ndarray, types: np.ndarray, kind: str) -> pd.DataFrame:
    """HISTOGRAM rows of connections (pair key = dest·N + src, synapse count), typed by `types` (per neuron)."""
    n = len(types)
    keep = counts > 0
    keys, counts = keys[keep], counts[keep]
    frame = pd.DataFrame(
        {
            "pre": types[keys % n] if n else [],
            "post": types[keys // n] if n else [],
            "kind": kind,
            "synapses": counts.astype(np.int64),
        }
    )
    return frame.groupby(["pre", "post", "kind", "synapses"], sort=True).size().rename("connections").reset_index()


def connection_histogram(conn: pd.DataFrame) -> pd.DataFrame:
    """HISTOGRAM rows of a per-connection table (columns pre, post, putative, kept synapses)."""
    parts = [
        conn.loc[conn[kind] > 0, ["pre", "post"]].assign(kind=kind, synapses=conn.loc[conn[kind] > 0, kind])
        for kind in KINDS
    ]
    long = pd.concat(parts, ignore_index=True).astype({"synapses": np.int64})
    return sum_histograms([long.groupby(HISTOGRAM[:-1]).size().rename("connections").reset_index()])


def sum_histograms(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One HISTOGRAM table summing `parts` (each of a disjoint set of connections, e.g. one per range)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype=object if c in ("pre", "post", "kind") else np.int64) for c in HISTOGRAM}
        )
    total = pd.concat(parts, ignore_index=True).groupby(HISTOGRAM[:-1], sort=True)["connections"].sum()
    return total.reset_index().astype({"synapses": np.int64, "connections": np.int64})


def neuron_types(f: h5py.File) -> np.ndarray:
    """Snudda type per neuron (the name up to the first '_') of a network-synapses file."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["network/neurons/name"][()]]
    return np.array([name.split("_")[0] for name in names], dtype=object)


def kept_slice(ds: h5py.Dataset, a: int, b: int) -> tuple[int, int]:
    """Rows [lo, hi) of the pruned synapse table (sorted by destination) whose destination is in [a, b)."""

    def first_at_least(dest: int) -> int:
        lo, hi = 0, ds.shape[0]
        while lo < hi:  # one chunk read per step
            mid = (lo + hi) // 2
            if int(ds[mid, 1]) < dest:
                lo = mid + 1
            else:
                hi = mid
        return lo

    return first_at_least(a), first_at_least(b)


def range_histogram(
    network: str | os.PathLike, index: str | os.PathLike, synapses: str | os.PathLike, n_ranges: int, i: int
) -> dict:
    """Synapses per connection per pathway (Snudda types) of the connections onto destination range `i` of
    `n_ranges` (prune's ranges, from the prune `index`): {"range", "kept_rows", "histogram": HISTOGRAM rows}.

    Putative rows are gathered block by block from only the hypervoxel files that hold the range's
    destinations (as prune gathers them, checked); kept rows are the range's slice of `synapses`.
    """
    idx = read_range_index(index, n_ranges, i)
    a, b = idx.range
    n = idx.n_neurons
    with sio.open_h5(synapses, "pruned network") as f:
        types = neuron_types(f)
        if len(types) != n:
            raise PathwaysReportError(f"{synapses}: {len(types)} neurons, the prune index {index} has {n}")
        ds = sio.require_table(f, "network/synapses", sio.SYN_WIDTH)
        lo, hi = kept_slice(ds, a, b)
        if hi < lo:  # the slices of all ranges tile the rows, and each row is checked to lie in its range
            raise PathwaysReportError(f"{synapses}: network/synapses is not sorted by destination neuron")
        kept = []
        for start in range(lo, hi, KEPT_PIECE):
            cols = ds[start : min(hi, start + KEPT_PIECE), :2].astype(np.int64)
            if len(cols) and (cols[:, 1].min() < a or cols[:, 1].max() >= b or np.any(np.diff(cols[:, 1]) < 0)):
                raise PathwaysReportError(f"{synapses}: network/synapses is not sorted by destination neuron")
            kept.append(np.unique(cols[:, 1] * n + cols[:, 0], return_counts=True))
    blocks = blocks_of(idx.entries["synapses"], a, b)
    buf = np.empty((max((blk.n_rows for blk in blocks), default=0), sio.SYN_WIDTH), dtype=np.int32)
    putative = []
    with HypervoxelFiles(network) as files:
        for blk in blocks:
            _, _, pair = gather_block(files, "synapses", blk, n, buf)
            putative.append(np.unique(pair, return_counts=True))
    hist = sum_histograms(
        [histogram(*pair_counts(putative), types, "putative"), histogram(*pair_counts(kept), types, "kept")]
    )
    rows = [[p, q, kind, int(k), int(c)] for p, q, kind, k, c in hist.itertuples(index=False)]
    return {"range": [a, b], "kept_rows": hi - lo, "histogram": rows}


def write_range_histogram(
    network: str, index: str, synapses: str, n_ranges: int, i: int, out: str | os.PathLike
) -> None:
    """Rule report_pathways_range: write range_histogram as JSON."""
    from circuitflow.io.atomic import write_json

    write_json(out, range_histogram(network, index, synapses, n_ranges, i))


def read_histograms(paths: list, synapses: str | os.PathLike) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Sum the range histograms (which must tile the neurons in order and hold every kept synapse once);
    return it with the neuron types and the pruning config of `synapses`."""
    with sio.open_h5(synapses, "pruned network") as f:
        types = neuron_types(f)
        n_kept = int(sio.require_table(f, "network/synapses", sio.SYN_WIDTH).shape[0])
        prune_config = json.loads(f["config"][()]) if "config" in f else {}
    parts, end, kept_rows = [], 0, 0
    for path in paths:
        data = json.loads(Path(path).read_text())
        a, b = data["range"]
        if a != end:
            raise PathwaysReportError(f"{path}: range starts at neuron {a}, expected {end} (ranges tile 0..N in order)")
        end, kept_rows = b, kept_rows + data["kept_rows"]
        rows = pd.DataFrame(data["histogram"], columns=HISTOGRAM)
        parts.append(rows.astype({"pre": object, "post": object, "synapses": np.int64, "connections": np.int64}))
    if end != len(types):
        raise PathwaysReportError(f"pathway counts end at neuron {end}, {synapses} has {len(types)} neurons")
    if kept_rows != n_kept:
        raise PathwaysReportError(
            f"{synapses}: the ranges hold {kept_rows} of its {n_kept} synapses (not sorted by destination neuron?)"
        )
    return sum_histograms(parts), types, prune_config


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


def renamed(hist: pd.DataFrame, pathways: list[tuple[str, str]], mtypes: list[str] | None):
    """Histogram and pathways with Snudda's type names replaced by the circuit's `mtypes` (`L2-TPC:A` -> `L2_TPC:A`)."""
    if mtypes is None:
        return hist, pathways
    rename = {type_name(m): m for m in mtypes}
    hist = sum_histograms(
        [
            hist.assign(
                pre=hist["pre"].map(lambda t: rename.get(t, t)), post=hist["post"].map(lambda t: rename.get(t, t))
            )
        ]
    )
    return hist, [(rename.get(a, a), rename.get(b, b)) for a, b in pathways]


def pathway_table(hist: pd.DataFrame, pathways: list[tuple[str, str]] = ()) -> pd.DataFrame:
    """Per pathway: connections and synapses before/after pruning, mean synapses per connection.

    From a HISTOGRAM table; configured `pathways` without any connection get rows of zeros."""
    weighted = hist.assign(total=hist["synapses"] * hist["connections"])
    sums = weighted.groupby(["pre", "post", "kind"])[["connections", "total"]].sum()
    have = sorted(set(zip(hist["pre"], hist["post"])) | set(pathways))
    table = pd.DataFrame({"pre": [p for p, _ in have], "post": [q for _, q in have]}, dtype=object)
    for column, field in (("connections", "connections"), ("synapses", "total")):
        for kind in KINDS:
            table[f"{kind}_{column}"] = np.array(
                [int(sums[field].get((p, q, kind), 0)) for p, q in have], dtype=np.int64
            )
    table = table[["pre", "post", "putative_connections", "kept_connections", "putative_synapses", "kept_synapses"]]
    table["putative_per_connection"] = table["putative_synapses"] / table["putative_connections"].clip(lower=1)
    table["kept_per_connection"] = table["kept_synapses"] / table["kept_connections"].clip(lower=1)
    return table


def percentile(values: np.ndarray, cum: np.ndarray, q: float) -> float:
    """numpy's linear percentile `q` of the sorted data holding `values` (ascending) up to counts `cum` (cumulative)."""
    n = int(cum[-1])
    virtual = (n - 1) * (q / 100)  # numpy's virtual index for its (default) linear method
    below = min(int(np.floor(virtual)), n - 1)
    gamma = virtual - below
    a = float(values[np.searchsorted(cum, below, side="right")])
    b = float(values[np.searchsorted(cum, min(below + 1, n - 1), side="right")])
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


def box_stats(values: np.ndarray, counts: np.ndarray, whis: float) -> dict:
    """matplotlib's cbook.boxplot_stats of the data with `counts[k]` times `values[k]` (ascending), from the counts."""
    cum = np.cumsum(counts)
    n = int(cum[-1])
    q1, med, q3 = (percentile(values, cum, q) for q in (25, 50, 75))
    iqr = q3 - q1
    loval, hival = q1 - whis * iqr, q3 + whis * iqr
    inside_hi, inside_lo = values[values <= hival], values[values >= loval]
    whishi = q3 if len(inside_hi) == 0 or inside_hi.max() < q3 else float(inside_hi.max())
    whislo = q1 if len(inside_lo) == 0 or inside_lo.min() > q1 else float(inside_lo.min())
    low, high = values < whislo, values > whishi
    fliers = np.concatenate([np.repeat(values[low], counts[low]), np.repeat(values[high], counts[high])])
    return {
        "mean": float(np.dot(values, counts) / n),
        "iqr": iqr,
        "cilo": med - 1.57 * iqr / np.sqrt(n),
        "cihi": med + 1.57 * iqr / np.sqrt(n),
        "whishi": whishi,
        "whislo": whislo,
        "fliers": fliers.astype(float),
        "q1": q1,
        "med": med,
        "q3": q3,
    }


def plot_pathways(hist: pd.DataFrame, pathways: list[tuple[str, str]] = ()) -> Figure:
    """Connection counts before/after pruning (bars) and synapses per connection (box plots) per pathway."""
    import matplotlib as mpl

    table = pathway_table(hist, pathways)
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
    groups = {key: rows for key, rows in hist.groupby(["pre", "post", "kind"], sort=False)}
    for k, (a, b) in enumerate(zip(table["pre"], table["post"])):
        for j, kind in enumerate(KINDS):
            rows = groups.get((a, b, kind))
            if rows is None or len(rows) == 0:
                continue
            order = np.argsort(rows["synapses"].to_numpy(), kind="stable")
            values = rows["synapses"].to_numpy(dtype=float)[order]
            counts = rows["connections"].to_numpy(dtype=np.int64)[order]
            # as Axes.boxplot(data, ...) draws it, from the statistics it would compute
            bp = ax2.bxp(
                [box_stats(values, counts, mpl.rcParams["boxplot.whiskers"])],
                positions=[k - 0.2 + 0.4 * j],
                widths=0.35,
                patch_artist=True,
                shownotches=mpl.rcParams["boxplot.notch"],
                showmeans=mpl.rcParams["boxplot.showmeans"],
                showcaps=mpl.rcParams["boxplot.showcaps"],
                showbox=mpl.rcParams["boxplot.showbox"],
                boxprops={"linestyle": "solid"},
                flierprops={"markersize": 3},
                medianprops={},
                meanprops={},
                meanline=mpl.rcParams["boxplot.meanline"],
                showfliers=mpl.rcParams["boxplot.showfliers"],
                capprops={},
                whiskerprops={},
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


def write_pathways(ranges: list, synapses: str, figure: str, table: str, nodes: str | None = None) -> None:
    """Rule report_pathways: sum the range histograms; write the per-pathway figure (PNG) and counts (CSV);
    mtype names from `nodes`."""
    from circuitflow.io.atomic import write_text
    from circuitflow.io.cells import load_cells
    from circuitflow.report import save

    hist, types, prune_config = read_histograms(ranges, synapses)
    pathways = configured_pathways(prune_config, set(types.tolist()))
    mtypes = None if nodes is None else sorted(set(load_cells(nodes).properties["mtype"].astype(str)))
    hist, pathways = renamed(hist, pathways, mtypes)
    save(plot_pathways(hist, pathways), figure)
    write_text(table, pathway_table(hist, pathways).to_csv(index=False, float_format="%.3f"))
