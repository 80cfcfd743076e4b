"""Per-cell behaviour of region-grower 1.6.0 (spec §9.7): geometry, scaling, limits, retries, names."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
from conftest import DATA
from neurots import NeuroTSError
from neurots.utils import convert_from_legacy_neurite_type

from circuitflow.io.morphology import MorphologyOutputError, hashed_depth, morphology_name, subdirectory
from circuitflow.synthesis import grow
from circuitflow.synthesis.donors import DonorError, check_na_ratio
from circuitflow.synthesis.grow import (
    CellContext,
    RegionGrowerError,
    SkipSynthesisError,
    constraint_distance,
    grow_cell,
    layer_position,
    target_reference_thickness,
)

D = [0, 200, 300, 400, 500, 600, 800]
C = np.cumsum([165, 149, 353, 190, 525, 700]).tolist()
INPUTS = DATA / "synthesis-column" / "inputs"


@pytest.mark.parametrize(
    "layer, fraction, expected",
    [
        (2, 0.25, 275),
        (2, 0.5, 250),
        (2, 0.75, 225),
        (6, 0.5, 700),
        (1, -0.5, 300),
        (2, 0, 300),
        (1, 1.5, -100),
        (6, -0.5, 900),
    ],
)
def test_layer_position(layer, fraction, expected):
    assert layer_position(D, layer, fraction) == expected


def test_target_and_reference_thickness():
    assert target_reference_thickness(250, D, C) == (300, 314)
    assert target_reference_thickness(250, None, None) == (1, 1)
    with pytest.raises(RegionGrowerError, match="outside of circuit boundaries"):
        target_reference_thickness(9999, D, C)
    with pytest.raises(RegionGrowerError):
        target_reference_thickness(np.nan, D, C)


@pytest.mark.parametrize(
    "depth, constraint, expected",
    [
        (0, {}, None),
        (0, {"layer": 1, "fraction": 1}, 0),
        (0, {"layer": 1, "fraction": 0}, -200),
        (50, {"layer": 1, "fraction": 0}, -150),
        (500, {"layer": 1, "fraction": 0}, 300),
        (0, {"layer": 6, "fraction": 0}, -800),
        (-100, {"layer": 6, "fraction": 0}, -900),
        (1000, {"layer": 6, "fraction": 0}, 200),
    ],
)
def test_constraint_distance(depth, constraint, expected):
    assert constraint_distance(depth, D, constraint) == expected


@pytest.mark.parametrize("depths", [[np.nan] * 7, None, []])
def test_constraint_distance_without_layers(depths):
    assert constraint_distance(0, depths, {"layer": 1, "fraction": 0}) is None


def test_zero_thickness_layer_is_skipped():
    with pytest.raises(SkipSynthesisError, match="Layer 2 has no/negative thickness"):
        layer_position([0, 200, 200, 400], 2, 0.5)


def test_names_and_hashed_folders():
    assert morphology_name(0) == "e3e70682c2094cac629f6fbed82c07cd"
    assert morphology_name(42) == "bdd640fb06671ad11c80317fa3b1799d"
    assert subdirectory(morphology_name(0), None) == ""
    assert subdirectory(morphology_name(42), 2) == "hashed/bd/d6"
    assert subdirectory(morphology_name(42), 0) == "hashed"
    assert hashed_depth(0, None) is None and hashed_depth(500, None) is None
    assert hashed_depth(5000, 500) == 1
    assert hashed_depth(256**2 + 1, 256) == 2
    assert hashed_depth(256**3 + 1, 256) == 3
    with pytest.raises(MorphologyOutputError):
        hashed_depth(1000, 200)
    with pytest.raises(MorphologyOutputError):
        hashed_depth(256**4 + 1, 256)


def test_na_donor_ratio():
    mtypes = pd.Series(["L2_TPC:A"] * 5)
    names = pd.Series(["a", None, "b", None, "c"])
    with pytest.raises(DonorError, match=r"Max N/A ratio \(25.0%\) exceeded for mtype\(s\): L2_TPC:A"):
        check_na_ratio(mtypes, names, 0.25)
    assert check_na_ratio(mtypes, names, 0.75) == [1, 3]


def default_cell(**constraints) -> CellContext:
    """Spec §9.7 fixture: (0, 500, 0), identity orientation, depth 250, default parameters."""
    params = convert_from_legacy_neurite_type(json.loads((INPUTS / "tmd_parameters.json").read_text()))
    distributions = convert_from_legacy_neurite_type(json.loads((INPUTS / "tmd_distributions.json").read_text()))
    entry = copy.deepcopy(params["default"]["L2_TPC:A"])
    if constraints:
        entry["context_constraints"] = constraints
    return CellContext(
        position=np.array([0.0, 500.0, 0.0]),
        orientation=np.identity(3),
        mtype="L2_TPC:A",
        current_depth=250.0,
        layer_depths=D,
        cortical_depths=C,
        params=entry,
        distributions=distributions["default"]["L2_TPC:A"],
        with_debug=True,
    )


def test_full_synthesis():
    cell = default_cell()
    before = copy.deepcopy(cell.params)
    result = grow_cell(cell, 0)
    assert len(result.neuron.root_sections) == 7
    assert result.apical_sections == [53]
    np.testing.assert_allclose(result.apical_points[0], [3.35894, 203.65117, -8.5437], atol=1e-4)
    soma = result.neuron.soma.points
    assert len(soma) == 7 and np.all(soma[:, 2] == 0)
    np.testing.assert_allclose(soma[0], [-4.4719658, -5.5439453, 0], atol=1e-6)
    first = result.neuron.root_sections[0]
    np.testing.assert_allclose(
        first.points[:3],
        [[-7.38993, -1.53107, -1.16545], [-8.70636, -1.80380, -1.37306], [-10.09003, -2.00613, -1.44963]],
        atol=1e-4,
    )
    np.testing.assert_allclose(first.diameters[:3], 0.6)
    assert cell.params == before


def test_extent_to_target():
    target = {"slope": 0.5, "intercept": 1, "layer": 1, "fraction": 0.5}
    result = grow_cell(default_cell(apical_dendrite={"extent_to_target": target}), 0)
    assert result.apical_sections == [29]
    np.testing.assert_allclose(result.apical_points[0], [5.711923, 56.423218, 4.124067], atol=1e-4)
    inputs = result.debug_infos["input_scaling"]["target_func"]["inputs"]
    assert inputs["target_path_distance"] == 76


def test_hard_limits_rescale_apical():
    target = {"slope": 0.5, "intercept": 1, "layer": 1, "fraction": 0.5}
    limit = {"layer": 1, "fraction": 0.1}
    cell = default_cell(apical_dendrite={"extent_to_target": target, "hard_limit_min": limit, "hard_limit_max": limit})
    result = grow_cell(cell, 0)
    rescaling = result.debug_infos["neurite_hard_limit_rescaling"]
    # upstream unit-test value; float32 rounding of the grown points moves it in the 8th digit
    assert rescaling[19]["scale"] == pytest.approx(0.9485438342260688, rel=1e-6)
    np.testing.assert_allclose(result.apical_points[0], [5.418009, 53.91283, 3.911858], atol=1e-4)


def test_hard_limit_too_small_removes_apical():
    cell = default_cell(apical_dendrite={"hard_limit_max": {"layer": 2, "fraction": 0.6}})
    with pytest.raises(RegionGrowerError, match="Apical is removed because rescale"):
        grow_cell(cell, 0)


def test_retries_continue_the_random_stream(monkeypatch):
    """Two failed attempts consume draws: the third attempt differs from a first attempt."""
    calls = {"n": 0}
    real = grow.apply_hard_limits

    def failing(neuron, cell, debug):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise NeuroTSError("fail")
        return real(neuron, cell, debug)

    monkeypatch.setattr(grow, "apply_hard_limits", failing)
    result = grow_cell(default_cell(), 0)
    assert result.apical_sections == [81]
    np.testing.assert_allclose(result.apical_points[0], [-109.65276, 181.05914, -94.54867], atol=1e-4)


def test_ten_failures_drop_the_cell(monkeypatch):
    def always(*args):
        raise NeuroTSError("fail")

    monkeypatch.setattr(grow, "apply_hard_limits", always)
    with pytest.raises(SkipSynthesisError, match="Too many attempts"):
        grow_cell(default_cell(), 0)


def test_drop_summary_counts_only_dropped_cells():
    """One row per (region, mtype, reason) that really dropped cells, with categorical columns too."""
    from circuitflow.synthesis.finalize import drop_summary

    cells = pd.DataFrame(
        {"region": pd.Categorical(["a", "a", "b", "c"]), "mtype": pd.Categorical(["X", "Y", "X", "Y"])}
    )
    results = pd.DataFrame(
        {
            "name": ["n0", None, None, "n3"],
            "error": [None, "SkipSynthesisError: depth", "RegionGrowerError: apical", None],
        }
    )
    summary = drop_summary(cells, results)
    assert summary.to_dict("records") == [
        {"region": "a", "mtype": "Y", "reason": "SkipSynthesisError", "count": 1},
        {"region": "b", "mtype": "X", "reason": "RegionGrowerError", "count": 1},
    ]


def test_validate_params_reuses_what_planning_validated(tmp_path):
    """validate_params writes planning's validated parameters for unchanged inputs, validates again otherwise."""
    import shutil

    from circuitflow.synthesis import prepare

    column = DATA / "synthesis-column" / "inputs"
    shutil.copy(column / "tmd_parameters.json", tmp_path / "tmd_parameters.json")
    section = {
        "input_cells": str(column / "cells" / "input_cells.h5"),
        "atlas": str(column / "atlas"),
        "tmd_parameters": str(tmp_path / "tmd_parameters.json"),
        "tmd_distributions": str(column / "tmd_distributions.json"),
        "region_structure": str(column / "region_structure.yaml"),
        "morph_axon": None,
        "base_morph_dir": None,
        "synthesize_axons": False,
        "max_drop_ratio": 0.0,
        "chunk_size": 5,
    }
    cache = tmp_path / ".plan-cache.json"
    result, to_store = prepare.checked_digests(section, cache, check=True)
    assert not cache.exists()  # planning writes nothing itself
    prepare.store_plan(to_store)
    assert json.loads(cache.read_text())["result"] == result
    assert prepare.checked_digests(section, cache, check=False) == (result, {})  # jobs reuse the cache
    validated = prepare.validated_path(cache)
    assert prepare.read_validated(validated, section) is not None
    prepare.validate_params(section, tmp_path / "fresh.json")
    prepare.validate_params(section, tmp_path / "reused.json", validated)
    assert (tmp_path / "reused.json").read_bytes() == (tmp_path / "fresh.json").read_bytes()

    edited = json.loads((tmp_path / "tmd_parameters.json").read_text())
    edited["default"]["L2_TPC:A"]["basal_dendrite"]["randomness"] = "high"
    (tmp_path / "tmd_parameters.json").write_text(json.dumps(edited))
    assert prepare.read_validated(validated, section) is None  # the signature no longer matches
    with pytest.raises(Exception, match="randomness"):
        prepare.validate_params(section, tmp_path / "edited.json", validated)


