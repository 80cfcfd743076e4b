"""region_structure `directions` / `boundaries` rules: checks, warnings, probabilities, mesh choice."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import trimesh
import yaml
from conftest import DATA

from circuitflow.synthesis import atlas, context_rules
from circuitflow.synthesis.context_rules import (
    AttractiveProbability,
    CellRules,
    DirectionProbability,
    Grid,
    RepulsiveProbability,
    constraints,
    load_mesh,
)

COLUMN = DATA / "synthesis-column"
ORIENTATION = str(COLUMN / "inputs/atlas/orientation.nrrd")  # identity everywhere
GRID = Grid(np.array([100.0, 100.0, 100.0]), np.array([-1100.0, -100.0, -1000.0]))
BASE = {"layers": [1, 2], "thicknesses": {1: 100, 2: 200}}


def write_structure(tmp_path, **rules) -> str:
    """A one-region region_structure.yaml holding `rules` (directions / boundaries)."""
    path = tmp_path / "region_structure.yaml"
    path.write_text(yaml.safe_dump({"O0": {**BASE, **rules}}))
    return str(path)


def box(path, lower, upper) -> str:
    """An axis-aligned box mesh written as .obj."""
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(bounds=np.array([lower, upper], dtype=float)).export(path)
    return str(path)


# --------------------------------------------------------------------------- load-time checks
def test_relative_mesh_path_resolved_against_yaml_folder(tmp_path):
    box(tmp_path / "meshes/pia.obj", [0, 0, 0], [1, 1, 1])
    path = write_structure(tmp_path, boundaries=[{"path": "meshes/pia.obj", "neurite_types": ["basal_dendrite"]}])
    structure = atlas.load_region_structure(path)
    assert structure["O0"]["boundaries"][0]["path"] == str((tmp_path / "meshes/pia.obj").absolute())


@pytest.mark.parametrize(
    "rules, message",
    [
        (
            {"directions": [{"params": {"direction": [0, 1, 0], "mode": "sideways"}}]},
            "region 'O0' directions[0]: params.mode 'sideways' is not one of ['parallel', 'perpendicular']",
        ),
        ({"directions": [{"params": {"mode": "parallel"}}]}, "region 'O0' directions[0]: needs params.direction"),
        (
            {"directions": [{"params": {"direction": [0, 1, 0], "layers": [3]}}]},
            "directions[0]: params.layers: 3 is not a layer number 1..2",
        ),
        ({"boundaries": [{"path": "nowhere.obj"}]}, "region 'O0' boundaries[0]: mesh path not found"),
        ({"boundaries": [{"neurite_types": ["axon"]}]}, "boundaries[0]: needs a path"),
        ({"boundaries": [{"path": "m.obj", "mode": "sticky"}]}, "boundaries[0]: mode 'sticky' is not one of"),
        ({"boundaries": [{"path": "m.obj", "mesh_type": "voxels"}]}, "mesh_type 'voxels' is not one of"),
        ({"boundaries": [{"path": "m.obj", "multimesh_mode": "nearest"}]}, "multimesh_mode 'nearest' is not one of"),
        ({"directions": {"params": {}}}, "region 'O0' directions must be a list of rules"),
    ],
)
def test_unusable_rules_fail_at_load(tmp_path, rules, message):
    box(tmp_path / "m.obj", [0, 0, 0], [1, 1, 1])
    with pytest.raises(atlas.AtlasError, match=re.escape(message)):
        atlas.load_region_structure(write_structure(tmp_path, **rules))


def test_misplaced_keys_warn_but_pass_through(tmp_path):
    """RG-24: upstream's own boundary scenario puts mode/neurite_types inside params_section."""
    box(tmp_path / "pia.obj", [0, 0, 0], [1, 1, 1])
    rule = {
        "path": "pia.obj",
        "params_section": {
            "d_min": 0,
            "d_max": 400,
            "power": 0.8,
            "mode": "attractive",
            "neurite_types": ["basal_dendrite"],
            "dmax": 3,
        },
    }
    structure = atlas.load_region_structure(write_structure(tmp_path, boundaries=[rule]))
    warnings = context_rules.rule_warnings(structure)
    assert any("['mode', 'neurite_types'] inside 'params_section' are ignored" in w for w in warnings), warnings
    assert any("no top-level 'neurite_types'" in w for w in warnings), warnings
    assert any("unknown key(s) ['dmax'] inside 'params_section'" in w for w in warnings), warnings
    assert structure["O0"]["boundaries"][0]["params_section"]["mode"] == "attractive"  # unchanged


