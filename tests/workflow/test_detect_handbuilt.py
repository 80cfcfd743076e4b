"""Hand-built morphologies with known crossings; bad input; rank/batch invariance; the SONATA source."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import ROOT, run_snakemake
from test_detect_fixture import compare_network

from circuitflow.config import check_config
from circuitflow.detect import steps
from circuitflow.detect.connectivity import ConnectivityError
from circuitflow.io.morphology_points import MorphologyError

# Neuron 0 ("Post"): soma, dendrite section 0 along +x (10 -> 40 -> 100 µm), section 1 along -x
# (-10 -> -100 µm), an axon along +y. Neuron 1 ("Pre"), 70 µm further in x and 60 µm higher in z:
# an axon going down (-z), then -x, then up (+z): it crosses dendrite 0 at local x = 70 and
# dendrite 1 at local x = -55. All lines run through voxel centres (3 µm voxels, origin 0).
POST_SWC = """1 1 0 0 0 3 -1
2 3 10 0 0 1 1
3 3 40 0 0 1 2
4 3 100 0 0 1 3
5 3 -10 0 0 1 1
6 3 -100 0 0 1 5
7 2 0 10 0 1 1
8 2 0 100 0 1 7
"""
PRE_SWC = """1 1 0 0 0 3 -1
2 2 0 0 -10 1 1
3 2 0 0 -61 1 2
4 2 0 0 -120 1 3
5 2 -125 0 -120 1 4
6 2 -125 0 -1 1 5
"""
P0 = np.array([101.5, 1.5, 61.5])
P1 = P0 + [70, 0, 60]
CONFIG = {
    "random_seed": {"detect": 4242},
    "regions": {"R": {"connectivity": {"Pre,Post": {"GABA": {"conductance": [1e-9, 2e-10], "pruning": {"f1": 1}}}}}},
}


def make_network(
    folder: Path, config: dict = CONFIG, names=("Post_0", "Pre_0"), swcs=(POST_SWC, PRE_SWC), positions=(P0, P1)
) -> Path:
    """A Snudda network folder: positions file, network config and SWC files."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, text in enumerate(swcs):
        (folder / f"m{i}.swc").write_text(text)
        paths.append(f"m{i}.swc")
    (folder / "network-config.json").write_text(json.dumps(config))
    n = len(names)
    with h5py.File(folder / "network-neuron-positions.hdf5", "w") as f:
        f.create_dataset("meta/snudda_data", data="", dtype=h5py.string_dtype())
        g = f.create_group("network/neurons")
        g["neuron_id"] = np.arange(n)
        g["name"] = np.array([s.encode() for s in names])
        g["position"] = np.array(positions, dtype=np.float64) * 1e-6
        g["rotation"] = np.tile(np.eye(3).ravel(), (n, 1))
        g.create_dataset("morphology", data=paths, dtype=h5py.string_dtype())
        g["population_unit_id"] = np.zeros(n, dtype=np.int64)
    return folder


def run_steps(
    detect_cfg: dict, out: Path, chunks: int = 1, batches: int = 1, ranks: int = 1, trees: bool = False
) -> Path:
    """Run every detect step in-process (as the rules do); ranks run one after another; with `trees`,
    rasterise reads the morphologies that bbox parsed (as the rules do), else parses them again."""
    net, work = out / "network", out / "detect"
    steps.setup(check_config({"detect": dict(detect_cfg)}, ROOT / "config")["detect"], net, work)
    bbox = [work / f"bbox/{c}.npz" for c in range(chunks)]
    tree_files = [work / f"bbox/{c}.trees.npy" if trees else None for c in range(chunks)]
    raster = [work / f"raster/{c}.h5" for c in range(chunks)]
    for c in range(chunks):
        bbox[c].parent.mkdir(parents=True, exist_ok=True)
        steps.bbox(work, c, chunks, bbox[c], tree_files[c])
    steps.grid(work, bbox, work / "grid.json")
    for c in range(chunks):
        steps.rasterise(work, work / "grid.json", c, chunks, raster[c], tree_files[c])
    index = work / "raster/index.h5"
    steps.raster_index(raster, index)
    dirs = []
    for b in range(batches):
        d = work / f"hypervoxels/{b}"
        summary = {}
        for r in range(ranks):
            summary.update(steps.hypervoxels(work, work / "grid.json", index, b, batches, d, r, ranks))
        steps.ensure_dir(d)
        steps.write_json(d / "summary.json", {str(k): v for k, v in summary.items()})
        dirs.append(d)
    steps.worklog(work, work / "grid.json", steps.read_raster_index(index), bbox, dirs, net)
    return net


