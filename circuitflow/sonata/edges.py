"""Snudda's pruned synapses (`network-synapses.hdf5`) -> SONATA edges on the synthesized nodes.

**Node ids.** The SONATA neuron source of detect (`detect/sources.py::sonata_nodes`) names neuron
*i* `<type>_<i>` in nodes-file row order, so Snudda neuron id *i* is SONATA node id *i* of the same
population (checked here: same count, and every Snudda type is its node's mtype with `_` -> `-`).

**Locations.** Snudda stores the target location as (dendrite section id numbered per type over
basal then apical sections in the point table of `io.morphology_points.read_morphio`, −1 = soma;
`int(1000·sec_x)`). SONATA wants MorphIO's numbering (`afferent_section_id` = MorphIO section id + 1,
0 = soma) and the fraction along that section. Each target morphology is read once with the same
reader and `detect.tree.build_tree`; every point row is tagged with its MorphIO section, which gives
the Snudda-section -> MorphIO-section(s) map (several only across a unifurcation). `sec_x` is a
fraction of the Snudda section's path length, so it is mapped through cumulative lengths to
(MorphIO section, position), then to (segment id, offset in µm) and to the point on the section's
centre line, placed with the node's position and orientation (`afferent_center_x/y/z`, µm).
The soma gets section 0, position 0.5, segment 0, the soma centre.

Attributes per chemical edge (population `edge_population`):

| attribute | from Snudda column | unit |
|---|---|---|
| source/target node id | 0 / 1 | |
| `afferent_section_id`, `afferent_section_pos`, `afferent_section_type` | 9, 10 | MorphIO id + 1; 0..1; 1 soma, 3 basal, 4 apical |
| `afferent_segment_id`, `afferent_segment_offset` | 9, 10 + morphology | µm |
| `afferent_center_x/y/z` | 9, 10 + morphology + node | µm |
| `conductance` | 11 (pS) | nS |
| `syn_type_id` | 6 (`channel_model_id`: 10, 11, … per connection type) | |
| `snudda_parameter_id` | 12 | |
| `efferent_distance_to_soma`, `afferent_distance_to_soma` | 7, 8 | µm (floored) |

Gap junctions (if any) go to a second population `<edge_population minus __chemical>__electrical`:
source = neuron 1, target = neuron 2 (id1 < id2), both sides located (`efferent_*` for neuron 1),
`conductance` in nS. Rows are streamed in chunks; morphology maps are cached per neuron.
"""

from __future__ import annotations

from circuitflow.errors import CircuitflowError
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from circuitflow.detect.sources import sonata_nodes
from circuitflow.detect.tree import BASAL, build_tree
from circuitflow.io.morphology_points import APICAL, AXON, read_morphio
from circuitflow.io.sonata_edges import EdgesWriter, write_indices

LOG = logging.getLogger(__name__)
SOMA_TYPE = 1

CHEMICAL_ATTRIBUTES = {
    "afferent_section_id": np.int32,
    "afferent_section_pos": np.float32,
    "afferent_section_type": np.int16,
    "afferent_segment_id": np.int32,
    "afferent_segment_offset": np.float32,
    "afferent_center_x": np.float32,
    "afferent_center_y": np.float32,
    "afferent_center_z": np.float32,
    "conductance": np.float32,
    "syn_type_id": np.int32,
    "snudda_parameter_id": np.int32,
    "efferent_distance_to_soma": np.float32,
    "afferent_distance_to_soma": np.float32,
}
SIDE_KEYS = ("section_id", "section_pos", "section_type", "segment_id", "segment_offset")
ELECTRICAL_ATTRIBUTES = {
    **{f"afferent_{k}": CHEMICAL_ATTRIBUTES[f"afferent_{k}"] for k in SIDE_KEYS},
    **{f"efferent_{k}": CHEMICAL_ATTRIBUTES[f"afferent_{k}"] for k in SIDE_KEYS},
    "afferent_center_x": np.float32, "afferent_center_y": np.float32, "afferent_center_z": np.float32,
    "conductance": np.float32,
}


class EdgesError(CircuitflowError, ValueError):
    """The network and the nodes do not belong together, or a location cannot be mapped."""


