"""The detect steps run by the Snakemake rules, with their file I/O (one function per rule).

setup -> bbox (per neuron chunk) -> grid -> rasterise (per neuron chunk) -> hypervoxels (per batch,
optionally split over MPI ranks) -> worklog. Outputs are the same whatever the number of chunks,
batches or ranks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import struct
from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np

from circuitflow.detect import connectivity, sources
from circuitflow.detect.grid import Grid, bounding_box, hypervoxel_seeds, make_grid
from circuitflow.detect.join import join_hypervoxel
from circuitflow.detect.partitions import (
    balanced_ranges,
    chunk_range,
    ensure_dir,
    read_range,
    write_raster,
)
from circuitflow.detect.rasterise import AXON_COLS, DEND_COLS, MEMBER_COLS, Table, place, rasterise_neuron
from circuitflow.detect.tree import Tree, build_tree, read_tree, write_tree
from circuitflow.detect.worklog import completion_order, hyper_voxels_json
from circuitflow.errors import CircuitflowError
from circuitflow.io import hypervoxels as hvio
from circuitflow.io.atomic import atomic_h5, atomic_path, tmp_name, write_json
from circuitflow.io.morphology_points import MorphologyError, read_morphio, read_swc
from circuitflow.progress import progress as progress_bar

log = logging.getLogger(__name__)


def progress(items, desc: str):
    """A progress bar over `items` in the rule's log, every 5 s at most."""
    return progress_bar(items, desc, always=True, mininterval=5)


SETUP = "setup.json"
NEURONS = "neurons.h5"
TREE_CACHE = 256


class DetectError(CircuitflowError, ValueError):
    """Detection cannot run on this input."""


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy a file to a temporary name next to `dst`, then rename."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def read_json(path: str | os.PathLike) -> dict:
    """A JSON file."""
    return json.loads(Path(path).read_text())


#: network/neurons datasets Snudda's placement writes that other sources have no value for, as
#: SnuddaPlace.write_data writes them when a neuron has none (Snudda 3.0): SnuddaLoad reads them all
SNUDDA_EMPTY_BYTES = {
    "hoc": "S10",
    "axon_density_type": "S1",
    "axon_density": "S1",
    "parameter_key": "S1",
    "morphology_key": "S1",
    "modulation_key": "S1",
    "reaction_diffusion_file": "S1",
}


def write_positions(path: Path, neurons: sources.Neurons, volume_id: str = "") -> None:
    """A Snudda positions file (network/neurons) for neurons that do not come from one.

    Every dataset SnuddaLoad reads is written, with Snudda's dtypes; those a SONATA circuit has no value
    for are empty (no hoc, no axon density, no keys; NaN radius and bounds); `volume_id` names the region."""
    n = len(neurons.names)
    with hvio.atomic_h5(path) as f:
        meta = f.create_group("meta")
        hvio.put_str(meta, "snudda_data", "")
        hvio.put_str(meta, "config_file", sources.NETWORK_CONFIG)
        g = f.create_group("network/neurons")
        g.create_dataset("neuron_id", data=np.arange(n, dtype=np.int64))
        g.create_dataset("name", data=np.array([s.encode() for s in neurons.names]))
        g.create_dataset("position", data=neurons.positions)
        g.create_dataset("rotation", data=neurons.rotations)
        g.create_dataset("morphology", data=neurons.morphologies, dtype=hvio.STR)
        g.create_dataset("population_unit_id", data=np.zeros(n, dtype=np.int64))
        g.create_dataset("virtual_neuron", data=np.zeros(n, dtype=bool))
        volume = volume_id.encode()
        g.create_dataset("volume_id", data=np.full(n, volume, dtype=f"S{max(1, len(volume))}"))
        for name, dtype in SNUDDA_EMPTY_BYTES.items():
            g.create_dataset(name, data=np.full(n, b"", dtype=dtype))
        g.create_dataset("neuron_path", data=[""] * n, dtype=hvio.STR)
        g.create_dataset("axon_density_radius", data=np.full(n, np.nan))
        g.create_dataset("axon_density_bounds_xyz", data=np.full((n, 6), np.nan))


