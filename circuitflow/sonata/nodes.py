"""Nodes for simulation: the synthesized cells plus what a SONATA simulator reads, and node sets.

The synthesized nodes file stays as region-grower writes it (byte-identical); the simulation nodes
are a separate file with the same population, positions, orientations and properties, plus per cell
(from the `connectome.models` mapping of mtype to cell model):

| attribute | SONATA meaning | from |
| --- | --- | --- |
| `model_type` | `biophysical` | constant |
| `model_template` | `hoc:<template>`: `<template>.hoc` in `biophysical_neuron_models_dir` | the mtype's model |
| `morph_class` | `PYR` or `INT` | the mtype's model |
| `synapse_class` | `EXC` or `INH` | the nodes; the model where the nodes have none (a mismatch is an error) |
| `etype` | electrical type | the nodes; the model where the nodes have none |
| `dynamics_params/threshold_current`, `holding_current` | nA, as BBP's SONATA extension | the mtype's model |

Node sets (`node_sets.json`): `All`, one per mtype (named as the mtype), `Excitatory` and
`Inhibitory` by synapse class, `layer_<L>` per layer and `region_<R>` per region where the nodes
have those properties.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
from voxcell import CellCollection

from circuitflow.errors import CircuitflowError
from circuitflow.io.atomic import atomic_path, write_json

log = logging.getLogger(__name__)

MODEL_KEYS = ("model_template", "morph_class", "threshold_current", "holding_current")
DYNAMICS = CellCollection.SONATA_DYNAMIC_PROPERTY


class ModelsError(CircuitflowError):
    """The cell models do not cover the nodes."""


def load_nodes(nodes_file: str | os.PathLike, population: str | None = None) -> CellCollection:
    """The node population (the only one when `population` is None) as a voxcell CellCollection."""
    return CellCollection.load_sonata(str(nodes_file), population_name=population or None)


def _column(props: pd.DataFrame, name: str) -> np.ndarray | None:
    return props[name].astype(str).to_numpy() if name in props else None


def model_properties(props: pd.DataFrame, models: dict, where: str = "connectome.models") -> dict:
    """Per-cell simulation properties (name -> array) of nodes `props` from `models["mtypes"]`."""
    by_mtype = models["mtypes"]
    mtypes = _column(props, "mtype")
    if mtypes is None:
        raise ModelsError("the nodes have no mtype: connectome.models maps mtypes to cell models")
    missing = sorted(set(mtypes) - set(by_mtype))
    if missing:
        raise ModelsError(f"{where}.mtypes: no cell model for mtype(s) {', '.join(missing)}")
    n = len(mtypes)
    out: dict[str, np.ndarray] = {"model_type": np.full(n, "biophysical", dtype=object)}
    for key in ("model_template", "morph_class"):
        out[key] = np.array([by_mtype[m][key] for m in mtypes], dtype=object)
    for key in ("synapse_class", "etype"):
        given = _column(props, key)
        modelled = [by_mtype[m].get(key) for m in mtypes]
        if given is None:
            lacking = sorted({m for m, v in zip(mtypes, modelled) if v is None})
            if lacking and key == "synapse_class":
                raise ModelsError(f"{where}.mtypes.{lacking[0]}.synapse_class: needed, the nodes have no synapse_class")
            if not lacking:
                out[key] = np.array(modelled, dtype=object)
            continue
        clash = sorted({m for m, g, v in zip(mtypes, given, modelled) if v is not None and v != g})
        if clash:
            raise ModelsError(f"{where}.mtypes.{clash[0]}.{key}: differs from the nodes' {key}")
        out[key] = given.astype(object)
    for key in ("threshold_current", "holding_current"):
        out[DYNAMICS + key] = np.array([by_mtype[m][key] for m in mtypes], dtype=np.float32)
    return out


def template_names(model_templates) -> list[str]:
    """The hoc template names of `hoc:<name>` model_template values."""
    names = []
    for value in sorted(set(model_templates)):
        kind, _, name = str(value).partition(":")
        if kind != "hoc" or not name:
            raise ModelsError(f"model_template {value!r}: expected hoc:<template name>")
        names.append(name)
    return names


def check_models(models: dict, mtypes, where: str = "connectome.models") -> None:
    """Every mtype of the circuit has a model, and every model's template file exists (before any job)."""
    missing = sorted(set(mtypes) - set(models["mtypes"]))
    if missing:
        raise ModelsError(f"{where}.mtypes: no cell model for mtype(s) {', '.join(missing)}")
    check_templates(models, models["templates_dir"], where)
    mechanisms = models.get("mechanisms_dir")
    if mechanisms is not None and not os.path.isdir(mechanisms):
        raise ModelsError(f"{where}.mechanisms_dir: {mechanisms} is not a folder")


def check_templates(models: dict, templates_dir: str | os.PathLike, where: str = "connectome.models") -> None:
    """Every model's template file exists in `templates_dir` (one-line error naming the first missing)."""
    for mtype, model in sorted(models["mtypes"].items()):
        (name,) = template_names([model["model_template"]])
        path = os.path.join(templates_dir, name + ".hoc")
        if not os.path.isfile(path):
            raise ModelsError(f"{where}.mtypes.{mtype}.model_template: {path} does not exist")


def write_simulation_nodes(cells: CellCollection, properties: dict, out: str | os.PathLike) -> None:
    """Write `cells` with `properties` added as a SONATA nodes file (temporary name, then rename)."""
    sim = CellCollection(cells.population_name, orientation_format=cells.orientation_format)
    sim.positions = cells.positions
    sim.orientations = cells.orientations
    props = cells.properties.copy()
    for name, values in properties.items():
        props[name] = values
    sim.properties = props
    strings = [k for k, v in properties.items() if v.dtype == object]
    with atomic_path(out) as tmp:
        sim.save_sonata(str(tmp), forced_library=strings)


def _json_value(value):
    return value.item() if isinstance(value, np.generic) else value


def node_sets(props: pd.DataFrame, population: str) -> dict:
    """SONATA node sets of the population: All, per mtype, per synapse class, per layer and region."""
    sets: dict[str, dict] = {"All": {"population": population}}
    if "mtype" in props:
        for mtype in sorted(props["mtype"].astype(str).unique()):
            sets[mtype] = {"population": population, "mtype": mtype}
    if "synapse_class" in props:
        classes = set(props["synapse_class"].astype(str).unique())
        for name, value in (("Excitatory", "EXC"), ("Inhibitory", "INH")):
            if value in classes:
                sets[name] = {"population": population, "synapse_class": value}
    for key, prefix in (("layer", "layer_"), ("region", "region_")):
        if key in props:
            for value in sorted(props[key].unique(), key=str):
                sets[f"{prefix}{value}"] = {"population": population, key: _json_value(value)}
    return sets


def sonata_nodes(
    nodes_file: str | os.PathLike,
    population: str | None,
    models: dict | None,
    out_node_sets: str | os.PathLike,
    out_nodes: str | os.PathLike | None = None,
) -> None:
    """Rule sonata_nodes: node sets, and with `models` the simulation nodes file."""
    cells = load_nodes(nodes_file, population)
    write_json(out_node_sets, node_sets(cells.properties, cells.population_name))
    if models:
        if out_nodes is None:
            raise ModelsError("sonata_nodes: cell models given without an output nodes file")
        check_templates(models, models["templates_dir"])
        write_simulation_nodes(cells, model_properties(cells.properties, models), out_nodes)
        log.info("%d simulation nodes written to %s", len(cells.properties), out_nodes)