def first_visit(pos, a, b, da, db, sxa, sxb, target):
    """Snudda's sampling rule on one segment a->b (local µm) of a neuron at `pos` (µm), with its float32
    placement (voxel 3 µm, origin 0): dist and sec_x of the first sample in voxel `target`."""
    va, vb = (np.float32(np.float32(np.array(p) * 1e-6) + pos * 1e-6).astype(np.float64) / 3e-6 for p in (a, b))
    da, db = (float(np.float32(np.float32(d * 1e-6) * np.float32(1e6))) for d in (da, db))
    n = math.ceil(1.1 * float(np.linalg.norm(vb - va)))
    for k in range(n + 1):
        v = np.floor(va + (vb - va) / n * k).astype(int)
        if tuple(v) == tuple(target):
            return math.floor(da + (db - da) / n * k), sxa + (sxb - sxa) / n * k
    raise AssertionError("segment does not reach the target voxel")


def test_crossings_give_exactly_the_known_synapses(tmp_path):
    net = run_steps({"network_path": str(make_network(tmp_path / "in"))}, tmp_path / "out")
    files = sorted((net / "voxels").glob("*.hdf5"))
    assert [p.name for p in files] == ["network-putative-synapses-0.hdf5"]
    with h5py.File(files[0], "r") as f:
        syn = f["network/synapses"][()]
        assert f["network/gap_junction_lookup"].shape is None  # no gap junctions configured: null dataset
        assert f["network/max_channel_type_id"][()] == 11
        lookup = f["network/synapse_lookup"][()]
    # crossing 2 (dendrite section 1 at local x = -55, world x 46.5, voxel 15) comes first in voxel C order
    d1, sx1 = first_visit(P0, [-10, 0, 0], [-100, 0, 0], 10, 100, 0.0, 1.0, (15, 0, 20))
    a1, _ = first_visit(P1, [-125, 0, -120], [-125, 0, -1], 245, 364, 0, 0, (15, 0, 20))
    d0, sx0 = first_visit(P0, [40, 0, 0], [100, 0, 0], 40, 100, 0.333, 1.0, (57, 0, 20))
    a0, _ = first_visit(P1, [0, 0, -10], [0, 0, -61], 10, 61, 0, 0, (57, 0, 20))
    assert syn.shape == (2, 13)
    expected = [
        [1, 0, 15, 0, 20, 0, 10, a1, d1, 1, int(sx1 * 1000)],
        [1, 0, 57, 0, 20, 0, 10, a0, d0, 0, int(sx0 * 1000)],
    ]
    assert syn[:, :11].tolist() == expected
    assert abs(d1 - 55) <= 2 and abs(d0 - 70) <= 2 and abs(a0 - 61) <= 2 and abs(a1 - (245 + 59)) <= 2
    assert 80 <= syn[0, 11] <= 10000 and 0 <= syn[0, 12] < 1000000  # pS within [0.1, 10] x mean
    assert lookup.tolist() == [[(0 * 2 + 1) * 11 + 10, 0, 2]]


def test_same_rows_for_any_chunks_batches_and_ranks(tmp_path):
    net_in = make_network(tmp_path / "in")
    ref = run_steps({"network_path": str(net_in), "hyper_voxel_size": 7}, tmp_path / "a")
    other = run_steps(
        {"network_path": str(net_in), "hyper_voxel_size": 7}, tmp_path / "b", chunks=2, batches=3, ranks=2, trees=True
    )
    assert len(list((ref / "voxels").glob("*.hdf5"))) > 3
    compare_network(other, ref)