def test_chunk_grows_with_one_blas_thread_and_shared_entries(monkeypatch, tmp_path):
    """synthesize_chunk grows its cells with one BLAS thread (restored afterwards) and hands them its TMD
    entries with the lists of numbers shared (FrozenList), copied once per chunk."""
    from types import SimpleNamespace

    from threadpoolctl import threadpool_info

    from circuitflow.synthesis import chunk
    from circuitflow.synthesis.grow import FrozenList

    record = {"id": 0, "excluded": False, "axon_name": None, "key": "R", "mtype": "M", "axon_scale": None}
    entry = {"parameters": {"grow_types": ["basal_dendrite"]}, "distributions": {"ph": [[3.0, 1.0], [2.0, 0.5]]}}
    cache = ({"cell_id": [0], "synthesis_region": ["R"]}, {"voxel_dimensions": [1, 1, 1], "offset": [0, 0, 0]})
    monkeypatch.setattr(chunk, "chunk_cells", lambda section, rows, regions: ({"x": [0.0]}, {}, {}))
    monkeypatch.setattr(
        chunk, "chunk_payload", lambda *args: {"chunk": 0, "cells": [record], "entries": {"R|M": entry}}
    )
    monkeypatch.setattr(chunk.atlas, "read_atlas_cache", lambda *args: cache)
    monkeypatch.setattr(chunk.atlas, "load_region_structure", lambda path: {})
    monkeypatch.setattr(chunk, "cell_rules", lambda *args: None)
    monkeypatch.setattr(chunk, "build_context", lambda row, cache_row, entry, *args: SimpleNamespace(entry=entry))
    seen = []

    def grow_one(context, cell_id, options, morph_dir, engine):
        seen.append(([lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"], context.entry))
        return {"id": cell_id}

    monkeypatch.setattr(chunk, "synthesize_one", grow_one)
    section = {"morph_axon": None, "chunk_size": 1, "region_structure": "unused", "atlas": "unused"}
    assert chunk.synthesize_chunk(section, 0, (0, 1), "cache.h5", {}, str(tmp_path)) == [{"id": 0}]
    [(threads, shared)] = seen
    assert threads and set(threads) == {1}
    assert shared == entry and type(shared["distributions"]["ph"][0]) is FrozenList
    assert type(entry["distributions"]["ph"][0]) is list