def electrical_population(chemical: str) -> str:
    """Gap-junction population name for a chemical one ('a__a__chemical' -> 'a__a__electrical')."""
    stem = chemical[: -len("__chemical")] if chemical.endswith("__chemical") else chemical
    return f"{stem}__electrical"


@dataclass(frozen=True)
class SectionMap:
    """One morphology's Snudda dendrite sections in MorphIO terms (local frame, µm).

    Parts: the MorphIO sections making up each Snudda section, contiguous per Snudda section;
    segments: every segment of those MorphIO sections, contiguous per part."""

    part_first: np.ndarray  # (n_snudda_sec,) first part of each Snudda dendrite section
    part_count: np.ndarray  # (n_snudda_sec,)
    part_start: np.ndarray  # (n_parts,) cumulative length at the part's start (global over parts)
    part_len: np.ndarray  # (n_parts,)
    part_section: np.ndarray  # (n_parts,) MorphIO section id
    part_type: np.ndarray  # (n_parts,) 3 basal, 4 apical
    seg_first: np.ndarray  # (n_parts,) first segment of each part
    seg_count: np.ndarray  # (n_parts,)
    seg_start: np.ndarray  # (n_segments,) cumulative length at the segment's start (global)
    seg_a: np.ndarray  # (n_segments, 3)
    seg_b: np.ndarray  # (n_segments, 3)


def section_rows(path: str) -> tuple[np.ndarray, dict]:
    """MorphIO section id of every point row of `read_morphio(path)` (-1 for the soma) and the sections.

    Follows read_morphio's traversal exactly (roots by type: axon, basal, apical; depth first; the
    duplicated first point of a child section dropped)."""
    import morphio

    morphio.set_maximum_warnings(0)
    morph = morphio.Morphology(str(path))
    order = {morphio.SectionType.axon: AXON, morphio.SectionType.basal_dendrite: BASAL,
             morphio.SectionType.apical_dendrite: APICAL}
    rows = [np.array([-1])]
    last_point = {}
    sections = {}
    for root in sorted(morph.root_sections, key=lambda s: order.get(s.type, 99)):
        for sec in root.iter():
            pts = np.asarray(sec.points, dtype=np.float64)
            sections[sec.id] = (order.get(sec.type, 0), pts)
            kept = len(pts)
            if not sec.is_root and kept and sec.parent.id in last_point \
                    and np.array_equal(pts[0], last_point[sec.parent.id]):
                kept -= 1
            if kept:
                last_point[sec.id] = pts[-1]
            elif not sec.is_root:
                last_point[sec.id] = last_point.get(sec.parent.id)
            rows.append(np.full(kept, sec.id))
    return np.concatenate(rows), sections


def section_map(path: str) -> SectionMap:
    """The SectionMap of one morphology file."""
    pts = read_morphio(path)
    tree = build_tree(pts)
    row_sec, sections = section_rows(path)
    if len(row_sec) != len(pts.kind):
        raise EdgesError(f"{path}: {len(row_sec)} rows from the MorphIO traversal, {len(pts.kind)} from read_morphio")
    dend = np.flatnonzero(tree.kind == BASAL)
    snudda = tree.sec_id[dend]
    morph = row_sec[dend]
    # (snudda section, morphio section) pairs in row order; rows of a Snudda section are consecutive
    change = np.concatenate([[True], (snudda[1:] != snudda[:-1]) | (morph[1:] != morph[:-1])])
    p_snudda, p_sec = snudda[change], morph[change]
    order = np.argsort(p_snudda, kind="stable")
    p_snudda, p_sec = p_snudda[order], p_sec[order]
    n_snudda = int(snudda.max()) + 1 if len(snudda) else 0
    part_count = np.bincount(p_snudda, minlength=n_snudda)
    part_first = np.concatenate([[0], np.cumsum(part_count)[:-1]]).astype(np.int64)
    seg_a, seg_b, seg_count, part_type = [], [], [], []
    for sid in p_sec:
        kind, points = sections[int(sid)]
        if len(points) < 2:
            points = np.vstack([points, points])
        seg_a.append(points[:-1])
        seg_b.append(points[1:])
        seg_count.append(len(points) - 1)
        part_type.append(kind)
    if seg_a:
        seg_a, seg_b = np.concatenate(seg_a), np.concatenate(seg_b)
    else:
        seg_a = seg_b = np.zeros((0, 3))
    seg_count = np.asarray(seg_count, dtype=np.int64)
    seg_len = np.linalg.norm(seg_b - seg_a, axis=1)
    seg_start = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
    seg_first = np.concatenate([[0], np.cumsum(seg_count)[:-1]]).astype(np.int64)
    part_len = np.add.reduceat(seg_len, seg_first) if len(seg_first) else np.zeros(0)
    part_start = seg_start[seg_first] if len(seg_first) else np.zeros(0)
    return SectionMap(part_first=part_first, part_count=part_count, part_start=part_start, part_len=part_len,
                      part_section=p_sec.astype(np.int64), part_type=np.asarray(part_type, dtype=np.int16),
                      seg_first=seg_first, seg_count=seg_count, seg_start=seg_start, seg_a=seg_a, seg_b=seg_b)


