"""circuitflow.synthesis.params: loading, grow types, defaults and keys of the TMD files."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from conftest import DATA

from circuitflow.synthesis import params
from circuitflow.synthesis.params import (
    ParametersError,
    entry_for,
    json_key,
    load_tmd_file,
    merge_defaults,
    prepare_grow_types,
)


def test_load_tmd_file_errors_name_the_file(tmp_path):
    with pytest.raises(ParametersError, match=r"^tmd_parameters: file not found: .*none.json"):
        load_tmd_file(tmp_path / "none.json", "tmd_parameters")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ParametersError, match=r"^tmd_distributions: .*bad.json is not valid JSON"):
        load_tmd_file(tmp_path / "bad.json", "tmd_distributions")


def test_load_tmd_file_renames_legacy_neurite_types(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"R": {"M": {"grow_types": ["basal", "apical"], "basal": {}}}}))
    data = load_tmd_file(tmp_path / "p.json", "tmd_parameters")
    assert data["R"]["M"]["grow_types"] == ["basal_dendrite", "apical_dendrite"] and "basal_dendrite" in data["R"]["M"]


def test_prepare_grow_types_drops_axon_unless_synthesized():
    params = {"R": {"M": {"grow_types": ["basal_dendrite", "axon"]}}}
    assert prepare_grow_types(json.loads(json.dumps(params)), False)["R"]["M"]["grow_types"] == ["basal_dendrite"]
    assert prepare_grow_types(json.loads(json.dumps(params)), True)["R"]["M"]["grow_types"] == [
        "basal_dendrite",
        "axon",
    ]
    with pytest.raises(ParametersError, match=r"tmd_parameters\[R\]\[N\]: missing 'grow_types'"):
        prepare_grow_types({"R": {"N": {}}}, False)


def test_merge_defaults_fills_missing_mtypes_only():
    data = merge_defaults({"default": {"A": 1, "B": 2}, "R": {"A": 10}})
    assert data["R"] == {"A": 10, "B": 2} and data["default"] == {"A": 1, "B": 2}
    assert merge_defaults({"R": {"A": 1}}) == {"R": {"A": 1}}


def test_json_key_prefers_the_synthesis_region():
    distributions = {"O0": {}, "default": {}}
    assert json_key("O0", "L1", distributions) == "O0"
    assert json_key("default", "L1", {"O0": {}}) == "L1"


def test_entry_for_is_a_deep_copy():
    params, distributions = {"R": {"M": {"x": [1]}}}, {"R": {"M": {"y": [2]}}}
    entry = entry_for(params, distributions, "R", "M")
    entry["parameters"]["x"].append(3)
    assert entry == {"parameters": {"x": [1, 3]}, "distributions": {"y": [2]}} and params["R"]["M"]["x"] == [1]


@pytest.mark.parametrize("schema", [params.PARAMETERS_SCHEMA, params.DISTRIBUTIONS_SCHEMA])
def test_our_schemas_are_valid_schemas(schema):
    """_schema_check skips jsonschema.validate's metaschema check of them at each call: checked here, once."""
    jsonschema.validators.validator_for(schema).check_schema(schema)


BAD_PARAMETERS = [
    {"R": {"M": {"grow_types": ["dendrite"]}}},
    {"R": {"M": {"grow_types": "basal_dendrite", "context_constraints": {"axon": {"x": 1}}}}},
    {"R": {"M": {"context_constraints": {"apical_dendrite": {"hard_limit_min": {"layer": 9, "fraction": "a"}}}}}},
    {"R": []},
    [],
]


@pytest.mark.parametrize("bad", BAD_PARAMETERS)
def test_schema_errors_are_jsonschema_validate_errors(bad):
    with pytest.raises(jsonschema.ValidationError) as expected:
        jsonschema.validate(bad, params.PARAMETERS_SCHEMA)
    where = "/".join(str(p) for p in expected.value.absolute_path)
    with pytest.raises(params.ParametersError) as got:
        params._schema_check(bad, params.PARAMETERS_SCHEMA, "tmd_parameters")
    assert str(got.value) == f"tmd_parameters: at [{where}]: {expected.value.message}"


COLUMN = DATA / "synthesis-column"


def test_equal_diameter_parameters_are_validated_once(monkeypatch):
    """One diameter model shared by the mtypes is checked once (diameter-synthesis checks its schema at each
    call); different, invalid ones still fail, naming their entry."""
    import diameter_synthesis.validators

    entry = json.loads((COLUMN / "inputs/tmd_parameters.json").read_text())["O0"]["L2_TPC:A"]
    distributions = json.loads((COLUMN / "inputs/tmd_distributions.json").read_text())["O0"]["L2_TPC:A"]
    calls = []
    validate = diameter_synthesis.validators.validate_model_params
    monkeypatch.setattr(diameter_synthesis.validators, "validate_model_params", lambda d: calls.append(validate(d)))
    valid: set = set()
    for mtype in ("A", "B"):
        params._verify_entry("O0", mtype, copy.deepcopy(entry), distributions, valid)
    assert len(calls) == 1 and len(valid) == 1
    bad = copy.deepcopy(entry)
    bad["diameter_params"]["tapers"] = {"axon": {"distribution": "nope"}}  # NeuroTS lets it through
    with pytest.raises(params.ParametersError, match="region 'O0', mtype 'C': diameter_params"):
        params._verify_entry("O0", "C", bad, distributions, valid)