def setup(detect_cfg: dict, net_dir: str | os.PathLike, work_dir: str | os.PathLike) -> None:
    """Read and check the neuron source and the connectivity; write the network folder's config/positions.

    `detect_cfg` is the detect section with the schema's defaults filled in (circuitflow.config.check_config)."""
    net_dir, work_dir = Path(net_dir), Path(work_dir)
    cfg = detect_cfg
    if "network_path" in cfg:
        base = Path(cfg["network_path"])
        neurons = sources.snudda_network(base, cfg.get("snudda_data"))
        config_file = base / sources.NETWORK_CONFIG
        positions_src = base / sources.POSITIONS
    elif "sonata" in cfg:
        s = cfg["sonata"]
        neurons = sources.sonata_nodes(
            s["nodes_file"], s["morphology_dir"], s.get("population"), s.get("morphology_ext", "h5")
        )
        config_file = Path(s["network_config"])
        positions_src = None
    else:
        raise DetectError("detect: set network_path (Snudda network) or sonata (nodes file)")
    network_config = sources.read_json(config_file)
    if positions_src is None:  # SONATA: rules name mtypes; Snudda types cannot contain '_'
        network_config = sources.rename_connectivity(network_config)
    neuron_types = neurons.types
    types = list(dict.fromkeys(neuron_types))
    strict = bool(cfg.get("strict_types", "sonata" in cfg))
    connectivity.build_rules(network_config, types, str(config_file), strict)  # check the rules now
    absent = {p for p in set(neurons.morphologies) if not os.path.isfile(p)}
    if absent:
        i = next(i for i, p in enumerate(neurons.morphologies) if p in absent)
        raise DetectError(
            f"neuron {i} ({neurons.names[i]}): morphology file {neurons.morphologies[i]} does not exist"
            + (f" (and {len(absent) - 1} more)" if len(absent) > 1 else "")
        )
    if not np.all(np.isfinite(neurons.positions)):
        raise DetectError(
            f"neuron {int(np.flatnonzero(~np.isfinite(neurons.positions).all(1))[0])}: position is not finite"
        )
    seed = int(cfg["seed"]) if "seed" in cfg else connectivity.detect_seed(network_config)
    index = {t: i for i, t in enumerate(types)}
    type_id = np.array([index[t] for t in neuron_types], dtype=np.int64)

    if positions_src is not None:
        copy_atomic(config_file, net_dir / sources.NETWORK_CONFIG)
    else:
        write_json(net_dir / sources.NETWORK_CONFIG, network_config)
    if positions_src is not None:
        copy_atomic(positions_src, net_dir / sources.POSITIONS)
        with h5py.File(positions_src, "r") as f:
            snudda_data = f["meta/snudda_data"][()] if "meta/snudda_data" in f else b""
        snudda_data = snudda_data.decode() if isinstance(snudda_data, bytes) else str(snudda_data)
    else:
        regions = list(network_config.get("regions") or {})
        write_positions(net_dir / sources.POSITIONS, neurons, regions[0] if len(regions) == 1 else "")
        snudda_data = ""
    with hvio.atomic_h5(work_dir / NEURONS) as f:
        f.create_dataset("position", data=neurons.positions)
        f.create_dataset("rotation", data=neurons.rotations)
        f.create_dataset("morphology", data=neurons.morphologies, dtype=hvio.STR)
        f.create_dataset("type_id", data=type_id)
    write_json(
        work_dir / SETUP,
        {
            "n_neurons": len(neurons.names),
            "types": types,
            "seed": seed,
            "reader": neurons.reader,
            "voxel_size": float(cfg["voxel_size"]),
            "hyper_voxel_size": int(cfg["hyper_voxel_size"]),
            "config_json": json.dumps(network_config),
            "snudda_data": snudda_data,
            "simulation_origo": cfg.get("simulation_origo"),
            "strict_types": strict,
        },
    )