def locate(smap: SectionMap, sec_id: np.ndarray, sec_x: np.ndarray, path: str = "") -> dict:
    """SONATA location of Snudda (sec_id, int sec_x) pairs on one morphology (local frame, µm)."""
    sec_id = np.asarray(sec_id, dtype=np.int64)
    frac = np.clip(np.asarray(sec_x, dtype=np.float64) / 1000.0, 0.0, 1.0)
    n = len(sec_id)
    out = {"section_id": np.zeros(n, np.int64), "section_pos": np.full(n, 0.5), "section_type": np.full(n, SOMA_TYPE),
           "segment_id": np.zeros(n, np.int64), "segment_offset": np.zeros(n), "center": np.zeros((n, 3))}
    dend = sec_id >= 0
    if not np.any(dend):
        return out
    s = sec_id[dend]
    if s.max() >= len(smap.part_first) or np.any(smap.part_count[s] == 0):
        bad = int(s[(s >= len(smap.part_first)) | (smap.part_count[np.minimum(s, len(smap.part_count) - 1)] == 0)][0])
        raise EdgesError(f"{path}: dendrite section {bad} (Snudda numbering) does not exist; "
                         f"the morphology has {len(smap.part_first)}")
    first, count = smap.part_first[s], smap.part_count[s]
    last = first + count - 1
    begin = smap.part_start[first]
    total = smap.part_start[last] + smap.part_len[last] - begin
    target = begin + frac[dend] * total
    part = np.clip(np.searchsorted(smap.part_start, target, side="right") - 1, first, last)
    plen = smap.part_len[part]
    along = np.clip(target - smap.part_start[part], 0.0, plen)
    pos = np.divide(along, plen, out=np.zeros_like(along), where=plen > 0)
    sfirst = smap.seg_first[part]
    slast = sfirst + smap.seg_count[part] - 1
    starget = smap.seg_start[sfirst] + along
    seg = np.clip(np.searchsorted(smap.seg_start, starget, side="right") - 1, sfirst, slast)
    a, b = smap.seg_a[seg], smap.seg_b[seg]
    slen = np.linalg.norm(b - a, axis=1)
    offset = np.clip(starget - smap.seg_start[seg], 0.0, slen)
    t = np.divide(offset, slen, out=np.zeros_like(offset), where=slen > 0)
    out["section_id"][dend] = smap.part_section[part] + 1
    out["section_pos"][dend] = pos
    out["section_type"][dend] = smap.part_type[part]
    out["segment_id"][dend] = seg - sfirst
    out["segment_offset"][dend] = offset
    out["center"][dend] = a + (b - a) * t[:, None]
    return out


