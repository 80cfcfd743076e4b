"""Morphometrics of synthesized cells (NeuroM) against the TMD input distributions, per mtype.

Per neurite tree (basal, apical, axon) three metrics compare directly with the persistence diagrams
NeuroTS grows from (TMD path-distance barcodes, one diagram per reference tree):

* total length: sum of the bar lengths |death − birth| (the path-distance barcode partitions the tree);
* number of sections: 2·bars − 1 (bifurcating tree with one tip per bar);
* extent: largest path distance from the soma (the largest bar end).

Per cell, the bounding-box extents along x, y, z (synthesized only: the diagrams hold no directions).
Input diagrams of an mtype are pooled over the regions of the distributions file that list it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

NEURITES = ("basal_dendrite", "apical_dendrite", "axon")
TREE_METRICS = {
    "total_length": "total length per tree (µm)",
    "n_sections": "sections per tree",
    "extent": "max path distance per tree (µm)",
}
COLOURS = {"synthesized": "#1f77b4", "input": "#ff7f0e"}


def sample_ids(ids: np.ndarray, limit: int | None) -> np.ndarray:
    """At most `limit` ids, evenly spaced over `ids` (all if limit is None or larger)."""
    if limit is None or len(ids) <= limit:
        return ids
    return ids[np.linspace(0, len(ids) - 1, limit).round().astype(int)]


def synthesized_metrics(
    nodes_file: str | os.PathLike,
    morphology_dir: str | os.PathLike,
    ext: str = "h5",
    max_cells_per_mtype: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-tree metrics, per-cell extents) of the synthesized cells, read with NeuroM."""
    import neurom as nm

    from circuitflow.io.cells import cells_dataframe, load_cells

    cells = cells_dataframe(load_cells(nodes_file))
    trees, extents = [], []
    names = {nm.BASAL_DENDRITE: "basal_dendrite", nm.APICAL_DENDRITE: "apical_dendrite", nm.AXON: "axon"}
    cells["mtype"] = cells["mtype"].astype(str)
    for mtype, group in cells.groupby("mtype", sort=True):
        for cid in sample_ids(group.index.to_numpy(), max_cells_per_mtype):
            morph = nm.load_morphology(Path(morphology_dir) / f"{cells.at[cid, 'morphology']}.{ext}")
            for neurite in morph.neurites:
                kind = names.get(neurite.type)
                if kind is None:
                    continue
                trees.append(
                    {
                        "mtype": mtype,
                        "cell": int(cid),
                        "neurite": kind,
                        "total_length": float(nm.get("total_length", neurite)),
                        "n_sections": int(nm.get("number_of_sections", neurite)),
                        "extent": float(np.max(nm.get("section_path_distances", neurite))),
                    }
                )
            pts = np.asarray(morph.points)[:, :3]
            ext_xyz = pts.max(axis=0) - pts.min(axis=0) if len(pts) else np.zeros(3)
            extents.append({"mtype": mtype, "cell": int(cid), "x": ext_xyz[0], "y": ext_xyz[1], "z": ext_xyz[2]})
    return (
        pd.DataFrame(trees, columns=["mtype", "cell", "neurite", *TREE_METRICS]),
        pd.DataFrame(extents, columns=["mtype", "cell", "x", "y", "z"]),
    )


def diagram_metrics(diagram: list) -> dict:
    """Tree metrics of one persistence diagram (bars [end, start, ...] in path distance)."""
    bars = np.asarray([b[:2] for b in diagram], dtype=np.float64).reshape(-1, 2)
    return {
        "total_length": float(np.abs(bars[:, 0] - bars[:, 1]).sum()),
        "n_sections": 2 * len(bars) - 1,
        "extent": float(bars.max()) if len(bars) else 0.0,
    }


def input_metrics(distributions: dict | str | os.PathLike, mtypes: list[str] | None = None) -> pd.DataFrame:
    """Per-tree metrics of the TMD input diagrams (region -> mtype -> neurite -> persistence_diagram)."""
    if not isinstance(distributions, dict):
        distributions = json.loads(Path(distributions).read_text())
    rows = []
    for region, by_mtype in sorted(distributions.items()):
        for mtype, entry in sorted(by_mtype.items()):
            if mtypes is not None and mtype not in mtypes:
                continue
            for neurite in NEURITES:
                for diagram in (entry.get(neurite) or {}).get("persistence_diagram", []):
                    rows.append({"mtype": mtype, "region": region, "neurite": neurite, **diagram_metrics(diagram)})
    return pd.DataFrame(rows, columns=["mtype", "region", "neurite", *TREE_METRICS])