class SetupNeurons:
    """The setup's neurons [lo, hi) of one chunk (only those rows are read) with a small tree cache; a context
    manager that closes the trees file on exit."""

    def __init__(
        self, work_dir: str | os.PathLike, chunk: int = 0, n_chunks: int = 1, trees: str | os.PathLike | None = None
    ):
        work_dir = Path(work_dir)
        self.setup = read_json(work_dir / SETUP)
        self.lo, self.hi = chunk_range(chunk, n_chunks, self.setup["n_neurons"])
        with h5py.File(work_dir / NEURONS, "r") as f:
            self._position = f["position"][self.lo : self.hi]
            self._rotation = f["rotation"][self.lo : self.hi]
            self._morphology = [m.decode() if isinstance(m, bytes) else m for m in f["morphology"][self.lo : self.hi]]
        self._cache: OrderedDict = OrderedDict()
        self._trees = TreeReader(trees, self._morphology) if trees is not None else None

    def __enter__(self) -> "SetupNeurons":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the trees file, if any."""
        if self._trees is not None:
            self._trees.close()

    def position(self, nid: int) -> np.ndarray:
        """Soma position (m) of neuron `nid`."""
        return self._position[nid - self.lo]

    def rotation(self, nid: int) -> np.ndarray:
        """Row-major rotation (9,) of neuron `nid`."""
        return self._rotation[nid - self.lo]

    def morphology(self, nid: int) -> str:
        """Morphology path of neuron `nid`."""
        return self._morphology[nid - self.lo]

    def tree(self, nid: int) -> Tree:
        """The Snudda tree of neuron `nid`'s morphology (from the bbox step's trees file if given); errors name
        the neuron."""
        path = self.morphology(nid)
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        if self._trees is not None:
            tree = self._trees.read(path)
        else:
            try:
                pts = read_swc(path) if self.setup["reader"] == "swc" else read_morphio(path)
                tree = build_tree(pts)
            except MorphologyError as exc:
                raise MorphologyError(f"neuron {nid}: {exc}") from None
        self._cache[path] = tree
        if len(self._cache) > TREE_CACHE:
            self._cache.popitem(last=False)
        return tree


def first_use(paths: list) -> dict:
    """{path: index} in order of first appearance."""
    return {p: i for i, p in enumerate(dict.fromkeys(paths))}


class TreeWriter:
    """The bbox step's parsed trees, one per distinct morphology of the chunk in first-use order, appended to
    one file (rasterise reads them instead of parsing every morphology again); footer: offsets, then the
    offsets' position (int64)."""

    def __init__(self, path: str | os.PathLike):
        self.path, self.tmp = Path(path), tmp_name(path)
        self.fh = open(self.tmp, "wb")
        self.offsets: dict = {}

    def add(self, path: str, tree: Tree) -> None:
        """Write `tree` unless its morphology was written already."""
        if path not in self.offsets:
            self.offsets[path] = self.fh.tell()
            write_tree(self.fh, tree)

    def abort(self) -> None:
        """Close and remove the unfinished file."""
        self.fh.close()
        self.tmp.unlink(missing_ok=True)

    def close(self) -> None:
        """Write the footer and rename the file into place."""
        footer = self.fh.tell()
        np.save(self.fh, np.array(list(self.offsets.values()), dtype=np.int64))
        self.fh.write(struct.pack("<q", footer))
        self.fh.close()
        os.replace(self.tmp, self.path)


class TreeReader:
    """Random access to a `TreeWriter` file of the same chunk."""

    def __init__(self, path: str | os.PathLike, morphologies: list):
        self.fh = open(path, "rb")
        try:
            self.fh.seek(-8, os.SEEK_END)
            self.fh.seek(struct.unpack("<q", self.fh.read(8))[0])
            self.offsets = np.load(self.fh, allow_pickle=False)
            self.index = first_use(morphologies)
            if len(self.index) != len(self.offsets):
                raise DetectError(f"{path}: holds {len(self.offsets)} morphologies, the chunk has {len(self.index)}")
        except BaseException:
            self.fh.close()
            raise

    def close(self) -> None:
        """Close the file."""
        self.fh.close()

    def read(self, path: str) -> Tree:
        """The tree of morphology `path`."""
        self.fh.seek(int(self.offsets[self.index[path]]))
        return read_tree(self.fh, path)


def bbox(
    work_dir: str | os.PathLike,
    chunk: int,
    n_chunks: int,
    out: str | os.PathLike,
    trees_out: str | os.PathLike | None = None,
) -> None:
    """Bounding box of the chunk's placed points, per-neuron minima and dendrite soma-distance maxima
    (and, with `trees_out`, the parsed trees for the rasterise step)."""
    nrn = SetupNeurons(work_dir, chunk, n_chunks)  # no trees file: nothing to close
    lo, hi = nrn.lo, nrn.hi
    mins = np.zeros((hi - lo, 3))
    maxs = np.zeros((hi - lo, 3))
    dend = np.zeros(hi - lo, dtype=np.float32)
    writer = TreeWriter(trees_out) if trees_out is not None else None
    try:
        for i, nid in enumerate(progress(range(lo, hi), f"bbox {chunk}")):
            tree = nrn.tree(nid)
            if writer is not None:
                writer.add(nrn.morphology(nid), tree)
            try:
                xyz = place(tree, nrn.position(nid), nrn.rotation(nid), f"neuron {nid}")
            except ValueError as exc:
                raise DetectError(str(exc)) from None
            mins[i], maxs[i] = bounding_box(xyz)
            dend[i] = tree.max_dend_soma_dist
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    with atomic_path(out) as tmp:
        np.savez(tmp, lo=lo, mins=mins, maxs=maxs, max_dend=dend)
        if writer is not None:
            writer.close()


