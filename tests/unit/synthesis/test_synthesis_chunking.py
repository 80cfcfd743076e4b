"""Synthesis chunking: balanced job sizes that follow the cell count (never the cores), and a chunk job
that reads only its own rows of the cells file and donor table."""

from __future__ import annotations

import os
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
from conftest import ROOT

from circuitflow.config import load_schema
from circuitflow.example import make_example
from circuitflow.io.cells import cells_dataframe, load_cell_rows, load_cells
from circuitflow.synthesis import atlas, donors, prepare

DEFAULTS = {
    key: spec["default"]
    for key, spec in load_schema(str(ROOT / "config/schema.synthesis.yaml"))["properties"].items()
    if key in prepare.CHUNK_KEYS
}


def sizes(n_cells: int, **section) -> list[int]:
    """Cells per chunk of `n_cells` cells with the schema's defaults updated by `section`."""
    bounds = prepare.chunk_bounds(n_cells, {**DEFAULTS, **section})
    assert bounds[0][0] == 0 and bounds[-1][1] == n_cells  # every cell, in order, once
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    return [hi - lo for lo, hi in bounds]


def test_defaults_are_the_documented_ones():
    assert DEFAULTS == {"chunk_size": None, "min_chunks": 8, "min_chunk_size": 50, "max_chunk_size": 1000}


