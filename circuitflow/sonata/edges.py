"""Snudda's pruned synapses (`network-synapses.hdf5`) -> SONATA edges on the synthesized nodes, by range.

**Jobs.** Each `sonata_edges` job converts the synapses (and gap junctions) whose target lies in one
range of node ids [lo, hi) into a range file (`join.write_range`); `join.join` concatenates the
range files in order and writes the indices. Snudda sorts both tables by target (synapses by
(target, source), gap junctions by neuron 2), so a range is one contiguous block of rows, found by
bisection; every value is a function of its row (locations) or of its connection (physiology,
`physiology.py`), so the joined file is the same for any number of ranges.

**Node ids.** The SONATA neuron source of detect (`detect/sources.py::sonata_nodes`) names neuron
*i* `<type>_<i>` in nodes-file row order, so Snudda neuron id *i* is SONATA node id *i* of the same
population (checked: same count, and every located neuron's Snudda type is its node's mtype with
`_` -> `-`).

**Locations** (`locate.py`): Snudda's (dendrite section, `int(1000·sec_x)`) -> MorphIO's numbering
(`afferent_section_id` = MorphIO section id + 1, 0 = soma), position along the section, segment and
offset, the point on the centre line and the surface point toward the touch voxel, placed with the
node's position and orientation (µm).

Attributes per chemical edge (population `edge_population`), SONATA names and units:

| attribute | from | unit |
|---|---|---|
| source/target node id | Snudda columns 0 / 1 | |
| `afferent_section_id`, `_section_pos`, `_section_type` | 9, 10 | MorphIO id + 1; 0..1; 1 soma, 3 basal, 4 apical |
| `afferent_segment_id`, `afferent_segment_offset` | 9, 10 + morphology | µm |
| `afferent_center_x/y/z`, `afferent_surface_x/y/z` | 9, 10 + morphology + node (+ voxel 2-4) | µm |
| `spine_length` | 0: Snudda's synapses sit on the dendrite shaft | µm |
| `conductance`, `u_syn`, `depression_time`, `facilitation_time`, `decay_time`, `n_rrp_vesicles` | drawn per connection from the physiology config | nS, 1, ms, ms, ms, 1 |
| `delay` | release delay + column 7 / conduction velocity | ms |
| `syn_type_id` | the physiology's kind: 100 excitatory, 0 inhibitory | |
| `snudda_channel_model_id`, `snudda_parameter_id` | 6, 12 | |
| `snudda_conductance` | 11 (pS): the per-synapse draw of detection | nS |
| `efferent_distance_to_soma`, `afferent_distance_to_soma` | 7, 8 | µm (floored) |

Gap junctions go to a second population `<edge_population minus __chemical>__electrical` (in its own
file: bluepysnap validates an edges file against one edge type; empty without junctions), two
edges per junction (SONATA's halves): Snudda row *k* (neuron 1 < neuron 2) gives edge 2k (neuron 1
-> neuron 2) and edge 2k+1 (neuron 2 -> neuron 1). Each edge is located on both cells
(`afferent_*` on its target, `efferent_*` on its source); `afferent_junction_id` is the edge's own id
and `efferent_junction_id` its partner's (2k <-> 2k+1), so each half names the other.
`conductance` (nS) is drawn per connection (the pair) and shared by both halves; Snudda's
per-junction draw is `snudda_conductance`.
"""

from __future__ import annotations

import json
import logging
import os

import h5py
import numpy as np

from circuitflow.errors import CircuitflowError
from circuitflow.sonata.join import RangeWriter
from circuitflow.sonata.locate import Locator, unique
from circuitflow.sonata.node_table import NodeTable
from circuitflow.sonata.physiology import (
    GAP_JUNCTION_CHANNEL_KEY,
    Classes,
    build_classes,
    chemical_properties,
    gap_junction_conductance,
    read_physiology,
)
from circuitflow.sonata.populations import default_population, electrical_population

LOG = logging.getLogger(__name__)