def grid(work_dir: str | os.PathLike, bbox_files: list, out: str | os.PathLike) -> None:
    """Reduce the chunk boxes to the hypervoxel grid (with a user origin, check no neuron lies below it)."""
    s = read_json(Path(work_dir) / SETUP)
    boxes, mins, los = [], [], []
    for p in bbox_files:
        with np.load(p) as d:
            if len(d["mins"]):
                boxes.append(np.array([d["mins"].min(0), d["maxs"].max(0)]))
                mins.append(d["mins"])
                los.append(int(d["lo"]))
    if not boxes:
        raise DetectError("detect: the network has no neurons")
    g = make_grid(boxes, s["voxel_size"], s["hyper_voxel_size"])
    if s.get("simulation_origo") is not None:
        origo = np.array(s["simulation_origo"], dtype=np.float64)
        for lo, m in zip(los, mins):
            below = np.flatnonzero(np.any(m < origo, axis=1))
            if len(below):
                raise DetectError(
                    f"neuron {lo + int(below[0])} lies outside the hypervoxel grid "
                    f"(below detect.simulation_origo {origo.tolist()})"
                )
        g = Grid(g.voxel_size, g.hyper_voxel_size, origo, g.num_hyper_voxels)
    write_json(out, g.to_json())


def rasterise(
    work_dir: str | os.PathLike,
    grid_file: str | os.PathLike,
    chunk: int,
    n_chunks: int,
    out: str | os.PathLike,
    trees: str | os.PathLike | None = None,
) -> None:
    """Membership and first-visit voxel entries of the chunk's neurons, partitioned by hypervoxel (`trees`: the
    bbox step's trees file of the same chunk; without it, morphologies are parsed again)."""
    g = Grid.from_json(read_json(grid_file))
    mem, ax, de = [], [], []
    with SetupNeurons(work_dir, chunk, n_chunks, trees) as nrn:
        for nid in progress(range(nrn.lo, nrn.hi), f"rasterise {chunk}"):
            tree = nrn.tree(nid)
            where = f"neuron {nid} ({nrn.morphology(nid)})"
            m, a, d = rasterise_neuron(nid, tree, nrn.position(nid), nrn.rotation(nid), g, where)
            mem.append(m)
            ax.append(a)
            de.append(d)
    write_raster(
        out,
        {
            "member": Table.concat(mem, MEMBER_COLS),
            "axon": Table.concat(ax, AXON_COLS),
            "dend": Table.concat(de, DEND_COLS),
        },
        g.n_total,
    )


def output_meta(s: dict, g: Grid) -> dict:
    """/meta values shared by the worklog and the hypervoxel files (paths relative to the network folder)."""
    return {
        "snudda_data": s["snudda_data"],
        "slurm_id": np.int64(0),
        "config_file": sources.NETWORK_CONFIG,
        "position_file": sources.POSITIONS,
        "voxel_size": np.float64(g.voxel_size),
        "hyper_voxel_size": np.int64(g.hyper_voxel_size),
    }


