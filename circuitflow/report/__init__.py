"""Validation report: data extraction and plot functions (matplotlib `Figure`s, no pyplot state).

* `morphometrics`: synthesized cells (NeuroM) against the TMD input distributions, per mtype;
* `pathways`: putative vs kept synapses per connection and connection counts, per pathway.

Figures are built with `matplotlib.figure.Figure` (rendered by the Agg canvas on `savefig`), so
nothing here depends on a display or on pyplot's global state. Snakemake's report adds the wall
time per rule itself (its "runtimes" and "timeline" statistics, from the run metadata).
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from circuitflow.io.atomic import atomic_path  # noqa: E402


def save(fig: Figure, out: str | os.PathLike) -> None:
    """Save a figure (format from the name) under a temporary name, then rename."""
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=fig.dpi, bbox_inches="tight")