F32, U32 = np.float32, np.uint32
SIDE = {"section_id": U32, "section_pos": F32, "section_type": U32, "segment_id": U32, "segment_offset": F32}
XYZ = "xyz"
CHEMICAL_ATTRIBUTES = {
    **{f"afferent_{k}": t for k, t in SIDE.items()},
    **{f"afferent_center_{c}": F32 for c in XYZ},
    **{f"afferent_surface_{c}": F32 for c in XYZ},
    "spine_length": F32,
    "conductance": F32,
    "u_syn": F32,
    "depression_time": F32,
    "facilitation_time": F32,
    "decay_time": F32,
    "n_rrp_vesicles": U32,
    "delay": F32,
    "syn_type_id": U32,
    "snudda_channel_model_id": np.int32,
    "snudda_parameter_id": np.int32,
    "snudda_conductance": F32,
    "efferent_distance_to_soma": F32,
    "afferent_distance_to_soma": F32,
}
ELECTRICAL_ATTRIBUTES = {
    **{f"afferent_{k}": t for k, t in SIDE.items()},
    **{f"afferent_center_{c}": F32 for c in XYZ},
    **{f"afferent_surface_{c}": F32 for c in XYZ},
    **{f"efferent_{k}": t for k, t in SIDE.items()},
    **{f"efferent_center_{c}": F32 for c in XYZ},
    **{f"efferent_surface_{c}": F32 for c in XYZ},
    "spine_length": F32,
    "conductance": F32,
    "snudda_conductance": F32,
    "afferent_junction_id": np.uint64,
    "efferent_junction_id": np.uint64,
}


class EdgesError(CircuitflowError, ValueError):
    """The network and the nodes do not belong together, or the network is not sorted by target."""


def edge_populations(edges_file: str | os.PathLike) -> list[tuple[str, str]]:
    """(population, type) of every population of an edges file written here."""
    with h5py.File(edges_file, "r") as f:
        pops = list(f["edges"])
    return [(p, "electrical" if p.endswith("__electrical") else "chemical") for p in pops]


