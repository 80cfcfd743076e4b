"""The Snakemake pipeline against region-grower 1.6.0's own outputs on the reference column."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import morphio
import numpy as np
import pytest
import yaml
from conftest import DATA, job_counts, run_snakemake
from voxcell import CellCollection

COLUMN = DATA / "synthesis-column"
CASES = ["axon_grafting", "no_axon", "min_depth_800", "directions", "boundaries", "boundary_scenario"]
#: every case runs with both growth engines (NeuroTS' loop first), and their files must be byte-identical
ENGINES = ["neurots", "compiled"]
RUNS: dict = {}
#: SynthesizeMorphologies options that map one-to-one onto circuitflow's `synthesis:` keys.
SAME_NAME = [
    "input_cells",
    "atlas",
    "tmd_parameters",
    "tmd_distributions",
    "region_structure",
    "morph_axon",
    "base_morph_dir",
    "seed",
    "out_morph_ext",
    "max_files_per_dir",
    "max_drop_ratio",
    "scaling_jitter_std",
    "rotational_jitter_std",
    "min_depth",
    "max_depth",
    "min_hard_scale",
    "synthesize_axons",
]
PATHS = {
    "input_cells",
    "atlas",
    "tmd_parameters",
    "tmd_distributions",
    "region_structure",
    "morph_axon",
    "base_morph_dir",
}


def case_config(case: str) -> tuple[dict, dict]:
    """circuitflow config for one reference case, and the case's upstream options."""
    options = json.loads((COLUMN / "expected" / case / "case.json").read_text())["options"]
    section = {}
    for key in SAME_NAME:
        value = options[key]
        if value is not None and key in PATHS:
            value = str(COLUMN / value)
        section[key] = value
    section["out_cells_format"] = "mvd3" if options["out_cells"].endswith("mvd3") else "sonata"
    section["out_apical_nrn_sections"] = options["out_apical_nrn_sections"] is not None
    section["chunk_size"] = 4
    return {"out_dir": "out", "synthesis": section}, options


@pytest.fixture(scope="module", params=[(c, e) for c in CASES for e in ENGINES], ids="-".join)
def reference_run(request, tmp_path_factory):
    """Run the synthesis target once per case and engine."""
    case, engine = request.param
    config, options = case_config(case)
    config["synthesis"]["engine"] = engine
    workdir = tmp_path_factory.mktemp(f"{case}-{engine}")
    if case == "directions":  # a copy that test_rule_edit_reruns_only_touched_chunks edits
        copy = workdir / "region_structure.yaml"
        shutil.copyfile(config["synthesis"]["region_structure"], copy)
        config["synthesis"]["region_structure"] = str(copy)
    run_snakemake(workdir, config, "--cores", "2", "synthesis")
    RUNS[case, engine] = workdir / "out" / "synthesis"
    return case, workdir / "out" / "synthesis", COLUMN / "expected" / case, options, config


def h5_content(path: Path) -> list:
    """Every group, dataset (dtype, shape, raw bytes) and attribute of an HDF5 file: its bytes but the
    object header times HDF5 stamps in (which differ between two writes of the same morphology)."""
    items = []

    def raw(value) -> bytes:
        array = np.asarray(value)
        return repr(value).encode() if array.dtype.kind in "OUS" else array.tobytes()

    def visit(name, obj):
        attrs = sorted((k, str(np.asarray(v).dtype), raw(v)) for k, v in obj.attrs.items())
        data = (str(obj.dtype), obj.shape, raw(obj[()])) if isinstance(obj, h5py.Dataset) else None
        items.append((name, attrs, data))

    with h5py.File(path, "r") as f:
        visit("/", f)
        f.visititems(visit)
    return items


def synthesis_files(out: Path) -> dict:
    """Every morphology and apical file of a synthesis output folder: bytes (HDF5: content, see h5_content)."""
    paths = [p for p in (out / "morphologies").rglob("*") if p.is_file()]
    paths += [p for p in out.glob("apical*.yaml")]
    return {str(p.relative_to(out)): h5_content(p) if p.suffix == ".h5" else p.read_bytes() for p in paths}


def test_engines_byte_identical(reference_run, tmp_path):
    """The compiled engine writes the same bytes as NeuroTS' own loop (morphologies, apical files, cells)."""
    case, out, _, options, config = reference_run
    if config["synthesis"]["engine"] == "neurots":
        pytest.skip("compared from the compiled run")
    theirs = RUNS.get((case, "neurots"))
    if theirs is None:  # the neurots run was deselected: run it here
        other = dict(config, synthesis=dict(config["synthesis"], engine="neurots"))
        run_snakemake(tmp_path, other, "--cores", "2", "synthesis")
        theirs = tmp_path / "out" / "synthesis"
    ours_files, their_files = synthesis_files(out), synthesis_files(theirs)
    assert sorted(ours_files) == sorted(their_files)
    assert len([name for name in ours_files if name.startswith("morphologies")]) > 0
    for name, data in their_files.items():
        assert ours_files[name] == data, name
    name = "nodes.mvd3" if options["out_cells"].endswith("mvd3") else "nodes.h5"
    a, b = CellCollection.load(str(out / name)).as_dataframe(), CellCollection.load(str(theirs / name)).as_dataframe()
    assert a.equals(b)


