"""circuitflow.config: schema checks with defaults, one line per violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from circuitflow.config import ConfigError, check_config, schema_error

SCHEMAS = Path(__file__).resolve().parents[2] / "config"


def test_check_config_fills_the_schema_defaults():
    config = check_config({"prune": {"network_path": "net"}}, SCHEMAS)
    assert config["out_dir"] == "out"
    assert config["prune"]["n_ranges"] is None and config["prune"]["neurons_per_range"] == 1000
    assert config["prune"]["keep_files"] is True


def test_check_config_names_the_missing_key():
    with pytest.raises(ConfigError, match=r"^config: missing required key 'synthesis.atlas'$"):
        check_config({"synthesis": {"input_cells": "c.h5"}}, SCHEMAS)


def test_schema_error_names_nested_path_and_keeps_one_line():
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"enum": ["x", "y"]}}}}
    assert schema_error({"a": ["x", "z"]}, schema, "sec.") == "config: sec.a.1: 'z' is not one of ['x', 'y']"
    assert schema_error({"a": ["x"]}, schema) is None
    long = schema_error({"a": ["\n".join("w" * 50 for _ in range(20))]}, schema)
    assert "\n" not in long and len(long) < 300
