"""The summary a successful run ends with: what it built (cheap counts from file headers) and where.

Not in circuitflow.report, whose package imports matplotlib (0.3 s at the end of every run)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from circuitflow.io import snudda as sio
from circuitflow.io.cells import count_cells
from circuitflow.prune.index import TYPES, WORKLOG_COUNT


def _putative(network: Path) -> dict[str, int]:
    """Putative synapses and gap junctions of the completed hypervoxels of a detect network."""
    with sio.open_h5(network / sio.WORKLOG, "detect worklog") as f:
        done = int(np.asarray(f["num_completed"][()]).ravel()[0])
        counts = {t: int(np.asarray(f[WORKLOG_COUNT[t]][()], dtype=np.int64)[:done].sum()) for t in TYPES}
        counts["synapses"] += int(f["num_projection_synapses"][()]) if "num_projection_synapses" in f else 0
    return counts


def _kept(synapses: Path) -> dict[str, int]:
    """Rows of the pruned synapse and gap-junction tables."""
    with sio.open_h5(synapses, "pruned network") as f:
        return {t: int(f[f"network/{t}"].shape[0]) for t in TYPES}


def run_summary(
    out_dir: str | os.PathLike,
    cells: str | os.PathLike | None = None,
    network: str | os.PathLike | None = None,
    synapses: str | os.PathLike | None = None,
    sonata: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
) -> str:
    """Lines naming each output that exists (cells, detect network, pruned synapses, SONATA, report)."""
    lines = [f"circuitflow: outputs in {out_dir}/ (logs in {out_dir}/logs/)"]
    if cells and Path(cells).is_file():
        morphologies = Path(cells).parent / "morphologies"
        lines.append(f"  synthesis: {count_cells(cells)} cells grown -> {cells}, {morphologies}/")
    if network and (Path(network) / sio.WORKLOG).is_file():
        counts = _putative(Path(network))
        lines.append(
            f"  detect:    {counts['synapses']} putative synapses, {counts['gap_junctions']} putative gap "
            f"junctions -> {network}/"
        )
    if synapses and Path(synapses).is_file():
        counts = _kept(Path(synapses))
        lines.append(
            f"  prune:     {counts['synapses']} synapses, {counts['gap_junctions']} gap junctions kept -> {synapses}"
        )
    if sonata and Path(sonata).is_dir() and any(Path(sonata).iterdir()):
        lines.append(f"  sonata:    {Path(sonata) / 'circuit_config.json'} (edges in {sonata}/edges.h5)")
    if report and Path(report).is_dir() and any(Path(report).glob("*.png")):
        lines.append(f"  report:    {report}/*.png (snakemake --report report.html all)")
    return "\n".join(lines)