def test_cells_file(reference_run):
    """Same cells, names, properties and identity orientations as region-grower's output."""
    case, out, expected, options, _ = reference_run
    name = "cells.mvd3" if options["out_cells"].endswith("mvd3") else "nodes.h5"
    ours = CellCollection.load(str(out / ("nodes.mvd3" if name.endswith("mvd3") else "nodes.h5")))
    theirs = CellCollection.load(str(expected / name))
    a, b = ours.as_dataframe(), theirs.as_dataframe()
    assert list(a.index) == list(b.index)
    assert sorted(a.columns) == sorted(b.columns)
    for column in b.columns:
        if column == "orientation":
            continue
        assert a[column].tolist() == b[column].tolist(), column
    np.testing.assert_array_equal(ours.orientations, np.broadcast_to(np.identity(3), ours.orientations.shape))
    assert set(a["morphology_producer"]) == {"synthesis"}
    assert ours.population_name == theirs.population_name


def test_apical_yaml_files(reference_run):
    """apical.yaml and apical_NRN_sections.yaml: same cells, points within 1e-3 um, same section ids."""
    case, out, expected, options, _ = reference_run
    ours = yaml.safe_load((out / "apical.yaml").read_text())
    theirs = yaml.safe_load((expected / "apical.yaml").read_text())
    assert ours.keys() == theirs.keys()
    for name, point in theirs.items():
        np.testing.assert_allclose(ours[name], point, atol=1e-3)
    assert yaml.safe_load((out / "apical_NRN_sections.yaml").read_text()) == yaml.safe_load(
        (expected / "apical_NRN_sections.yaml").read_text()
    )


def test_morphologies(reference_run):
    """Every morphology file: same soma, sections, types, parents; points and diameters within 1e-3 um."""
    case, out, expected, options, _ = reference_run
    expected_files = sorted(p.relative_to(expected / "morphologies") for p in (expected / "morphologies").rglob("*.*"))
    our_files = sorted(
        p.relative_to(out / "morphologies") for p in (out / "morphologies").rglob("*.*") if not p.name.startswith(".")
    )
    assert our_files == expected_files
    for rel in expected_files:
        ours = morphio.Morphology(str(out / "morphologies" / rel))
        theirs = morphio.Morphology(str(expected / "morphologies" / rel))
        np.testing.assert_allclose(ours.soma.points, theirs.soma.points, atol=1e-3)
        assert [s.type for s in ours.iter()] == [s.type for s in theirs.iter()], rel
        assert [s.parent.id if not s.is_root else -1 for s in ours.iter()] == [
            s.parent.id if not s.is_root else -1 for s in theirs.iter()
        ], rel
        assert ours.points.shape == theirs.points.shape, rel
        np.testing.assert_allclose(ours.points, theirs.points, atol=1e-3, err_msg=str(rel))
        np.testing.assert_allclose(ours.diameters, theirs.diameters, atol=1e-3, err_msg=str(rel))


def test_dendrites_byte_identical(reference_run):
    """Without grafted donors (no randomized PCA upstream, RG-32) asc/swc files are byte-identical."""
    case, out, expected, options, _ = reference_run
    if options["morph_axon"] is not None:
        pytest.skip("grafted donor axons differ from upstream by float32 rounding only (RG-32)")
    for path in (expected / "morphologies").rglob("*.*"):
        if path.suffix in (".asc", ".swc"):
            ours = out / "morphologies" / path.relative_to(expected / "morphologies")
            assert ours.read_bytes() == path.read_bytes(), path.name


def test_rule_edit_reruns_only_touched_chunks(reference_run):
    """Editing a directions rule re-plans only the chunks holding cells it applies to (not the atlas cache)."""
    case, out, expected, options, config = reference_run
    if case != "directions":
        pytest.skip("one case is enough")
    workdir = out.parent.parent
    path = Path(config["synthesis"]["region_structure"])
    original = path.read_text()
    structure = yaml.safe_load(original)
    try:
        structure["O0"]["directions"][2]["params"]["power"] = 3  # mtypes [L5_TPC:A]: no cell here
        path.write_text(yaml.safe_dump(structure, sort_keys=False))
        untouched = job_counts(run_snakemake(workdir, config, "-n", "--cores", "1", "synthesis").stdout)
        structure["O0"]["directions"][1]["params"]["power"] = (
            3  # mclass [PYR]: O0 cells 0, 1, 3, all in chunk 0 (cell 5 is in the default region)
        )
        path.write_text(yaml.safe_dump(structure, sort_keys=False))
        touched = job_counts(run_snakemake(workdir, config, "-n", "--cores", "1", "synthesis").stdout)
    finally:
        path.write_text(original)
    assert "synthesis_chunk" not in untouched and "synthesis_cache_atlas" not in untouched, untouched
    assert touched["synthesis_chunk"] == 1 and "synthesis_cache_atlas" not in touched, touched