def target_rows(table: h5py.Dataset, column: int, lo: int, hi: int, what: str) -> tuple[int, int]:
    """Rows [r0, r1) of a table sorted by `column` whose value lies in [lo, hi).

    Bisection over the dataset's chunks (each chunk's column read once: a probe of one element
    decompresses its whole chunk anyway), then within the chunk."""
    n = table.shape[0]
    step = table.chunks[0] if table.chunks else 1 << 16
    n_blocks = -(-n // step)
    blocks: dict = {}

    def block(k: int) -> np.ndarray:
        if k not in blocks:
            values = table[k * step : min((k + 1) * step, n), column].astype(np.int64)
            if np.any(np.diff(values) < 0):
                raise EdgesError(f"{what} is not sorted by column {column} (target); not a pruned Snudda network")
            blocks[k] = values
        return blocks[k]

    def first_at_least(value: int) -> int:
        a, b = 0, n_blocks
        while a < b:  # first chunk whose last value is >= value
            mid = (a + b) // 2
            if block(mid)[-1] < value:
                a = mid + 1
            else:
                b = mid
        return n if a == n_blocks else a * step + int(np.searchsorted(block(a), value, side="left"))

    return first_at_least(lo), first_at_least(hi)


def _sorted_rows(rows: np.ndarray, previous: int, what: str) -> int:
    """Check a chunk of rows continues the target order; the chunk's last target."""
    targets = rows[:, 1]
    if len(targets) and (targets[0] < previous or np.any(np.diff(targets) < 0)):
        raise EdgesError(f"{what} is not sorted by column 1 (target); not a pruned Snudda network")
    return int(targets[-1]) if len(targets) else previous


def _voxel_centres(rows: np.ndarray, voxel_size: float, origo: np.ndarray) -> np.ndarray:
    """World position (µm) of the centre of each row's touch voxel (three voxel-index columns)."""
    return (rows.astype(np.float64) + 0.5) * voxel_size * 1e6 + origo


def _check_types(f: h5py.File, nodes: NodeTable, ids: np.ndarray, network: str) -> None:
    """Snudda neuron i must be node i: same count, and each located neuron's type is its node's (a
    source of another type would have no physiology for its channel: `Classes.classify` fails)."""
    names = f["network/neurons/name"]
    if names.shape[0] != nodes.size:
        raise EdgesError(f"{network}: {names.shape[0]} neurons but the nodes file has {nodes.size} nodes")
    if not len(ids):
        return
    lo, hi = int(ids[0]), int(ids[-1]) + 1
    got = names[lo:hi][ids - lo] if hi - lo <= 4 * len(ids) + 1024 else names[ids]
    snudda = np.array([(n.decode() if isinstance(n, bytes) else str(n)).split("_")[0] for n in got])
    expected = np.array(nodes.type_names)[nodes.type_id[ids]]
    bad = np.flatnonzero(snudda != expected)
    if len(bad):
        i = int(ids[bad[0]])
        raise EdgesError(
            f"{network}: neuron {i} is of type {snudda[bad[0]]!r} but node {i} is {expected[bad[0]]!r} "
            f"({len(bad)} mismatches here); the network was not detected on these nodes"
        )


def _locator(nodes: NodeTable, ids: np.ndarray, cache: dict, keep: np.ndarray | None = None) -> Locator:
    """A Locator over node ids (positions, rotations and paths read for `ids` only), sharing `cache`
    (and storing there the maps of the nodes in `keep`); `ids` sorted and unique."""
    xyz, rot, paths = nodes.placement(ids)
    return Locator(ids, xyz, rot, paths, cache=cache, keep=keep)


def _ids_within(table: h5py.Dataset, r0: int, r1: int, columns: slice, lo: int, hi: int, chunk_rows: int) -> np.ndarray:
    """Sorted unique values in [lo, hi) of `columns` of rows [r0, r1), read `chunk_rows` at a time."""
    found = [np.zeros(0, dtype=np.int64)]
    for a in range(r0, r1, chunk_rows):
        ids = table[a : min(a + chunk_rows, r1), columns].astype(np.int64).ravel()
        found.append(np.unique(ids[(ids >= lo) & (ids < hi)]))
    return np.unique(np.concatenate(found))


def _side(prefix: str, loc: dict) -> dict:
    out = {f"{prefix}_{k}": loc[k] for k in SIDE}
    for i, c in enumerate(XYZ):
        out[f"{prefix}_center_{c}"] = loc["center"][:, i]
        out[f"{prefix}_surface_{c}"] = loc["surface"][:, i]
    return out


def convert_range(
    network: str | os.PathLike,
    nodes: NodeTable,
    physiology: dict,
    lo: int,
    hi: int,
    out: str | os.PathLike,
    population: str | None = None,
    chunk_rows: int = 100_000,
) -> dict:
    """Write the range file of target nodes [lo, hi) (chemical and electrical edges); edge counts.

    Rows are converted `chunk_rows` at a time (bounded memory whatever the range size)."""
    population = population or default_population(nodes.population)
    elec = electrical_population(population)
    hi = min(hi, nodes.size)
    lo = min(lo, hi)
    with h5py.File(network, "r") as f:
        syn = f["network/synapses"]
        gj = f.get("network/gap_junctions")
        gj = gj if gj is not None and gj.shape[0] else None
        voxel_size = float(f["meta/voxel_size"][()])
        origo = f["meta/simulation_origo"][()] * 1e6
        distributions = json.loads(f["meta/connectivity_distributions"][()])
        r0, r1 = target_rows(syn, 1, lo, hi, f"{network}: network/synapses")
        g0, g1 = target_rows(gj, 1, lo, hi, f"{network}: network/gap_junctions") if gj is not None else (0, 0)
        sizes = {population: r1 - r0, elec: 2 * (g1 - g0)}  # the electrical population, empty or not
        attributes = {population: CHEMICAL_ATTRIBUTES, elec: ELECTRICAL_ATTRIBUTES}
        chemical = build_classes(physiology, distributions, nodes.type_names)
        electrical = build_classes(physiology, distributions, nodes.type_names, gap_junction=True) if gj else None
        writer = RangeWriter(out, sizes, attributes, nodes.population, nodes.size)
        # CellMaps by node id: the gap-junction pass revisits the targets that have junctions
        cache: dict = {}
        keep = _ids_within(gj, g0, g1, slice(0, 2), lo, hi, chunk_rows) if gj is not None else None
        try:
            last = lo
            for a in range(r0, r1, chunk_rows):
                rows = syn[a : min(a + chunk_rows, r1)].astype(np.int64)
                last = _sorted_rows(rows, last, f"{network}: network/synapses")
                targets = unique(rows[:, 1])
                _check_types(f, nodes, targets, str(network))
                locator = _locator(nodes, targets, cache, keep)
                writer.append(population, *_chemical(rows, nodes, chemical, locator, voxel_size, origo))
            last = lo
            for a in range(g0, g1, chunk_rows):
                rows = gj[a : min(a + chunk_rows, g1)].astype(np.int64)
                last = _sorted_rows(rows, last, f"{network}: network/gap_junctions")
                cells = unique(rows[:, :2])
                _check_types(f, nodes, cells, str(network))
                locator = _locator(nodes, cells, cache)
                writer.append(elec, *_electrical(rows, a, nodes, electrical, locator, voxel_size, origo))
            writer.close()
        except BaseException:
            writer.abort()
            raise
    LOG.info("targets [%d, %d): %s", lo, hi, sizes)
    return sizes


def _chemical(
    rows: np.ndarray, nodes: NodeTable, classes: Classes, locator: Locator, voxel_size: float, origo: np.ndarray
) -> tuple:
    """(source, target, attributes) of chemical synapse rows."""
    src, dst, chan = rows[:, 0], rows[:, 1], rows[:, 6]
    voxel = _voxel_centres(rows[:, 2:5], voxel_size, origo)
    loc = locator.locate(dst, rows[:, 9], rows[:, 10], voxel)
    if len(rows):
        d = np.linalg.norm(loc["center"] - voxel, axis=1)
        LOG.info(
            "synapse centre vs touch voxel centre: median %.2f µm, max %.2f µm (voxel %.1f µm)",
            np.median(d),
            d.max(),
            voxel_size * 1e6,
        )
    cls = classes.classify(nodes.type_id[src], nodes.type_id[dst], chan, "network/synapses")
    phys = chemical_properties(classes, src, dst, chan, cls, rows[:, 7].astype(np.float64))
    attrs = _side("afferent", loc)
    attrs.update(phys)
    attrs.update(
        {
            "spine_length": np.zeros(len(rows)),
            "snudda_channel_model_id": chan,
            "snudda_parameter_id": rows[:, 12],
            "snudda_conductance": rows[:, 11] * 1e-3,
            "efferent_distance_to_soma": rows[:, 7],
            "afferent_distance_to_soma": rows[:, 8],
        }
    )
    return src, dst, {k: np.asarray(attrs[k]).astype(t) for k, t in CHEMICAL_ATTRIBUTES.items()}


def _electrical(
    rows: np.ndarray,
    first_row: int,
    nodes: NodeTable,
    classes: Classes,
    locator: Locator,
    voxel_size: float,
    origo: np.ndarray,
) -> tuple:
    """(source, target, attributes) of the two halves of gap-junction rows (Snudda rows from `first_row`)."""
    n1, n2 = rows[:, 0], rows[:, 1]
    voxel = _voxel_centres(rows[:, 6:9], voxel_size, origo)
    both = locator.locate(
        np.concatenate([n2, n1]),
        np.concatenate([rows[:, 3], rows[:, 2]]),
        np.concatenate([rows[:, 5], rows[:, 4]]),
        np.concatenate([voxel, voxel]),
    )
    on2 = {k: v[: len(rows)] for k, v in both.items()}
    on1 = {k: v[len(rows) :] for k, v in both.items()}
    channel = np.full(len(rows), GAP_JUNCTION_CHANNEL_KEY)
    cls = classes.classify(nodes.type_id[n1], nodes.type_id[n2], channel, "network/gap_junctions")
    cond = gap_junction_conductance(classes, n1, n2, cls)

    def interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.empty((2 * len(a),) + a.shape[1:], dtype=np.result_type(a, b))
        out[0::2], out[1::2] = a, b
        return out

    forward, backward = _side("afferent", on2), _side("afferent", on1)
    forward.update({k.replace("afferent", "efferent", 1): v for k, v in _side("afferent", on1).items()})
    backward.update({k.replace("afferent", "efferent", 1): v for k, v in _side("afferent", on2).items()})
    edge_id = 2 * (first_row + np.arange(len(rows), dtype=np.int64))
    attrs = {k: interleave(np.asarray(forward[k]), np.asarray(backward[k])) for k in forward}
    attrs.update(
        {
            "spine_length": np.zeros(2 * len(rows)),
            "conductance": interleave(cond, cond),
            "snudda_conductance": interleave(rows[:, 10] * 1e-3, rows[:, 10] * 1e-3),
            "afferent_junction_id": interleave(edge_id, edge_id + 1),
            "efferent_junction_id": interleave(edge_id + 1, edge_id),
        }
    )
    return (
        interleave(n1, n2),
        interleave(n2, n1),
        {k: np.asarray(attrs[k]).astype(t) for k, t in ELECTRICAL_ATTRIBUTES.items()},
    )


def convert_files(
    network_synapses: str | os.PathLike,
    nodes_file: str | os.PathLike,
    morphology_dir: str | os.PathLike,
    physiology_file: str | os.PathLike,
    out: str | os.PathLike,
    lo: int,
    hi: int,
    morphology_ext: str = "h5",
    node_population: str | None = None,
    edge_population: str | None = None,
) -> dict:
    """`convert_range` from file names (the sonata_edges rule)."""
    physiology = read_physiology(physiology_file)
    with NodeTable(nodes_file, morphology_dir, morphology_ext, node_population) as nodes:
        return convert_range(network_synapses, nodes, physiology, lo, hi, out, edge_population)
