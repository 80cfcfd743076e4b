"""SONATA edges and circuit config: writer/reader round trip with libsonata, Snudda -> SONATA conversion."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

libsonata = pytest.importorskip("libsonata")

from conftest import DATA  # noqa: E402

from circuitflow.detect.tree import BASAL, build_tree  # noqa: E402
from circuitflow.io.circuit_config import write_circuit_config  # noqa: E402
from circuitflow.io.morphology_points import read_morphio  # noqa: E402
from circuitflow.sonata.edges import EdgesError, convert_files, convert_range  # noqa: E402
from circuitflow.sonata.join import join  # noqa: E402
from circuitflow.sonata.locate import LocationError, _cell_map_from_points, _read, cell_map, locate  # noqa: E402
from circuitflow.sonata.node_table import NodeTable  # noqa: E402

NETWORK = DATA / "prune-fixture/hv40/expected/default/network-synapses.hdf5"
BALL = DATA / "detect-fixture/hv120/inputs/validation/ballanddoublestick"
SYNTHESIZED = DATA / "detect-sonata"


def quaternions(matrices: np.ndarray) -> np.ndarray:
    """(w, x, y, z) of rotation matrices (N, 3, 3)."""
    from scipy.spatial.transform import Rotation

    xyzw = Rotation.from_matrix(matrices).as_quat()
    return np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1)


def fixture_nodes(path: Path, mtype: str = "ballanddoublestick", n: int | None = None) -> None:
    """A nodes file for Snudda's 28-neuron prune fixture: its positions and rotations, one morphology."""
    with h5py.File(NETWORK, "r") as f:
        pos = f["network/neurons/position"][()] * 1e6
        rot = f["network/neurons/rotation"][()].reshape(-1, 3, 3)
    n = len(pos) if n is None else n
    q = quaternions(rot)[:n]
    with h5py.File(path, "w") as f:
        f["nodes/cells/node_type_id"] = np.full(n, -1)
        g = f.create_group("nodes/cells/0")
        for i, c in enumerate("xyz"):
            g[c] = pos[:n, i]
        for i, c in enumerate("wxyz"):
            g[f"orientation_{c}"] = q[:, i]
        g.create_dataset("mtype", data=[mtype] * n, dtype=h5py.string_dtype())
        g.create_dataset("morphology", data=["double"] * n, dtype=h5py.string_dtype())


EXC = {
    "kind": "excitatory",
    "conductance": {"mean": 1.1, "std": 0.5},
    "u_syn": {"mean": 0.5, "std": 0.02},
    "depression_time": {"mean": 671.0, "std": 17.0},
    "facilitation_time": {"mean": 17.0, "std": 5.0},
    "decay_time": {"mean": 1.74, "std": 0.18},
    "n_rrp_vesicles": {"mean": 2.0},
    "release_delay": 0.1,
    "conduction_velocity": 300.0,
}
INH = dict(EXC, kind="inhibitory", u_syn={"mean": 0.25, "std": 0.13})
PHYSIOLOGY = {
    "seed": 7,
    "connectivity": {
        "ballanddoublestick$$ballanddoublestick": {
            "GABA": INH,
            "AMPA": EXC,
            "gap_junction": {"conductance": {"mean": 0.2, "std": 0.05}},
        }
    },
}