class Nodes:
    """The SONATA nodes detect read, with a bounded cache of per-neuron section maps."""

    def __init__(self, nodes_file: str | os.PathLike, morphology_dir: str | os.PathLike,
                 morphology_ext: str = "h5", population: str | None = None, cache_size: int = 512):
        self.population = node_population(nodes_file, population)
        neurons = sonata_nodes(nodes_file, morphology_dir, self.population, morphology_ext)
        self.names = neurons.names
        self.types = neurons.types
        self.positions = neurons.positions * 1e6  # back to µm
        self.rotations = neurons.rotations.reshape(-1, 3, 3)
        self.paths = neurons.morphologies
        self.cache: OrderedDict[int, SectionMap] = OrderedDict()
        self.cache_size = cache_size

    def __len__(self) -> int:
        return len(self.names)

    def section_map(self, node: int) -> SectionMap:
        smap = self.cache.get(node)
        if smap is None:
            smap = section_map(self.paths[node])
            self.cache[node] = smap
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(node)
        return smap

    def locate(self, node: np.ndarray, sec_id: np.ndarray, sec_x: np.ndarray) -> dict:
        """SONATA locations (world frame, µm) of Snudda (neuron, sec_id, sec_x) triples."""
        node = np.asarray(node, dtype=np.int64)
        n = len(node)
        out = {"section_id": np.zeros(n, np.int64), "section_pos": np.zeros(n), "section_type": np.zeros(n, np.int64),
               "segment_id": np.zeros(n, np.int64), "segment_offset": np.zeros(n), "center": np.zeros((n, 3))}
        if n == 0:
            return out
        order = np.argsort(node, kind="stable")
        sorted_nodes = node[order]
        bounds = np.flatnonzero(np.concatenate([[True], sorted_nodes[1:] != sorted_nodes[:-1], [True]]))
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            rows = order[lo:hi]
            nid = int(sorted_nodes[lo])
            loc = locate(self.section_map(nid), sec_id[rows], sec_x[rows], self.paths[nid])
            loc["center"] = loc["center"] @ self.rotations[nid].T + self.positions[nid]
            for key, values in loc.items():
                out[key][rows] = values
        return out


def check_network(neuron_names: list[str], nodes: Nodes, network_path: str) -> None:
    """Snudda neuron i must be node i: same count and matching types."""
    if len(neuron_names) != len(nodes):
        raise EdgesError(f"{network_path}: {len(neuron_names)} neurons but the nodes file has {len(nodes)} nodes")
    snudda_types = [n.split("_")[0] for n in neuron_names]
    bad = [i for i, (a, b) in enumerate(zip(snudda_types, nodes.types)) if a != b]
    if bad:
        i = bad[0]
        raise EdgesError(f"{network_path}: neuron {i} is {neuron_names[i]!r} but node {i} is {nodes.names[i]!r} "
                         f"({len(bad)} mismatches); the network was not detected on these nodes")


def default_population(node_population: str) -> str:
    """Default chemical edge population: '<nodes>__<nodes>__chemical'."""
    return f"{node_population}__{node_population}__chemical"


def convert(network_synapses: str | os.PathLike, nodes: Nodes, out: str | os.PathLike,
            population: str | None = None, chunk_rows: int = 500_000) -> dict:
    """Write SONATA edges for every synapse (and gap junction) of a Snudda network; return counts."""
    population = population or default_population(nodes.population)
    counts = {}
    with h5py.File(network_synapses, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["network/neurons/name"][()]]
        check_network(names, nodes, str(network_synapses))
        syn = f["network/synapses"]
        gj = f["network/gap_junctions"] if "network/gap_junctions" in f else None
        voxel_size = float(f["meta/voxel_size"][()])
        origo = f["meta/simulation_origo"][()] * 1e6
        n = len(nodes)
        writer = EdgesWriter(out, population, nodes.population, nodes.population, n, n, CHEMICAL_ATTRIBUTES,
                             n_edges=syn.shape[0])
        try:
            dist = []
            for start in range(0, syn.shape[0], chunk_rows):
                rows = syn[start:start + chunk_rows].astype(np.int64)
                loc = nodes.locate(rows[:, 1], rows[:, 9], rows[:, 10])
                voxel_pos = rows[:, 2:5] * voxel_size * 1e6 + origo
                dist.append(np.linalg.norm(loc["center"] - voxel_pos, axis=1))
                attrs = {f"afferent_{k}": loc[k] for k in SIDE_KEYS}
                attrs.update({
                    "afferent_center_x": loc["center"][:, 0], "afferent_center_y": loc["center"][:, 1],
                    "afferent_center_z": loc["center"][:, 2],
                    "conductance": rows[:, 11] * 1e-3,
                    "syn_type_id": rows[:, 6],
                    "snudda_parameter_id": rows[:, 12],
                    "efferent_distance_to_soma": rows[:, 7],
                    "afferent_distance_to_soma": rows[:, 8],
                })
                writer.append(rows[:, 0], rows[:, 1], attrs)
            counts[population] = writer.n_edges
            if dist:
                d = np.concatenate(dist)
                if len(d):
                    LOG.info("synapse centre vs detect voxel corner: median %.2f µm, max %.2f µm (voxel %.1f µm)",
                             np.median(d), d.max(), voxel_size * 1e6)
            if gj is not None and len(gj):
                counts[electrical_population(population)] = write_gap_junctions(writer.file, gj, nodes, population,
                                                                                chunk_rows)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    LOG.info("wrote %s: %s", out, counts)
    return counts