def plot_morphometrics(synth: pd.DataFrame, inputs: pd.DataFrame, extents: pd.DataFrame | None = None) -> Figure:
    """One row per mtype: box plots of each tree metric, synthesized vs input, per neurite type; and the
    synthesized cells' x/y/z extents."""
    mtypes = sorted(set(synth["mtype"]) | set(extents["mtype"] if extents is not None else []))
    ncols = len(TREE_METRICS) + (extents is not None)
    fig = Figure(figsize=(4.2 * ncols, 2.9 * max(len(mtypes), 1)), dpi=90, layout="constrained")
    axes = fig.subplots(max(len(mtypes), 1), ncols, squeeze=False)
    for r, mtype in enumerate(mtypes):
        s = synth[synth["mtype"] == mtype]
        i = inputs[inputs["mtype"] == mtype]
        # the neurite types this mtype grew (inputs may hold diagrams of types it does not grow)
        neurites = [n for n in NEURITES if (s["neurite"] == n).any() or (len(s) == 0 and (i["neurite"] == n).any())]
        for c, (metric, label) in enumerate(TREE_METRICS.items()):
            ax = axes[r, c]
            for k, neurite in enumerate(neurites):
                for j, (source, df) in enumerate((("synthesized", s), ("input", i))):
                    values = df.loc[df["neurite"] == neurite, metric].to_numpy(dtype=float)
                    if len(values) == 0:
                        continue
                    bp = ax.boxplot(
                        [values],
                        positions=[3 * k + j],
                        widths=0.8,
                        patch_artist=True,
                        showfliers=True,
                        flierprops={"markersize": 3},
                    )
                    for patch in bp["boxes"]:
                        patch.set_facecolor(COLOURS[source])
                        patch.set_alpha(0.7)
            ax.set_xticks([3 * k + 0.5 for k in range(len(neurites))], [n.replace("_dendrite", "") for n in neurites])
            ax.set_xlim(-1, 3 * max(len(neurites), 1) - 1)
            ax.set_title(f"{mtype}: {label}", fontsize=9)
            ax.tick_params(labelsize=8)
        if extents is not None:
            ax = axes[r, -1]
            e = extents[extents["mtype"] == mtype]
            if len(e):
                bp = ax.boxplot([e[c].to_numpy(dtype=float) for c in "xyz"], positions=[0, 1, 2], patch_artist=True)
                for patch in bp["boxes"]:
                    patch.set_facecolor(COLOURS["synthesized"])
                    patch.set_alpha(0.7)
            ax.set_xticks([0, 1, 2], ["x", "y", "z"])
            ax.set_title(f"{mtype}: cell extent (µm), n={len(e)}", fontsize=9)
            ax.tick_params(labelsize=8)
    from matplotlib.patches import Patch

    fig.legend(
        handles=[Patch(color=COLOURS[k], alpha=0.7, label=k) for k in COLOURS],
        loc="outside upper center",
        ncols=2,
        fontsize=9,
    )
    return fig


def morphometrics_figure(
    nodes_file: str | os.PathLike,
    morphology_dir: str | os.PathLike,
    distributions: str | os.PathLike,
    ext: str = "h5",
    max_cells_per_mtype: int | None = None,
) -> tuple[Figure, pd.DataFrame]:
    """Read everything and plot; also return the per-tree table (synthesized and input rows)."""
    synth, extents = synthesized_metrics(nodes_file, morphology_dir, ext, max_cells_per_mtype)
    inputs = input_metrics(distributions, sorted(set(synth["mtype"])))
    table = pd.concat([synth.assign(source="synthesized"), inputs.assign(source="input")], ignore_index=True)
    table["cell"] = table["cell"].astype("Int64")
    return plot_morphometrics(synth, inputs, extents), table


def write_morphometrics(
    nodes: str, morphology_dir: str, distributions: str, ext: str, max_cells: int | None, figure: str, table: str
) -> None:
    """Rule report_morphometrics: write the morphometrics figure (PNG) and its per-tree table (CSV)."""
    from circuitflow.io.atomic import write_text
    from circuitflow.report import save

    fig, data = morphometrics_figure(nodes, morphology_dir, distributions, ext, max_cells)
    save(fig, figure)
    write_text(table, data.to_csv(index=False))