def test_rules_filter_on_mtypes_and_mclass():
    assert context_rules.applies({}, "L2", None)
    assert context_rules.applies({"mtypes": ["L2"], "mclass": ["PYR"]}, "L2", "PYR")
    assert not context_rules.applies({"mtypes": ["L5"]}, "L2", "PYR")
    assert not context_rules.applies({"mclass": ["INT"]}, "L2", "PYR")
    assert not context_rules.applies({"mclass": ["INT"]}, "L2", None)


# --------------------------------------------------------------------------- probabilities
def direction_prob(params, layer_depths=None):
    rule = {"params": params, "y_direction": [0.0, 1.0, 0.0]}
    return DirectionProbability(rule, ORIENTATION, np.array([0.0, 500.0, 0.0]), 300.0, layer_depths)


def test_direction_probability_modes():
    up, side = np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0])
    point = np.array([0.0, 520.0, 0.0])
    assert direction_prob({"direction": [0, 1, 0]})(up, point) == 1.0
    assert direction_prob({"direction": [0, 1, 0]})(-up, point) == 0.0
    assert direction_prob({"direction": [0, 1, 0]})(side, point) == pytest.approx(0.5)
    assert direction_prob({"direction": [0, 1, 0], "power": 2})(side, point) == pytest.approx(0.25)
    assert direction_prob({"direction": [0, 1, 0], "mode": "perpendicular"})(side, point) == 1.0
    assert direction_prob({"direction": [0, 1, 0], "mode": "perpendicular"})(up, point) == 0.0


def test_direction_probability_is_one_outside_atlas_and_outside_layers():
    down = np.array([0.0, -1.0, 0.0])
    assert direction_prob({"direction": [0, 1, 0]})(down, np.array([0.0, 5000.0, 0.0])) == 1.0
    depths = [0.0, 100.0, 300.0]  # soma depth 300 at y = 500: layer 1 is y in (700, 800)
    prob = direction_prob({"direction": [0, 1, 0], "layers": [1]}, depths)
    assert prob(down, np.array([0.0, 650.0, 0.0])) == 1.0  # depth 150: layer 2
    assert prob(down, np.array([0.0, 750.0, 0.0])) == 0.0  # depth 50: layer 1


def plane(path, y, half=1000.0) -> str:
    """A square at height y (one ray hit), written as .obj."""
    vertices = [[-half, y, -half], [half, y, -half], [half, y, half], [-half, y, half]]
    trimesh.Trimesh(vertices, [[0, 1, 2], [0, 2, 3]]).export(path)
    return str(path)


def test_repulsive_only_denominator_powered(tmp_path):
    """RG-11: p = (dist - d_min) / (d_max - max(0, d_min)) ** power."""
    mesh = load_mesh(plane(tmp_path / "pia.obj", 800.0))
    prob = RepulsiveProbability(mesh, False, GRID, {"d_min": 10, "d_max": 110, "power": 1.5})
    up = np.array([0.0, 1.0, 0.0])
    assert prob.distance(up, np.array([0.0, 750.0, 0.0])) == pytest.approx(50.0)
    assert prob(up, np.array([0.0, 750.0, 0.0])) == pytest.approx(40 / 100**1.5)
    assert prob(-up, np.array([0.0, 750.0, 0.0])) == 1.0  # no hit: infinite distance


def test_ray_distance_is_trimesh_first_hit(tmp_path):
    """As region-grower, the first location trimesh lists, not the nearest: here the far face of a box."""
    mesh = load_mesh(box(tmp_path / "slab.obj", [-1000, 800, -1000], [1000, 900, 1000]))
    prob = RepulsiveProbability(mesh, False, GRID, {})
    assert prob.distance(np.array([0.0, 1.0, 0.0]), np.array([0.0, 750.0, 0.0])) == pytest.approx(150.0)