def convert_in_ranges(tmp: Path, nodes_per_range: int, name: str) -> tuple[Path, dict]:
    """Convert the fixture network in ranges of `nodes_per_range` target nodes and join them."""
    (tmp / "physiology.json").write_text(json.dumps(PHYSIOLOGY))
    files = []
    for k in range(-(-28 // nodes_per_range)):
        files.append(tmp / f"{name}-range-{k}.h5")
        convert_files(
            NETWORK,
            tmp / "nodes.h5",
            BALL,
            tmp / "physiology.json",
            files[-1],
            k * nodes_per_range,
            (k + 1) * nodes_per_range,
            "swc",
        )
    counts = join(
        files, {"cells__cells__chemical": tmp / f"{name}.h5", "cells__cells__electrical": tmp / f"{name}-gj.h5"}
    )
    return tmp / f"{name}.h5", counts


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edges")
    fixture_nodes(tmp / "nodes.h5")
    path, counts = convert_in_ranges(tmp, 1000, "edges")
    return tmp, counts


def test_same_edges_file_for_any_range_size(converted):
    tmp, _ = converted
    reference = (tmp / "edges.h5").read_bytes(), (tmp / "edges-gj.h5").read_bytes()
    for size in (1, 5, 13):
        path, _ = convert_in_ranges(tmp, size, f"edges-{size}")
        assert (path.read_bytes(), (tmp / f"edges-{size}-gj.h5").read_bytes()) == reference, size


def test_fixture_network_becomes_sonata_edges(converted):
    tmp, counts = converted
    assert counts == {"cells__cells__chemical": 360, "cells__cells__electrical": 128}  # two halves per junction
    with h5py.File(NETWORK, "r") as f:
        rows = f["network/synapses"][()].astype(np.int64)
        gj = f["network/gap_junctions"][()].astype(np.int64)
        voxel, origo = f["meta/voxel_size"][()] * 1e6, f["meta/simulation_origo"][()] * 1e6
    storage = libsonata.EdgeStorage(str(tmp / "edges.h5"))
    pop = storage.open_population("cells__cells__chemical")
    every = libsonata.Selection([[0, pop.size]])
    assert pop.source_nodes(every).tolist() == rows[:, 0].tolist()
    assert pop.target_nodes(every).tolist() == rows[:, 1].tolist()
    get = lambda key: pop.get_attribute(key, every)  # noqa: E731
    assert np.array_equal(get("snudda_channel_model_id"), rows[:, 6])
    assert np.array_equal(get("syn_type_id"), np.where(rows[:, 6] == 10, 0, 100))  # GABA inhibitory, AMPA excitatory
    assert np.allclose(get("snudda_conductance"), rows[:, 11] * 1e-3, rtol=1e-6)  # pS -> nS
    assert np.array_equal(get("snudda_parameter_id"), rows[:, 12])
    assert np.allclose(get("delay"), 0.1 + rows[:, 7] / 300.0, rtol=1e-6)
    assert np.all(get("spine_length") == 0)
    for key in ("conductance", "u_syn", "depression_time", "facilitation_time", "decay_time", "n_rrp_vesicles"):
        values = get(key)
        assert np.all(values > 0), key
        # one value per connection (pre, post, type), and connections differ
        conn = {}
        for k, v in zip(zip(rows[:, 0], rows[:, 1], rows[:, 6]), values):
            conn.setdefault(k, set()).add(float(v))
        assert all(len(v) == 1 for v in conn.values()) and len({min(v) for v in conn.values()}) > 1, key
    assert np.all((get("u_syn") >= 0) & (get("u_syn") <= 1))
    soma = rows[:, 9] == -1
    assert np.all(get("afferent_section_id")[soma] == 0) and np.all(get("afferent_section_id")[~soma] >= 1)
    assert np.all(get("afferent_section_type")[~soma] == 3)
    pos = get("afferent_section_pos")
    assert np.all((pos >= 0) & (pos <= 1))
    # the point on the dendrite's centre line lies in (or next to) the voxel detect found the touch in
    centre = np.stack([get(f"afferent_center_{c}") for c in "xyz"], axis=1)
    corner = rows[:, 2:5] * voxel + origo
    dist = np.linalg.norm(centre - (corner + voxel / 2), axis=1)
    assert np.all(dist[~soma] < 2 * voxel)
    # the surface point: off the centre line by at most the dendrite's radius, toward the touch voxel
    surface = np.stack([get(f"afferent_surface_{c}") for c in "xyz"], axis=1)
    off = np.linalg.norm(surface - centre, axis=1)
    assert np.all(off[~soma] <= 1.5) and np.median(off[~soma]) > 0.1
    toward = np.sum((surface - centre) * (corner + voxel / 2 - centre), axis=1)
    assert np.all(toward[~soma] >= -1e-3)
    # double.swc: one root dendrite branching into two; SONATA ids are MorphIO ids + 1
    import morphio

    dendrites = {
        s.id + 1
        for s in morphio.Morphology(str(BALL / "double.swc")).iter()
        if s.type == morphio.SectionType.basal_dendrite
    }
    assert set(get("afferent_section_id")[~soma]) == dendrites
    for node in range(28):  # the indices give the same edges as a scan
        assert np.array_equal(pop.afferent_edges([node]).flatten(), np.flatnonzero(rows[:, 1] == node))
        assert sorted(pop.efferent_edges([node]).flatten()) == np.flatnonzero(rows[:, 0] == node).tolist()
    assert (
        sorted(pop.connecting_edges([10], [0]).flatten())
        == np.flatnonzero((rows[:, 0] == 10) & (rows[:, 1] == 0)).tolist()
    )
    assert storage.population_names == {"cells__cells__chemical"}
    elec = libsonata.EdgeStorage(str(tmp / "edges-gj.h5")).open_population("cells__cells__electrical")
    sel = libsonata.Selection([[0, elec.size]])
    src, dst = elec.source_nodes(sel), elec.target_nodes(sel)
    assert np.array_equal(src[0::2], gj[:, 0]) and np.array_equal(dst[0::2], gj[:, 1])  # edge 2k: neuron 1 -> 2
    assert np.array_equal(src[1::2], gj[:, 1]) and np.array_equal(dst[1::2], gj[:, 0])  # edge 2k+1: 2 -> 1
    aff, eff = elec.get_attribute("afferent_junction_id", sel), elec.get_attribute("efferent_junction_id", sel)
    assert np.array_equal(aff, np.arange(elec.size)) and np.array_equal(eff, np.arange(elec.size) ^ 1)
    g = elec.get_attribute("conductance", sel)
    assert np.array_equal(g[0::2], g[1::2]) and np.all(g > 0)
    # each half's afferent side is the other half's efferent side
    for side in ("section_id", "section_pos", "center_x"):
        a, e = elec.get_attribute(f"afferent_{side}", sel), elec.get_attribute(f"efferent_{side}", sel)
        assert np.array_equal(a[0::2], e[1::2]) and np.array_equal(a[1::2], e[0::2]), side
    assert {"efferent_section_id", "afferent_section_id", "afferent_surface_x", "spine_length"} <= set(
        elec.attribute_names
    )
    for name in pop.attribute_names:  # libsonata reads every attribute
        assert len(pop.get_attribute(name, every)) == pop.size
    for name in elec.attribute_names:
        assert len(elec.get_attribute(name, sel)) == elec.size


def test_circuit_config_opens_in_libsonata(converted):
    tmp, _ = converted
    out = tmp / "circuit" / "circuit_config.json"
    out.parent.mkdir()
    write_circuit_config(
        out,
        tmp / "nodes.h5",
        "cells",
        BALL,
        ["swc", "h5"],
        [
            (tmp / "edges.h5", "cells__cells__chemical", "chemical"),
            (tmp / "edges-gj.h5", "cells__cells__electrical", "electrical"),
        ],
    )
    raw = json.loads(out.read_text())
    assert raw["networks"]["nodes"][0]["nodes_file"] == "$BASE_DIR/../nodes.h5"  # relative: relocatable
    cfg = libsonata.CircuitConfig.from_file(str(out))
    assert cfg.node_populations == {"cells"}
    assert cfg.edge_populations == {"cells__cells__chemical", "cells__cells__electrical"}
    props = cfg.node_population_properties("cells")
    assert Path(props.morphologies_dir).resolve() == BALL.resolve()
    assert Path(props.alternate_morphology_formats["h5v1"]).resolve() == BALL.resolve()
    assert cfg.edge_population_properties("cells__cells__electrical").type == "electrical"
    assert cfg.node_population("cells").size == 28
    assert cfg.edge_population("cells__cells__chemical").size == 360


def test_nodes_must_be_the_detected_ones(tmp_path):
    fixture_nodes(tmp_path / "few.h5", n=27)
    with NodeTable(tmp_path / "few.h5", BALL, "swc") as nodes:
        with pytest.raises(EdgesError, match="28 neurons but the nodes file has 27"):
            convert_range(NETWORK, nodes, PHYSIOLOGY, 0, 28, tmp_path / "e.h5")
    fixture_nodes(tmp_path / "other.h5", mtype="L5_TPC:A")
    with NodeTable(tmp_path / "other.h5", BALL, "swc") as nodes:
        with pytest.raises(EdgesError, match="not detected on these nodes"):
            convert_range(NETWORK, nodes, PHYSIOLOGY, 0, 28, tmp_path / "e.h5")
    assert not list(tmp_path.glob("e.h5*"))


@pytest.mark.parametrize("name", ["14a03569d26b949692e5dfe8cb1855fe", "216363698b529b4a97b750923ceb3ffd"])
def test_snudda_locations_map_onto_morphio_sections(name):
    """Every dendrite point, located by its Snudda (section, sec_x), comes back to itself."""
    path = SYNTHESIZED / f"{name}.h5"
    pts = read_morphio(path)
    seg = build_tree(pts).segments[BASAL]
    loc = locate(cell_map(str(path)), seg.sec_id, np.round(seg.sx_b * 1000).astype(int), path=str(path))
    err = np.linalg.norm(loc["center"] - pts.xyz[seg.b], axis=1)
    assert np.percentile(err, 99) < 0.5 and err.max() < 2.0  # sec_x carries 3 digits
    import morphio

    morph = morphio.Morphology(str(path))
    types = {morphio.SectionType.basal_dendrite: 3, morphio.SectionType.apical_dendrite: 4}
    sid = loc["section_id"]
    assert np.all(sid >= 1)
    assert [types[morph.section(int(s) - 1).type] for s in sid[:50]] == loc["section_type"][:50].tolist()
    n_points = np.array([len(morph.section(int(s) - 1).points) for s in sid])
    assert np.all(loc["segment_id"] < n_points - 1)
    with pytest.raises(LocationError, match="does not exist"):
        locate(cell_map(str(path)), np.array([10_000]), np.array([500]), path=str(path))
    # the point-table path (for morphologies MorphIO's arrays cannot give directly) maps the same
    slow = locate(_cell_map_from_points(str(path), _read(str(path))), seg.sec_id, np.round(seg.sx_b * 1000).astype(int))
    for key, values in slow.items():
        assert np.array_equal(values, loc[key]), key


class _Tree:
    """What the walks read of a MorphIO morphology: section types and connectivity (MorphIO's layout)."""

    def __init__(self, parent: list, types: list, kids_order):
        self.section_types = np.array(types)
        children: dict = {}
        for s, p in enumerate(parent):
            children.setdefault(p, []).append(s)
        self.connectivity = {p: kids_order(children[p]) for p in sorted(children)}


def _random_tree(rng, relabel: str) -> _Tree:
    """A random forest (axon, basal and apical roots, unifurcations), its ids a depth-first pre-order
    ('preorder'), shuffled ('shuffled'), breadth first ('bfs': every depth at most one more than the
    previous id's) or a pre-order whose children are listed out of id order ('kids')."""
    n = int(rng.integers(1, 40))
    parent = [-1] + [int(rng.integers(-1, s)) if rng.random() < 0.9 else -1 for s in range(1, n)]
    root_type = {s: int(rng.choice([2, 3, 4])) for s in range(n) if parent[s] < 0}
    types = []
    for s in range(n):
        r = s
        while parent[r] >= 0:
            r = parent[r]
        types.append(root_type[r])
    children: dict = {}
    for s, p in enumerate(parent):
        children.setdefault(p, []).append(s)
    order, stack = [], children[-1][::-1]
    while stack:
        s = stack.pop()
        order.append(s)
        stack.extend(children.get(s, [])[::-1])
    label = {s: i for i, s in enumerate(order)}
    if relabel == "shuffled":
        label = dict(zip(order, rng.permutation(n).tolist()))
    if relabel == "bfs":
        level = children[-1]
        bfs = []
        while level:
            bfs += level
            level = [k for s in level for k in children.get(s, [])]
        label = {s: i for i, s in enumerate(bfs)}
    new_parent, new_types = [0] * n, [0] * n
    for s in range(n):
        new_parent[label[s]] = label[parent[s]] if parent[s] >= 0 else -1
        new_types[label[s]] = types[s]
    return _Tree(new_parent, new_types, (lambda k: k[::-1]) if relabel == "kids" else sorted)


def test_block_walk_is_the_per_cell_walk_or_falls_back():
    """The array walk of a block gives each pre-order cell's `_walk` exactly, and names as not in
    pre-order every cell whose `_walk` it would not give (shuffled ids, children out of id order)."""
    from circuitflow.sonata.locate import _block_walk, _walk

    rng = np.random.default_rng(11)
    flagged = {"preorder": 0, "shuffled": 0, "bfs": 0, "kids": 0}
    for _ in range(20):
        kinds = rng.choice(list(flagged), size=int(rng.integers(1, 12)))
        trees = [_random_tree(rng, k) for k in kinds]
        cell, section, parent, new, slow = _block_walk(trees)
        for k, tree in enumerate(trees):
            mine = cell == k
            if k in slow:
                flagged[kinds[k]] += 1
                assert not mine.any()
                continue
            order, up, starts = _walk(tree)
            assert section[mine].tolist() == order and parent[mine].tolist() == up, kinds[k]
            assert new[mine].tolist() == starts
    assert flagged["preorder"] == 0 and min(flagged["shuffled"], flagged["bfs"], flagged["kids"]) > 10, flagged
    # each parent the last id one level up, but a root between a section and its parent
    jumps = _Tree([-1, 0, -1, 1], [3, 3, 3, 3], sorted)
    assert _walk(jumps)[0] == [0, 1, 3, 2] and _block_walk([jumps])[4].tolist() == [0]


def test_bluepysnap_validator_accepts_the_edges(converted):
    """bluepysnap's circuit validator finds nothing to report on either edge population (schema,
    datatypes, node ids, indices)."""
    validation = pytest.importorskip("bluepysnap.circuit_validation")
    tmp, _ = converted
    nodes = [{"nodes_file": str(tmp / "nodes.h5"), "populations": {"cells": {"type": "biophysical"}}}]
    for name, kind in (("edges.h5", "chemical"), ("edges-gj.h5", "electrical")):
        edges = {"edges_file": str(tmp / name), "populations": {f"cells__cells__{kind}": {"type": kind}}}
        errors = validation.validate_edges_dict(
            edges, nodes, skip_slow=False, ignore_datatype_errors=False, ignore_edge_properties=()
        )
        assert errors == [], [str(e) for e in errors]


def test_target_rows_bisect_chunks_and_reject_unsorted_tables(tmp_path):
    from circuitflow.sonata.edges import target_rows

    rng = np.random.default_rng(3)
    targets = np.sort(rng.integers(0, 50, 1000))
    with h5py.File(tmp_path / "t.h5", "w") as f:
        table = f.create_dataset("t", data=np.stack([targets, targets], axis=1), chunks=(64, 2))
        for lo, hi in ((0, 50), (10, 20), (49, 60), (0, 0), (60, 70), (13, 14)):
            assert target_rows(table, 1, lo, hi, "t") == tuple(np.searchsorted(targets, [lo, hi]))
        shuffled = f.create_dataset("s", data=np.stack([targets, rng.permutation(targets)], axis=1), chunks=(64, 2))
        with pytest.raises(EdgesError, match="not sorted by column 1"):
            target_rows(shuffled, 1, 10, 20, "s")


def test_physiology_report_over_connections(converted, tmp_path):
    """The report's statistics count each connection once, per pathway and property; a sample of
    blocks gives a subset of the connections; the figure has one panel per property."""
    from circuitflow.report import save
    from circuitflow.report.physiology import PROPERTIES, drawn_statistics, plot_physiology, read_distributions

    tmp, _ = converted
    with NodeTable(tmp / "nodes.h5", BALL, "swc") as nodes:
        table = drawn_statistics(
            tmp / "edges.h5", "cells__cells__chemical", nodes, PHYSIOLOGY, read_distributions(NETWORK)
        )
        sample = drawn_statistics(
            tmp / "edges.h5",
            "cells__cells__chemical",
            nodes,
            PHYSIOLOGY,
            read_distributions(NETWORK),
            chunk=50,
            max_edges=100,
        )
    with h5py.File(NETWORK, "r") as f:
        rows = f["network/synapses"][()].astype(np.int64)
    n_conn = {ch: len({(a, b) for a, b, c in rows[:, [0, 1, 6]] if c == ch}) for ch in (10, 11)}
    gaba = table[(table["synapse_type"] == "GABA") & (table["property"] == "u_syn")].iloc[0]
    assert gaba["connections"] == n_conn[10] and gaba["synapses"] == int(np.sum(rows[:, 6] == 10))
    assert gaba["configured_mean"] == 0.25 and gaba["configured_std"] == 0.13
    assert set(table["property"]) == set(PROPERTIES) and len(table) == 2 * len(PROPERTIES)
    assert 0 < sample["synapses"].sum() <= 2 * len(PROPERTIES) * 100 < table["synapses"].sum()
    fig = plot_physiology(table)
    assert len(fig.axes) == len(PROPERTIES)
    save(fig, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