def write_gap_junctions(file: h5py.File, gj: h5py.Dataset, nodes: Nodes, chemical: str, chunk_rows: int) -> int:
    """Gap junctions as a second population in the open edges file (indices included)."""
    pop_name = electrical_population(chemical)
    rows = gj[()].astype(np.int64)
    # a SONATA population is read by target (afferent) ranges: order by (target, source), stably
    order = np.lexsort((rows[:, 0], rows[:, 1]))
    rows = rows[order]
    a = nodes.locate(rows[:, 1], rows[:, 3], rows[:, 5])
    e = nodes.locate(rows[:, 0], rows[:, 2], rows[:, 4])
    pop = file.create_group(f"edges/{pop_name}")
    for key, col in (("source_node_id", 0), ("target_node_id", 1)):
        ds = pop.create_dataset(key, data=rows[:, col].astype(np.uint64))
        ds.attrs["node_population"] = nodes.population
    pop.create_dataset("edge_type_id", data=np.full(len(rows), -1, dtype=np.int64))
    g = pop.create_group("0")
    for k in SIDE_KEYS:
        g.create_dataset(f"afferent_{k}", data=a[k].astype(ELECTRICAL_ATTRIBUTES[f"afferent_{k}"]))
        g.create_dataset(f"efferent_{k}", data=e[k].astype(ELECTRICAL_ATTRIBUTES[f"efferent_{k}"]))
    for i, c in enumerate("xyz"):
        g.create_dataset(f"afferent_center_{c}", data=a["center"][:, i].astype(np.float32))
    g.create_dataset("conductance", data=(rows[:, 10] * 1e-3).astype(np.float32))
    write_indices(pop, len(nodes), len(nodes))
    return len(rows)


def convert_files(network_synapses: str | os.PathLike, nodes_file: str | os.PathLike,
                  morphology_dir: str | os.PathLike, out: str | os.PathLike, morphology_ext: str = "h5",
                  node_population: str | None = None, edge_population: str | None = None) -> dict:
    """`convert` from file names (the sonata_edges rule)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    nodes = Nodes(nodes_file, morphology_dir, morphology_ext, node_population)
    return convert(network_synapses, nodes, out, edge_population)


def edge_populations(edges_file: str | os.PathLike) -> list[tuple[str, str]]:
    """(population, type) of every population of an edges file written here."""
    with h5py.File(edges_file, "r") as f:
        pops = list(f["edges"])
    return [(p, "electrical" if p.endswith("__electrical") else "chemical") for p in pops]



def node_population(nodes_file: str | os.PathLike, population: str | None = None) -> str:
    """`population` if given, else the only node population of the file."""
    if population:
        return population
    with h5py.File(nodes_file, "r") as f:
        pops = list(f["nodes"])
    if len(pops) != 1:
        raise EdgesError(f"{nodes_file}: several node populations {pops}; give the population")
    return pops[0]


def write_circuit_config_for(out: str | os.PathLike, nodes_file: str | os.PathLike, node_pop: str | None,
                             morphology_dir: str | os.PathLike, morphology_exts: list[str],
                             edges_file: str | os.PathLike) -> dict:
    """Rule sonata_circuit_config: write the circuit config of the nodes, morphologies and every edge population."""
    from circuitflow.io.circuit_config import write_circuit_config

    edges = [(edges_file, pop, kind) for pop, kind in edge_populations(edges_file)]
    return write_circuit_config(out, nodes_file, node_population(nodes_file, node_pop), morphology_dir,
                                morphology_exts, edges)