def test_voxel_mesh_distances_in_um(tmp_path):
    mesh = load_mesh(plane(tmp_path / "pia.obj", 9.0, half=30.0))  # voxel y 9 = 800 um
    prob = RepulsiveProbability(mesh, True, GRID, {})
    assert prob.distance(np.array([0.0, 1.0, 0.0]), np.array([0.0, 750.0, 0.0])) == pytest.approx(50.0)


def test_attractive(tmp_path):
    mesh = load_mesh(box(tmp_path / "block.obj", [100, 0, -100], [300, 200, 100]))
    prob = AttractiveProbability(mesh, False, GRID, {"d_min": 0, "d_max": 150})
    point, towards = np.array([0.0, 100.0, 0.0]), np.array([1.0, 0.0, 0.0])
    assert prob(towards, np.array([200.0, 100.0, 0.0])) == 1.0  # inside
    assert prob(towards, point) == 1.0
    assert prob(-towards, point) == 0.0
    assert prob(-towards, np.array([-100.0, 100.0, 0.0])) == 1.0  # beyond d_max


# --------------------------------------------------------------------------- mesh choice per cell
@pytest.fixture
def meshes(tmp_path):
    """Two voxel-coordinate territories (x < 0 um and x > 0 um at the grid's scale)."""
    folder = tmp_path / "territories"
    box(folder / "glomeruli_000.obj", [5, 3, 2], [10, 8, 18])
    box(folder / "glomeruli_001.obj", [12, 3, 2], [17, 8, 18])
    return str(folder)


def rules_for(boundaries, glomerulus_id=-1):
    return CellRules([], boundaries, "GLO", ORIENTATION, GRID, glomerulus_id)


def built(rules, position):
    return constraints(rules, "L2", [0.0, 1.0, 0.0], np.asarray(position, dtype=float), 300.0, None)


@pytest.mark.parametrize("mode, name", [("closest", "glomeruli_001"), ("closest_y", "glomeruli_001")])
def test_closest_meshes_named(meshes, mode, name):
    rule = {"path": meshes, "multimesh_mode": mode, "neurite_types": ["basal_dendrite"], "params_section": {}}
    (out,) = built(rules_for([rule]), [450.0, 450.0, 0.0])
    assert out["mesh_name"] == name
    assert "section_prob" in out and "trunk_prob" not in out


def test_inside_and_territories_keep_previous_mesh(meshes):
    """A folder rule that finds no mesh reuses the cell's current one (region-grower's SpaceContext.mesh)."""
    inside = {"path": meshes, "multimesh_mode": "inside", "params_section": {}}
    territories = {"path": meshes, "multimesh_mode": "territories", "params_trunk": {}}
    rules = rules_for([inside, territories], glomerulus_id=-1)
    first = built(rules, [-250.0, 150.0, 0.0])  # below both territories, no glomerulus
    assert "section_prob" not in first[0] and "trunk_prob" not in first[1]
    rules.mesh = load_mesh(meshes + "/glomeruli_001.obj")  # e.g. left by a previous attempt
    second = built(rules, [-250.0, 150.0, 0.0])
    assert second[0]["section_prob"].mesh is rules.mesh and second[1]["trunk_prob"].mesh is rules.mesh
    rules = rules_for([territories], glomerulus_id=0)
    (out,) = built(rules, [-250.0, 450.0, 100.0])
    assert out["trunk_prob"].mesh is load_mesh(meshes + "/glomeruli_000.obj")


def test_probabilities_survive_neurots_deepcopy(meshes):
    """NeuroTS deep-copies its context per section: the rule functions are shared, not copied."""
    rule = {"path": meshes, "neurite_types": ["basal_dendrite"], "params_section": {}}
    context = {"constraints": built(rules_for([rule]), [450.0, 450.0, 0.0])}
    copied = copy.deepcopy(context)
    assert copied["constraints"][0]["section_prob"] is context["constraints"][0]["section_prob"]


