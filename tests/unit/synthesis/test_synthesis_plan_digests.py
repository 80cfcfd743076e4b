"""Planning's chunk digests (spliced JSON, entries encoded once) equal the digest of each chunk's payload."""

from __future__ import annotations

import pytest
from conftest import ROOT

from circuitflow.config import load_schema
from circuitflow.example import make_example
from circuitflow.synthesis import atlas, prepare


def section(folder, chunk_size: int) -> dict:
    """The example config's synthesis section on a generated example, with the schema's defaults."""
    sec = {
        "input_cells": f"{folder}/cells.h5",
        "atlas": f"{folder}/atlas",
        "tmd_parameters": f"{folder}/tmd_parameters.json",
        "tmd_distributions": f"{folder}/tmd_distributions.json",
        "region_structure": f"{folder}/region_structure.yaml",
        "morph_axon": f"{folder}/axon_morphs.tsv",
        "base_morph_dir": f"{folder}/donors",
        "chunk_size": chunk_size,
    }
    for key, spec in load_schema(str(ROOT / "config/schema.synthesis.yaml"))["properties"].items():
        if "default" in spec:
            sec.setdefault(key, spec["default"])
    return sec


@pytest.mark.parametrize("density", [None, 1e5])
def test_chunk_digests_equal_payload_digests(tmp_path, density):
    make_example(tmp_path, n_cells=90, density=density)
    sec = section(tmp_path, 2)  # 2 cells a chunk: half the chunks hold an L4_BC cell
    cells, tmd_params, tmd_distribs, _ = prepare.check_parameters(sec)
    structure = atlas.load_region_structure(sec["region_structure"])
    expected = []
    for i, (lo, hi) in enumerate(prepare.chunk_bounds(len(cells), sec)):
        assert (lo, hi) == (i * 2, min(i * 2 + 2, len(cells)))
        payload = prepare.chunk_payload(prepare.table_columns(cells.iloc[lo:hi]), tmd_params, tmd_distribs, i, True)
        payload["region_structure"] = prepare.chunk_structure(structure, cells.iloc[i * 2 : (i + 1) * 2])
        payload["donors"] = prepare.chunk_donors(sec["base_morph_dir"], cells.iloc[i * 2 : (i + 1) * 2])
        expected.append(prepare.payload_digest(payload))
    assert prepare.chunk_digests(sec, cells, tmd_params, tmd_distribs) == expected
    # a changed entry changes the digests of exactly the chunks whose cells use it
    tmd_distribs["COL"]["L4_BC"]["soma"]["size"]["norm"]["mean"] += 1
    changed = prepare.chunk_digests(sec, cells, tmd_params, tmd_distribs)
    uses = [bool((cells.iloc[i * 2 : (i + 1) * 2]["mtype"] == "L4_BC").any()) for i in range(len(expected))]
    assert [a != b for a, b in zip(changed, expected)] == uses and 0 < sum(uses) < len(uses)
