"""Simulation nodes: cell models per mtype, node sets, a nodes file libsonata reads in full."""

from __future__ import annotations

import json

import libsonata
import numpy as np
import pandas as pd
import pytest
from voxcell import CellCollection

from circuitflow.sonata import nodes as N

MODELS = {
    "mtypes": {
        "L2_TPC:A": {
            "model_template": "hoc:CircuitflowHH",
            "morph_class": "PYR",
            "etype": "cADpyr",
            "threshold_current": 0.2,
            "holding_current": -0.05,
        },
        "L4_BC": {
            "model_template": "hoc:CircuitflowHH",
            "morph_class": "INT",
            "etype": "cNAC",
            "synapse_class": "INH",
            "threshold_current": 0.1,
            "holding_current": 0.0,
        },
    }
}


def cells() -> CellCollection:
    """Four cells of two mtypes, as region-grower writes them (synapse class, layer, region)."""
    df = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0],
            "y": 0.0,
            "z": 0.0,
            "mtype": ["L2_TPC:A", "L4_BC", "L2_TPC:A", "L4_BC"],
            "synapse_class": ["EXC", "INH", "EXC", "INH"],
            "layer": ["2", "4", "3", "4"],
            "region": ["COL;2", "COL;4", "COL;3", "COL;4"],
            "morphology": list("abcd"),
            "orientation": [np.eye(3)] * 4,
        },
        index=np.arange(1, 5),
    )
    c = CellCollection.from_dataframe(df)
    c.population_name = "example"
    return c


def test_model_properties_per_mtype():
    props = N.model_properties(cells().properties, MODELS)
    assert list(props["model_type"]) == ["biophysical"] * 4
    assert list(props["morph_class"]) == ["PYR", "INT", "PYR", "INT"]
    assert list(props["etype"]) == ["cADpyr", "cNAC", "cADpyr", "cNAC"]
    assert list(props["synapse_class"]) == ["EXC", "INH", "EXC", "INH"]
    assert props["@dynamics:threshold_current"].dtype == np.float32
    assert list(props["@dynamics:holding_current"]) == pytest.approx([-0.05, 0.0, -0.05, 0.0])


def test_an_mtype_without_model_is_named():
    models = {"mtypes": {"L2_TPC:A": MODELS["mtypes"]["L2_TPC:A"]}}
    with pytest.raises(N.ModelsError, match=r"connectome.models.mtypes: no cell model for mtype\(s\) L4_BC"):
        N.model_properties(cells().properties, models)


def test_synapse_class_must_agree_with_the_nodes():
    models = {"mtypes": {**MODELS["mtypes"], "L4_BC": {**MODELS["mtypes"]["L4_BC"], "synapse_class": "EXC"}}}
    with pytest.raises(N.ModelsError, match="connectome.models.mtypes.L4_BC.synapse_class: differs"):
        N.model_properties(cells().properties, models)


def test_synapse_class_from_models_where_nodes_have_none():
    props = cells().properties.drop(columns="synapse_class")
    with pytest.raises(N.ModelsError, match="mtypes.L2_TPC:A.synapse_class: needed"):
        N.model_properties(props, MODELS)
    models = {"mtypes": {**MODELS["mtypes"], "L2_TPC:A": {**MODELS["mtypes"]["L2_TPC:A"], "synapse_class": "EXC"}}}
    assert list(N.model_properties(props, models)["synapse_class"]) == ["EXC", "INH", "EXC", "INH"]


def test_template_files_are_checked(tmp_path):
    with pytest.raises(N.ModelsError, match=r"mtypes.L2_TPC:A.model_template: .*CircuitflowHH.hoc does not exist"):
        N.check_templates(MODELS, tmp_path)
    (tmp_path / "CircuitflowHH.hoc").write_text("")
    N.check_templates(MODELS, tmp_path)
    with pytest.raises(N.ModelsError, match="expected hoc:<template name>"):
        N.template_names(["python:Cell"])


def test_node_sets():
    sets = N.node_sets(cells().properties, "example")
    assert sets["All"] == {"population": "example"}
    assert sets["L4_BC"] == {"population": "example", "mtype": "L4_BC"}
    assert sets["Inhibitory"] == {"population": "example", "synapse_class": "INH"}
    assert sets["layer_3"] == {"population": "example", "layer": "3"}
    assert sets["region_COL;4"] == {"population": "example", "region": "COL;4"}


def test_simulation_nodes_file_reads_in_full(tmp_path):
    """libsonata reads every attribute; positions and the original properties are kept; node sets resolve."""
    c = cells()
    out = tmp_path / "nodes.h5"
    N.write_simulation_nodes(c, N.model_properties(c.properties, MODELS), out)
    pop = libsonata.NodeStorage(str(out)).open_population("example")
    sel = pop.select_all()
    values = {name: pop.get_attribute(name, sel) for name in pop.attribute_names}
    dynamics = {name: pop.get_dynamics_attribute(name, sel) for name in pop.dynamics_attribute_names}
    assert {
        "model_type",
        "model_template",
        "morph_class",
        "synapse_class",
        "etype",
        "mtype",
        "layer",
        "orientation_w",
        "x",
    } <= set(values)
    assert list(values["model_template"]) == ["hoc:CircuitflowHH"] * 4
    assert list(values["x"]) == [1.0, 2.0, 3.0, 4.0]
    assert dynamics["threshold_current"] == pytest.approx([0.2, 0.1, 0.2, 0.1])
    sets_file = tmp_path / "node_sets.json"
    sets_file.write_text(json.dumps(N.node_sets(c.properties, "example")))
    node_sets = libsonata.NodeSets.from_file(str(sets_file))
    assert list(node_sets.materialize("Inhibitory", pop).flatten()) == [1, 3]