def test_memoized_orientations_equal_voxcell_lookups():
    """Per-voxel memo: bit-identical to OrientationField.lookup per point, and None where it raises."""
    from voxcell import OrientationField, VoxcellError

    path = str(COLUMN / "inputs/context_rules/atlas/orientation.nrrd")  # turns with x
    field, memo = OrientationField.load_nrrd(path), context_rules.Orientations(path)
    rng = np.random.default_rng(0)
    points = rng.uniform([-1300, -300, -1200], [1300, 1100, 1200], size=(2000, 3))
    points[:20] = np.round(points[:20], -2)  # voxel boundaries
    points[20] = [1100.0, 900.0, 1000.0]  # upper corner
    for point in points:
        try:
            expected = field.lookup(point)
        except VoxcellError:
            expected = None
        got = memo.lookup(point)
        if expected is None:
            assert got is None, point
        else:
            assert got.shape == expected.shape and np.array_equal(got, expected), point
    assert 0 < len(memo.matrices) < 2000


def test_reference_cases_warn_only_where_upstream_ignores_keys():
    """directions' params.mode is read (no warning); a mode inside a boundary's params_section is not."""
    rules = COLUMN / "inputs/context_rules"
    warnings = context_rules.rule_warnings(atlas.load_region_structure(rules / "region_structure_directions.yaml"))
    assert warnings == []
    warnings = context_rules.rule_warnings(atlas.load_region_structure(rules / "region_structure_boundaries.yaml"))
    assert warnings == [
        "region 'O0' boundaries[2]: ['mode'] inside 'params_section' are ignored (read at the rule's top level only)"
    ]
    warnings = context_rules.rule_warnings(
        atlas.load_region_structure(rules / "region_structure_boundary_scenario.yaml")
    )
    assert sum("inside 'params_section' are ignored" in w for w in warnings) == 2, warnings
    assert sum("no top-level 'neurite_types'" in w for w in warnings) == 2, warnings


def test_chunk_digest_follows_rules_and_meshes_of_its_cells(tmp_path):
    """A rule or mesh edit changes the region_structure part of the digest only for cells it applies to."""
    import pandas as pd

    from circuitflow.synthesis.prepare import chunk_structure

    box(tmp_path / "pia.obj", [0, 0, 0], [1, 1, 1])
    rules = {
        "boundaries": [{"path": "pia.obj", "mclass": ["INT"], "neurite_types": ["basal_dendrite"]}],
        "directions": [{"mclass": ["PYR"], "params": {"direction": [0, 1, 0]}}],
    }
    pyr = pd.DataFrame({"synthesis_region": ["O0"], "mtype": ["L2"], "mclass": ["PYR"]})
    interneuron = pyr.assign(mclass=["INT"])

    def parts():
        structure = atlas.load_region_structure(write_structure(tmp_path, **rules))
        return chunk_structure(structure, pyr), chunk_structure(structure, interneuron)

    before = parts()
    box(tmp_path / "pia.obj", [0, 0, 0], [2, 1, 1])  # new mesh content
    after_mesh = parts()
    assert after_mesh[0] == before[0] and after_mesh[1] != before[1]
    rules["directions"][0]["params"]["power"] = 2
    after_rule = parts()
    assert after_rule[0] != after_mesh[0] and after_rule[1] == after_mesh[1]


def test_last_rule_mesh_name_recorded_in_debug_infos(meshes):
    from circuitflow.synthesis.grow import CellContext, add_rule_constraints

    rule = {"path": meshes, "neurite_types": ["basal_dendrite"], "params_section": {}}
    cell = CellContext(
        position=np.array([450.0, 450.0, 0.0]),
        orientation=np.identity(3),
        mtype="L2",
        current_depth=300.0,
        layer_depths=None,
        cortical_depths=None,
        params={},
        distributions={},
        rules=rules_for([rule]),
    )
    context, debug = {}, {}
    add_rule_constraints(cell, context, debug)
    assert debug == {"mesh_name": "glomeruli_001"} and len(context["constraints"]) == 1