@pytest.mark.parametrize(
    ("n_cells", "n_chunks", "largest"),
    [
        (0, 1, 0),  # one (empty) chunk, as before
        (1, 1, 1),
        (40, 1, 40),  # below min_chunk_size: one job
        (300, 6, 50),  # the example: as many jobs as 50-cell chunks allow
        (1054, 8, 132),  # the held-out case: not 1,000 + 54
        (2000, 8, 250),
        (8000, 8, 1000),
        (10_000, 10, 1000),
        (16_001, 17, 942),
        (100_000, 100, 1000),
        (1_000_000, 1000, 1000),
        (1_234_567, 1235, 1000),
    ],
)
def test_default_chunks_follow_the_cells_balanced_and_bounded(n_cells, n_chunks, largest):
    got = sizes(n_cells)
    assert len(got) == n_chunks and max(got) == largest
    assert max(got) - min(got) <= 1  # balanced
    assert max(got) <= DEFAULTS["max_chunk_size"]
    if n_chunks > 1:
        assert min(got) >= DEFAULTS["min_chunk_size"] or n_chunks == -(-n_cells // DEFAULTS["max_chunk_size"])


def test_bounds_of_the_automatic_chunking():
    for n in range(0, 3000, 7):
        got = sizes(n, min_chunks=8, min_chunk_size=20, max_chunk_size=100)
        assert max(got) <= 100 and max(got) - min(got) <= 1
        assert len(got) == max(1, -(-n // 100), min(8, n // 20))
    # max_chunk_size wins over min_chunk_size
    assert sizes(1000, min_chunks=1, min_chunk_size=500, max_chunk_size=300) == [250] * 4


def test_explicit_chunk_size_overrides():
    assert sizes(14, chunk_size=5) == [5, 5, 4]
    assert sizes(0, chunk_size=5) == [0]
    assert sizes(1054, chunk_size=1000) == [1000, 54]  # as asked: an override is taken literally


def test_chunking_does_not_depend_on_the_cores():
    section = dict(DEFAULTS)
    expected = prepare.chunk_bounds(2000, section)
    with (
        mock.patch.object(os, "cpu_count", return_value=128),
        mock.patch.object(os, "sched_getaffinity", return_value=set(range(128)), create=True),
    ):
        assert prepare.chunk_bounds(2000, section) == expected


@pytest.mark.parametrize("fmt", ["sonata", "mvd3"])
def test_chunk_reads_its_own_rows_as_the_whole_file_gives_them(tmp_path, fmt):
    make_example(tmp_path, n_cells=37)
    path = tmp_path / "cells.h5"
    if fmt == "mvd3":  # the same cells as MVD3, with a string property outside the library
        cells = load_cells(path)
        cells.properties["mclass"] = np.array(["PC", "IN"] * 18 + ["PC"], dtype=object)
        path = tmp_path / "cells.mvd3"
        cells.save_mvd3(str(path))
    whole = cells_dataframe(load_cells(path))
    names = ("region", "mtype", "mclass")
    for start, stop in [(0, 37), (5, 17), (36, 37), (10, 10)]:
        rows = load_cell_rows(path, start, stop, names)
        expected = whole.iloc[start:stop]
        assert list(rows) == [c for c in ("x", "y", "z", *names) if c in whole]
        for name, column in rows.items():
            assert isinstance(column, np.ndarray) and len(column) == stop - start
            assert column.tolist() == expected[name].tolist(), name


def test_chunk_cells_equal_the_rows_of_the_whole_table(tmp_path):
    """A chunk job's cells (its rows of the cells file and donor table, the atlas cache's synthesis regions)
    give the chunk payload that the whole table's rows give."""
    make_example(tmp_path, n_cells=45)
    section = {
        **DEFAULTS,
        "input_cells": f"{tmp_path}/cells.h5",
        "atlas": f"{tmp_path}/atlas",
        "tmd_parameters": f"{tmp_path}/tmd_parameters.json",
        "tmd_distributions": f"{tmp_path}/tmd_distributions.json",
        "region_structure": f"{tmp_path}/region_structure.yaml",
        "morph_axon": f"{tmp_path}/axon_morphs.tsv",
        "base_morph_dir": f"{tmp_path}/donors",
    }
    cache = tmp_path / "atlas_cache.h5"
    atlas.cache_atlas(section["input_cells"], section["atlas"], section["region_structure"], 0.0, 1e6, str(cache))
    whole, _, tmd_params, tmd_distribs = prepare.cell_table(section)
    for i, (lo, hi) in enumerate([(0, 20), (20, 45), (7, 8)]):
        columns, _ = atlas.read_atlas_cache(cache, lo, hi)
        rows, *_ = prepare.chunk_cells(section, (lo, hi), columns["synthesis_region"])
        mine = prepare.chunk_payload(rows, tmd_params, tmd_distribs, i, True)
        theirs = prepare.chunk_payload(prepare.table_columns(whole.iloc[lo:hi]), tmd_params, tmd_distribs, i, True)
        assert mine == theirs and len(mine["cells"]) == hi - lo
        assert rows["axon_name"].tolist() == whole["axon_name"].iloc[lo:hi].tolist()
        assert rows["synthesis_region"] == whole["synthesis_region"].iloc[lo:hi].tolist()


def test_donor_rows_names_a_missing_cell(tmp_path):
    table = tmp_path / "axons.tsv"
    table.write_text("id morphology scale\n0 a 1.0\n1 N/A 2.0\n")
    got = donors.donor_rows(table, np.array([1, 0]))
    assert got["axon_name"].tolist() == [None, "a"] and got["axon_scale"].tolist() == [2.0, 1.0]
    with pytest.raises(donors.DonorError, match=r"axons.tsv: no row for cell id\(s\) \[2\]"):
        donors.donor_rows(table, np.array([1, 2]))


def test_chunk_job_imports_leave_pyplot_unloaded_until_used():
    """A chunk job's imports (NeuroTS, diameter-synthesis) do not run matplotlib.pyplot; a use still loads it."""
    code = (
        "import sys, circuitflow.synthesis.chunk\n"
        "m = sys.modules['matplotlib.pyplot']\n"
        "assert type(m).__name__ == '_Deferred' and 'figure' not in vars(m), type(m)\n"
        "import diameter_synthesis.simpler_diametrizer as d\n"
        "assert d.plt is m and callable(m.figure) and type(m).__name__ == 'module'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_planning_parameter_load_leaves_pyplot_unloaded():
    """Snakemake's planning loads the TMD files (NeuroTS' legacy-name conversion) without running pyplot."""
    code = (
        "import sys, pathlib, json, tempfile\n"
        "from circuitflow.synthesis import params\n"
        "p = pathlib.Path(tempfile.mkdtemp()) / 't.json'; p.write_text(json.dumps({'basal': {}}))\n"
        "assert params.load_tmd_file(p, 'tmd_parameters') == {'basal_dendrite': {}}\n"
        "assert 'neurots' in sys.modules\n"
        "m = sys.modules['matplotlib.pyplot']\n"
        "assert type(m).__name__ == '_Deferred' and 'figure' not in vars(m), type(m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