def raster_index(raster_files: list, out: str | os.PathLike) -> None:
    """Rule detect_raster_index: the chunks' raster files (names next to `out`, in chunk order) in one file, with
    per hypervoxel its member and entry counts and which raster files hold its entries.

    The hypervoxel batches and the worklog depend on this one file instead of on every raster file: with
    thousands of chunks and batches, an edge from every chunk to every batch makes planning quadratic. A batch
    then reads its hypervoxels' counts here and opens only the raster files that hold their entries, not all.
    """
    out = Path(out)
    names, member, cost, hids, files = [], None, None, [], []
    for k, p in enumerate(map(Path, raster_files)):
        if p.parent.resolve() != out.parent.resolve() or not p.is_file():
            raise DetectError(f"{p}: not a raster file in {out.parent}")
        names.append(p.name)
        with h5py.File(p, "r") as f:
            m = np.diff(f["member/ptr"][()])
            e = np.diff(f["axon/ptr"][()]) + np.diff(f["dend/ptr"][()])
        member, cost = (m, e) if member is None else (member + m, cost + e)
        h = np.flatnonzero(e > 0)
        hids.append(h)
        files.append(np.full(len(h), k, dtype=np.int32))
    hid = np.concatenate(hids)
    order = np.argsort(hid, kind="stable")  # by hypervoxel, then chunk order
    with atomic_h5(out) as f:
        f.create_dataset("rasters", data=names, dtype=h5py.string_dtype())
        f["member"], f["cost"] = member, cost
        f["hid_ptr"] = np.searchsorted(hid[order], np.arange(len(member) + 1)).astype(np.int64)
        f["files"] = np.concatenate(files)[order]


def read_raster_index(index_file: str | os.PathLike) -> list[Path]:
    """The raster files an index (raster_index) lists, in chunk order."""
    index_file = Path(index_file)
    with h5py.File(index_file, "r") as f:
        return [index_file.parent / name.decode() for name in f["rasters"][()]]


