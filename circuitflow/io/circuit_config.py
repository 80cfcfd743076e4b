"""SONATA circuit config (`circuit_config.json`) tying nodes, morphologies and edges together.

Paths are written relative to the config's own folder through the manifest variable `$BASE_DIR`
(`"."`), so an output folder stays valid when it is moved or copied as a whole. Morphologies:
SWC goes to `morphologies_dir`, h5 and asc to `alternate_morphologies` (`h5v1`,
`neurolucida-asc`), as libsonata expects. With cell models (`models_dir`, SONATA
`biophysical_neuron_models_dir`, and optionally `mechanisms_dir`) the circuit is complete; without
them it is declared `partial` (SONATA `metadata.status`), since a complete biophysical circuit must
name its electrical models.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from circuitflow.io.atomic import write_text

ALTERNATE = {"h5": "h5v1", "asc": "neurolucida-asc"}


def relative(path: str | os.PathLike, base: Path) -> str:
    """`$BASE_DIR/<path relative to base>` (normalised, forward slashes)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    return "$BASE_DIR/" + Path(rel).as_posix()


def circuit_config(
    out: str | os.PathLike,
    nodes_file: str | os.PathLike,
    node_population: str,
    morphology_dir: str | os.PathLike,
    morphology_exts: list[str],
    edges: list[tuple[str | os.PathLike, str, str]],
    node_sets_file: str | os.PathLike | None = None,
    models_dir: str | os.PathLike | None = None,
    mechanisms_dir: str | os.PathLike | None = None,
) -> dict:
    """The circuit config dict for a config file at `out`; partial unless `models_dir` is given.

    `edges`: (edges file, population, type) triples, type `chemical` or `electrical`."""
    base = Path(out).parent
    morph = relative(morphology_dir, base)
    components = {}
    for ext in morphology_exts:
        if ext == "swc":
            components["morphologies_dir"] = morph
        elif ext in ALTERNATE:
            components.setdefault("alternate_morphologies", {})[ALTERNATE[ext]] = morph
        else:
            raise ValueError(f"morphology extension {ext!r}: expected swc, h5 or asc")
    if models_dir is not None:
        components["biophysical_neuron_models_dir"] = relative(models_dir, base)
        if mechanisms_dir is not None:
            components["mechanisms_dir"] = relative(mechanisms_dir, base)
    edge_files: dict[str, dict] = {}
    for path, population, kind in edges:
        entry = edge_files.setdefault(relative(path, base), {})
        entry[population] = {"type": kind}
    config = {"version": 2}
    if models_dir is None:  # no electrical models: a partial circuit in SONATA's terms
        config["metadata"] = {"status": "partial"}
    config["manifest"] = {"$BASE_DIR": "."}
    if node_sets_file is not None:
        config["node_sets_file"] = relative(node_sets_file, base)
    config["components"] = components
    config["networks"] = {
        "nodes": [
            {"nodes_file": relative(nodes_file, base), "populations": {node_population: {"type": "biophysical"}}}
        ],
        "edges": [{"edges_file": f, "populations": pops} for f, pops in edge_files.items()],
    }
    return config


def write_circuit_config(out: str | os.PathLike, *args, **kwargs) -> dict:
    """Write `circuit_config(out, ...)` as JSON to `out` (temporary name, then rename); return it."""
    config = circuit_config(out, *args, **kwargs)
    write_text(out, json.dumps(config, indent=2) + "\n")
    return config