def test_trees_files_are_closed(tmp_path, monkeypatch):
    """rasterise closes the bbox step's trees file, and a trees file of another chunk is closed as it is rejected."""
    handles = []

    def tracked_open(*args, **kwargs):
        handles.append(open(*args, **kwargs))
        return handles[-1]

    monkeypatch.setattr(steps, "open", tracked_open, raising=False)
    run_steps({"network_path": str(make_network(tmp_path / "in"))}, tmp_path / "out", chunks=2, trees=True)
    readers = [h for h in handles if h.mode == "rb"]
    assert len(readers) == 2 and all(h.closed for h in handles)
    handles.clear()
    work = tmp_path / "out/detect"
    with pytest.raises(steps.DetectError, match="holds 1 morphologies, the chunk has 2"):
        steps.SetupNeurons(work, 0, 1, work / "bbox/0.trees.npy")
    assert len(handles) == 1 and handles[0].closed


def test_zero_length_segment_is_an_error_naming_the_file(tmp_path):
    bad = PRE_SWC.replace("3 2 0 0 -61 1 2", "3 2 0 0 -10 1 2")
    net_in = make_network(tmp_path / "in", swcs=(POST_SWC, bad))
    with pytest.raises(MorphologyError, match=r"neuron 1: .*m1\.swc: zero-length segment ending at point 3"):
        run_steps({"network_path": str(net_in)}, tmp_path / "out")


def test_missing_morphology_is_an_error_naming_it(tmp_path):
    net_in = make_network(tmp_path / "in")
    (net_in / "m1.swc").unlink()
    with pytest.raises(steps.DetectError, match=r"neuron 1 \(Pre_0\): morphology file .*m1\.swc does not exist"):
        run_steps({"network_path": str(net_in)}, tmp_path / "out")


def test_unknown_type_in_rule_is_an_error_naming_it(tmp_path):
    cfg = json.loads(json.dumps(CONFIG))
    cfg["regions"]["R"]["connectivity"]["Pre,Ghost"] = {"GABA": {"conductance": 1e-9}}
    net_in = make_network(tmp_path / "in", config=cfg)
    with pytest.raises(ConnectivityError, match=r"Pre,Ghost names neuron type 'Ghost'"):
        run_steps({"network_path": str(net_in), "strict_types": True}, tmp_path / "out")
    # Snudda networks default to Snudda's behaviour: rules for types without neurons are skipped
    net = run_steps({"network_path": str(net_in)}, tmp_path / "lenient")
    with h5py.File(net / "voxels/network-putative-synapses-0.hdf5", "r") as f:
        assert len(f["network/synapses"]) == 2


def test_neuron_outside_the_grid_is_an_error_naming_it(tmp_path):
    net_in = make_network(tmp_path / "in")
    with pytest.raises(steps.DetectError, match=r"neuron 0 lies outside the hypervoxel grid"):
        run_steps({"network_path": str(net_in), "simulation_origo": [30e-6, 0.0, 0.0]}, tmp_path / "out")


def test_bad_input_fails_the_rule_with_one_line(tmp_path):
    net_in = make_network(tmp_path / "in")
    (net_in / "m0.swc").unlink()
    cfg = {"out_dir": str(tmp_path / "out"), "detect": {"network_path": str(net_in)}}
    proc = run_snakemake(tmp_path, cfg, "--cores", "1", "detect", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "out/logs/detect/setup.log").read_text().strip().splitlines()
    assert log[-1].startswith("error: neuron 0 (Post_0): morphology file") and log[-1].endswith("does not exist")
    assert not (tmp_path / "out/network/network-config.json").exists()


def test_unknown_config_key_is_rejected(tmp_path):
    cfg = {"out_dir": str(tmp_path / "out"), "detect": {"network_path": "x", "voxelsize": 3e-6}}
    proc = run_snakemake(tmp_path, cfg, "--cores", "1", "-n", "detect", check=False)
    assert proc.returncode != 0 and "voxelsize" in proc.stderr + proc.stdout


def write_sonata(path: Path, morph_names: list, mtypes: list, xyz: np.ndarray) -> None:
    """A one-population SONATA nodes file with identity orientations."""
    n = len(mtypes)
    with h5py.File(path, "w") as f:
        g = f.create_group("nodes/cells/0")
        f["nodes/cells/node_type_id"] = np.full(n, -1)
        for i, c in enumerate("xyz"):
            g[c] = xyz[:, i]
        g["orientation_w"] = np.ones(n)
        for c in "xyz":
            g[f"orientation_{c}"] = np.zeros(n)
        g["@library/mtype"] = np.array(sorted(set(mtypes)), dtype=h5py.string_dtype())
        g["mtype"] = np.array([sorted(set(mtypes)).index(m) for m in mtypes])
        g.create_dataset("morphology", data=morph_names, dtype=h5py.string_dtype())


