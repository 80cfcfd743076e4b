"""The generated example grown by both synthesis engines: byte-identical outputs (issue 16's stress parity)."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_snakemake
from test_synthesis_reference import synthesis_files
from voxcell import CellCollection


def engine_paths(log_dir: Path) -> Counter:
    """Growth attempts per engine path, summed over the chunk logs."""
    counts: Counter = Counter()
    for log in log_dir.glob("chunk_*.log"):
        match = re.search(r"growth attempts by engine path: (\{.*\})", log.read_text())
        counts.update(ast.literal_eval(match.group(1)))
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("donors, n_cells", [(True, 280), (False, 220)])
def test_example_byte_identical_with_both_engines(tmp_path, donors, n_cells):
    """The generated example (500 cells over both cases, all four mtypes, NRN ids on, asc and h5, grafted
    donor axons with jitters or none) grown by both engines: byte-identical files, names, apical points and
    NRN ids, every cell grown by the compiled kernel."""
    from circuitflow.example import MTYPES, make_example

    example = make_example(tmp_path / "example", n_cells=n_cells, seed=3)
    section = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["synthesis"]
    for key in (
        "input_cells",
        "atlas",
        "tmd_parameters",
        "tmd_distributions",
        "region_structure",
        "morph_axon",
        "base_morph_dir",
    ):
        section[key] = str(tmp_path / section[key])
    if not donors:
        section.update(morph_axon=None, base_morph_dir=None, rotational_jitter_std=None, scaling_jitter_std=None)
    section.update(out_morph_ext=["asc", "h5"], out_apical_nrn_sections=True, chunk_size=60)
    outs = {}
    for name in ("neurots", "compiled"):
        run_snakemake(
            tmp_path / name, {"out_dir": "out", "synthesis": dict(section, engine=name)}, "--cores", "2", "synthesis"
        )
        outs[name] = tmp_path / name / "out"
    theirs, ours = (synthesis_files(outs[name] / "synthesis") for name in ("neurots", "compiled"))
    assert sorted(ours) == sorted(theirs)
    assert len([p for p in ours if p.startswith("morphologies/") and p.endswith((".asc", ".h5"))]) == 2 * n_cells
    for name, data in theirs.items():
        assert ours[name] == data, name
    cells = [CellCollection.load(str(outs[name] / "synthesis" / "nodes.h5")).as_dataframe() for name in outs]
    assert cells[0].equals(cells[1])
    assert set(cells[1]["mtype"]) == set(MTYPES)
    nrn = yaml.safe_load((outs["compiled"] / "synthesis" / "apical_NRN_sections.yaml").read_text())
    assert sum(1 for v in nrn.values() if v) > 0
    paths = engine_paths(outs["compiled"] / "logs" / "synthesis")
    assert paths["compiled"] >= n_cells and set(paths) == {"compiled"}, paths
    assert example.exists()