def nonempty_hids(index_file: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Hypervoxels with at least one neuron, and their entry counts (join cost), from the raster index."""
    with h5py.File(index_file, "r") as f:
        members, cost = f["member"][()], f["cost"][()]
    hids = np.flatnonzero(members > 0)
    return hids, cost[hids]


def rasters_of(index_file: str | os.PathLike, hids: np.ndarray) -> list[Path]:
    """The raster files (in chunk order) holding entries of the sorted, contiguous run `hids` of nonempty hypervoxels."""
    if len(hids) == 0:
        return []
    index_file = Path(index_file)
    with h5py.File(index_file, "r") as f:
        lo, hi = (int(v) for v in f["hid_ptr"][[int(hids[0]), int(hids[-1]) + 1]])
        used = np.unique(f["files"][lo:hi]) if hi > lo else np.zeros(0, dtype=np.int64)
        names = f["rasters"][()]
    return [index_file.parent / names[k].decode() for k in used.tolist()]


def hypervoxels(
    work_dir: str | os.PathLike,
    grid_file: str | os.PathLike,
    raster_index_file: str | os.PathLike,
    batch: int,
    n_batches: int,
    out_dir: str | os.PathLike,
    rank: int = 0,
    size: int = 1,
) -> dict:
    """Detect the batch's hypervoxels (this rank's share); write their files; return {hid: counts}.

    Opens only the raster files that hold entries of these hypervoxels (the raster index says which)."""
    work_dir = Path(work_dir)
    s = read_json(work_dir / SETUP)
    g = Grid.from_json(read_json(grid_file))
    with h5py.File(work_dir / NEURONS, "r") as f:
        ntype = f["type_id"][()]
    network_config = json.loads(s["config_json"])
    rules = connectivity.build_rules(network_config, s["types"], "network-config.json", s["strict_types"])
    seeds = hypervoxel_seeds(s["seed"], g.n_total)
    hids, cost = nonempty_hids(raster_index_file)
    mine = balanced_ranges(hids, cost, n_batches)[batch]
    mine = balanced_ranges(mine, cost[np.searchsorted(hids, mine)], size)[rank] if len(mine) else mine
    out_dir = ensure_dir(out_dir)
    meta = output_meta(s, g)
    nb = g.hyper_voxel_size
    summary = {}
    origins = g.origins(mine)
    with contextlib.ExitStack() as stack:
        # the hypervoxels' rows come from these files only (the others hold none), still in chunk order
        files = [stack.enter_context(h5py.File(p, "r")) for p in rasters_of(raster_index_file, mine)]
        for h, origin in zip(progress(mine, f"hypervoxels {batch}.{rank}"), origins):
            # one hypervoxel's entries at a time: memory follows the hypervoxel, not the batch
            a = read_range(files, "axon", int(h), int(h) + 1)
            d = read_range(files, "dend", int(h), int(h) + 1)
            offset = np.round((origin - g.simulation_origo) / g.hyper_voxel_width).astype(np.int64) * nb
            r = join_hypervoxel(int(h), a, d, ntype, rules, int(seeds[h]), offset, nb)
            hv_meta = {
                **meta,
                "hyper_voxel_id": np.int64(h),
                "hyper_voxel_origo": origin,
                "simulation_origo": g.simulation_origo,
                "num_hyper_voxels": g.num_hyper_voxels,
                "num_bins": np.full(3, nb, dtype=np.int64),
                "voxel_overflow_counter": np.int64(r.overflow),
                "max_axon_voxel_ctr": np.int32(r.max_axon),
                "max_dend_voxel_ctr": np.int32(r.max_dend),
            }
            hvio.write_hypervoxel(
                out_dir / hvio.VOXEL_FILE.format(hid=int(h)),
                s["config_json"],
                hv_meta,
                r.synapses,
                r.gap_junctions,
                r.synapse_lookup,
                r.gap_junction_lookup if rules.has_gap_junctions else None,
                rules.max_channel,
            )
            summary[int(h)] = [len(r.synapses), len(r.gap_junctions), r.overflow]
    return summary


def hypervoxels_job(
    work_dir: str | os.PathLike,
    grid_file: str | os.PathLike,
    raster_index_file: str | os.PathLike,
    batch: int,
    n_batches: int,
    out_dir: str | os.PathLike,
    use_mpi: bool = False,
) -> None:
    """Rule detect_hypervoxels: detect one batch (split over the MPI ranks with `use_mpi`); rank 0 writes summary.json."""
    from circuitflow.mpi import run_shared

    items = run_shared(
        lambda rank, size: list(
            hypervoxels(work_dir, grid_file, raster_index_file, batch, n_batches, out_dir, rank, size).items()
        ),
        use_mpi,
    )
    if items is not None:
        write_json(Path(out_dir) / "summary.json", {str(k): v for k, v in items})


def worklog(
    work_dir: str | os.PathLike,
    grid_file: str | os.PathLike,
    raster_files: list,
    bbox_files: list,
    batch_dirs: list,
    net_dir: str | os.PathLike,
) -> None:
    """Write the worklog and gather the hypervoxel files into the network's voxels/ folder."""
    work_dir, net_dir = Path(work_dir), Path(net_dir)
    s = read_json(work_dir / SETUP)
    g = Grid.from_json(read_json(grid_file))
    network_config = json.loads(s["config_json"])
    rules = connectivity.build_rules(network_config, s["types"], "network-config.json", s["strict_types"])
    summary = {}
    for d in batch_dirs:
        for k, v in read_json(Path(d) / "summary.json").items():
            summary[int(k)] = v
    members = Table.concat([read_range([p], "member", 0, g.n_total) for p in raster_files], MEMBER_COLS)
    seeds = hypervoxel_seeds(s["seed"], g.n_total)
    text, ctr = hyper_voxels_json(g, members, seeds)
    hids = np.flatnonzero(ctr > 0)
    if set(summary) != set(hids.tolist()):
        raise DetectError(f"detect: hypervoxel batches cover {len(summary)} of {len(hids)} hypervoxels")
    order = completion_order(hids, ctr[hids])
    n = g.n_total
    completed = np.full(n, -1, dtype=np.int32)
    syn, gj, ov = (np.zeros(n, dtype=np.int64) for _ in range(3))
    completed[: len(order)] = order
    for slot, h in enumerate(order):
        syn[slot], gj[slot], ov[slot] = summary[int(h)]
    voxels = ensure_dir(net_dir / "voxels")
    for d in batch_dirs:
        for p in sorted(Path(d).glob("network-putative-synapses-*.hdf5")):
            target = voxels / p.name
            if target.exists():
                target.unlink()
            try:
                os.link(p, target)
            except OSError:
                shutil.copyfile(p, target)
    meta = {
        **output_meta(s, g),
        "hyper_voxel_width": np.float64(g.hyper_voxel_width),
        "config": s["config_json"],
        "connectivity_distributions": connectivity.distributions_json(rules),
        "hyper_voxel_ids": g.hyper_voxel_ids,
        "num_hyper_voxels": g.num_hyper_voxels,
        "simulation_origo": g.simulation_origo,
    }
    max_dend = []
    for p in bbox_files:
        with np.load(p) as d:
            max_dend.append(d["max_dend"])
    hvio.write_worklog(
        net_dir / "log" / "network-detect-worklog.hdf5",
        meta,
        text,
        hids,
        completed,
        syn,
        gj,
        ov,
        net_dir / sources.POSITIONS,
        {"max_soma_distance_dend": np.concatenate(max_dend).astype(np.float32)},
    )
