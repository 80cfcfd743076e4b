"""Rule sonata_circuit_config: the SONATA circuit config, complete when cell models are given.

With `connectome.models` it names the simulation nodes (sonata/nodes.h5), the models' templates
(`biophysical_neuron_models_dir`) and mechanisms (`mechanisms_dir`), and the node sets: a circuit
neurodamus runs. Without models it names the synthesized nodes and is declared partial, and the log
says why.
"""

from __future__ import annotations

import logging
import os

from circuitflow.io.circuit_config import write_circuit_config
from circuitflow.sonata.edges import edge_populations
from circuitflow.sonata.node_table import node_population

log = logging.getLogger(__name__)


def write_circuit(
    out: str | os.PathLike,
    nodes_file: str | os.PathLike,
    node_pop: str | None,
    morphology_dir: str | os.PathLike,
    morphology_exts: list[str],
    edges_files: list,
    node_sets_file: str | os.PathLike | None = None,
    models: dict | None = None,
) -> dict:
    """Write the circuit config of the nodes, morphologies, node sets and every edge population of the files."""
    edges = [(path, pop, kind) for path in edges_files for pop, kind in edge_populations(path)]
    models = models or {}
    if not models:
        log.warning(
            "circuit_config.json is partial: no cell models (connectome.models), so no "
            "biophysical_neuron_models_dir; simulators cannot run it"
        )
    return write_circuit_config(
        out,
        nodes_file,
        node_population(nodes_file, node_pop),
        morphology_dir,
        morphology_exts,
        edges,
        node_sets_file=node_sets_file,
        models_dir=models.get("templates_dir"),
        mechanisms_dir=models.get("mechanisms_dir"),
    )
