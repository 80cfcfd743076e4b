"""circuitflow.synthesis.params: loading, grow types, defaults and keys of the TMD files."""

from __future__ import annotations

import json

import pytest

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