def test_sonata_source_reads_morphio_and_gives_the_same_synapses(tmp_path):
    ref = run_steps({"network_path": str(make_network(tmp_path / "in"))}, tmp_path / "ref")
    mdir = tmp_path / "morph"
    mdir.mkdir()
    (mdir / "post.swc").write_text(POST_SWC)
    (mdir / "pre.swc").write_text(PRE_SWC)
    write_sonata(tmp_path / "nodes.h5", ["post", "pre"], ["Post", "Pre"], np.array([P0, P1]))
    (tmp_path / "net.json").write_text(json.dumps(CONFIG))
    cfg = {
        "sonata": {
            "nodes_file": str(tmp_path / "nodes.h5"),
            "morphology_dir": str(mdir),
            "morphology_ext": "swc",
            "network_config": str(tmp_path / "net.json"),
        }
    }
    net = run_steps(cfg, tmp_path / "out")
    with (
        h5py.File(net / "voxels/network-putative-synapses-0.hdf5", "r") as g,
        h5py.File(ref / "voxels/network-putative-synapses-0.hdf5", "r") as e,
    ):
        assert g["network/synapses"][()].tolist() == e["network/synapses"][()].tolist()
    with h5py.File(net / "log/network-detect-worklog.hdf5", "r") as f:
        assert [n.decode() for n in f["network/neurons/name"][()]] == ["Post_0", "Pre_1"]
        assert f["network/neurons/max_soma_distance_dend"][()].tolist() == pytest.approx([100e-6, 0.0])


def test_tree_stub_apical_and_section_rules(tmp_path):
    """Snudda's section rules: a soma child that branches at once is a type-0 stub (not voxelised, its
    children are root sections without the stub prepended); apical points are dendrite; per-type ids."""
    from circuitflow.detect.tree import build_tree
    from circuitflow.io.morphology_points import read_swc

    (tmp_path / "m.swc").write_text("""1 1 0 0 0 5 -1
2 3 10 0 0 1 1
3 3 20 0 0 1 2
4 3 30 0 0 1 3
5 3 10 10 0 1 2
6 3 10 20 0 1 5
7 4 0 10 0 1 1
8 4 0 20 0 1 7
9 2 0 -10 0 1 1
10 2 0 -20 0 1 9
11 2 0 -30 0 1 10
""")
    tree = build_tree(read_swc(tmp_path / "m.swc"))
    assert tree.kind.tolist() == [1, 0, 3, 3, 3, 3, 3, 3, 2, 2, 2]
    assert tree.sec_id[2:].tolist() == [0, 0, 1, 1, 2, 2, 0, 0, 0]
    assert (tree.soma_dist * 1e6).round(4).tolist() == [0, 10, 20, 30, 20, 30, 10, 20, 10, 20, 30]
    dend, axon = tree.segments[3], tree.segments[2]
    assert list(zip(dend.a.tolist(), dend.b.tolist())) == [(2, 3), (4, 5), (6, 7)]
    assert dend.sec_id.tolist() == [0, 1, 2]
    assert dend.sx_a.tolist() == [0, 0, 0] and dend.sx_b.tolist() == [1.0, 1.0, 1.0]
    assert list(zip(axon.a.tolist(), axon.b.tolist())) == [(8, 9), (9, 10)]
    assert axon.sx_a.tolist() == [0.0, 0.5] and axon.sx_b.tolist() == [0.5, 1.0]

    # the bbox step's trees file gives rasterise the same arrays, dtypes included
    from circuitflow.detect.tree import read_tree, write_tree

    with open(tmp_path / "t.npy", "wb") as fh:
        write_tree(fh, tree)
        write_tree(fh, tree)
    with open(tmp_path / "t.npy", "rb") as fh:
        read_tree(fh, "x")
        back = read_tree(fh, "x")
    for name in ("xyz", "radius", "soma_dist", "kind", "sec_id"):
        a, b = getattr(tree, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    for k in (2, 3):
        for name in ("a", "b", "sec_id", "sx_a", "sx_b"):
            a, b = getattr(tree.segments[k], name), getattr(back.segments[k], name)
            assert a.dtype == b.dtype and np.array_equal(a, b), (k, name)
