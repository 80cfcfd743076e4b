"""Check a Snudda network's hypervoxel files and index where each destination neuron's rows are.

The index (one HDF5 file) lists, per (destination neuron, hypervoxel file), the row slice holding
that neuron's synapses / gap junctions, file by file. Gather reads only those slices, and the
destination ranges are balanced on the per-neuron counts it holds (spec prune.md §3.2-3.4, §7,
P-3, P-31).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from circuitflow.errors import CircuitflowError
from circuitflow.io import snudda as sio
from circuitflow.io.atomic import atomic_h5
from circuitflow.io.listing import files_state
from circuitflow.progress import progress

log = logging.getLogger(__name__)

TYPES = {"synapses": sio.SYN_WIDTH, "gap_junctions": sio.GJ_WIDTH}
LOOKUP = {"synapses": "network/synapse_lookup", "gap_junctions": "network/gap_junction_lookup"}
WORKLOG_COUNT = {"synapses": "num_hypervoxel_synapses", "gap_junctions": "num_hypervoxel_gap_junctions"}
META_EQUAL = ("voxel_size", "hyper_voxel_size", "simulation_origo", "config_file", "position_file")
PROJECTION_HID = -1
ENTRY_CHUNK = 1 << 16  # index entries per HDF5 chunk


class HypervoxelError(CircuitflowError, ValueError):
    """A hypervoxel file is missing or inconsistent with the detect worklog."""


@dataclass
class Worklog:
    """What prune needs from the detect worklog."""

    path: Path
    n_neurons: int
    meta: dict
    hyper_voxel_ids: np.ndarray
    completed: np.ndarray
    counts: dict
    all_hyper_ids: np.ndarray
    num_projection_synapses: int
    detect_config: dict
    detect_config_text: str
    connectivity_distributions: dict
    overflow: np.ndarray


def file_of(network: Path, hid: int) -> Path:
    """Path of the file holding hypervoxel `hid` (-1: the projection file), relative to the network."""
    if hid == PROJECTION_HID:
        return network / sio.PROJECTION_FILE
    return network / sio.VOXEL_FILE.format(hid=hid)


def read_worklog(network: str | Path) -> Worklog:
    """Read and sanity-check the detect worklog of a Snudda network directory."""
    path = Path(network) / sio.WORKLOG
    with sio.open_h5(path, "detect worklog") as f:
        ids = np.asarray(sio.require(f, "network/neurons/neuron_id")[()], dtype=np.int64)
        if len(ids) == 0 or not np.array_equal(ids, np.arange(len(ids))):
            raise HypervoxelError(f"{path}: network/neurons/neuron_id must be exactly 0..N-1")
        meta = {k: sio.read_scalar(f, f"meta/{k}") for k in META_EQUAL + ("hyper_voxel_width", "slurm_id")}
        meta["simulation_origo"] = np.asarray(meta["simulation_origo"], dtype=np.float64)
        num_completed = int(np.asarray(sio.require(f, "num_completed")[()]).ravel()[0])
        completed = np.asarray(sio.require(f, "completed")[()], dtype=np.int64)[:num_completed]
        counts = {t: np.asarray(sio.require(f, WORKLOG_COUNT[t])[()], dtype=np.int64)[:num_completed] for t in TYPES}
        overflow = (
            np.asarray(f["voxel_overflow_counter"][()], dtype=np.int64)[:num_completed]
            if "voxel_overflow_counter" in f
            else np.zeros(num_completed, np.int64)
        )
        n_proj = int(f["num_projection_synapses"][()]) if "num_projection_synapses" in f else 0
        config_text = sio.read_scalar(f, "meta/config")
        try:
            detect_config = json.loads(config_text)
            con_dist = json.loads(sio.read_scalar(f, "meta/connectivity_distributions"))
        except json.JSONDecodeError as exc:
            raise HypervoxelError(
                f"{path}: meta/config or meta/connectivity_distributions is not JSON ({exc})"
            ) from None
        return Worklog(
            path=path,
            n_neurons=len(ids),
            meta=meta,
            hyper_voxel_ids=np.asarray(sio.require(f, "meta/hyper_voxel_ids")[()], dtype=np.int64),
            completed=completed,
            counts=counts,
            all_hyper_ids=np.asarray(sio.require(f, "all_hyper_ids")[()], dtype=np.int64),
            num_projection_synapses=n_proj,
            detect_config=detect_config,
            detect_config_text=config_text,
            connectivity_distributions=con_dist,
            overflow=overflow,
        )


def hypervoxel_files(network: str | Path) -> list[str]:
    """The hypervoxel files (and projection file) the worklog of `network` lists: what pruning reads."""
    wl = read_worklog(network)
    files = [str(file_of(Path(network), PROJECTION_HID))] if wl.num_projection_synapses > 0 else []
    voxels = os.path.join(network, os.path.dirname(sio.VOXEL_FILE))
    name = os.path.basename(sio.VOXEL_FILE)
    return files + [os.path.join(voxels, name.format(hid=h)) for h in sorted(int(h) for h in wl.completed)]


def hypervoxels_state(network: str | Path, produced: bool) -> str:
    """The state of the hypervoxel files pruning reads, a param of the prune rules that read them ('' before
    the worklog exists): editing, replacing or deleting one re-runs pruning (a deleted file then fails naming it).

    For the network this workflow's detect writes (`produced`), '' while no file changed or went missing since
    the worklog was written, so that a clean network's state is the same at the first run (no worklog yet) and
    the next; else the state of the files, which stays the same until detection runs again.
    """
    worklog = Path(network) / sio.WORKLOG
    if not worklog.is_file():
        return ""
    files = hypervoxel_files(network)
    if produced:
        written = worklog.stat().st_mtime_ns
        try:
            if all(os.stat(f).st_mtime_ns <= written for f in files):
                return ""
        except FileNotFoundError:
            pass
    return files_state(files)


def has_connectivity(detect_config: dict) -> bool:
    """True if the detect config defines any connection (then every hypervoxel must be done)."""
    return any((r or {}).get("connectivity") for r in (detect_config.get("regions") or {}).values())


def check_completed(wl: Worklog) -> None:
    """Fail if detection did not complete every non-empty hypervoxel (P-3; Snudda's check never fires)."""
    todo = np.setdiff1d(wl.all_hyper_ids, wl.completed)
    if len(todo) and has_connectivity(wl.detect_config):
        first = ", ".join(str(h) for h in todo[:10])
        raise HypervoxelError(f"{wl.path}: detection not done: {len(todo)} hypervoxels not completed (first: {first})")


def expected_origo(wl: Worklog, hid: int) -> np.ndarray:
    """Hypervoxel origo as detect computes it: simulation_origo + width * index, float64 (P-21)."""
    where = np.argwhere(wl.hyper_voxel_ids == hid)
    if len(where) != 1:
        raise HypervoxelError(f"{wl.path}: hypervoxel {hid} is not in meta/hyper_voxel_ids")
    return wl.meta["simulation_origo"] + wl.meta["hyper_voxel_width"] * where[0]


def check_file_meta(wl: Worklog, f: h5py.File, hid: int) -> None:
    """Check one hypervoxel file against the worklog (spec §7.3; slurm_id only warns, P-20)."""
    name = f.filename
    file_hid = int(sio.read_scalar(f, "meta/hyper_voxel_id"))
    if file_hid != hid:
        raise HypervoxelError(f"{name}: meta/hyper_voxel_id is {file_hid}, expected {hid}")
    for key in META_EQUAL:
        ours, theirs = wl.meta[key], sio.read_scalar(f, f"meta/{key}")
        if not np.array_equal(np.asarray(ours), np.asarray(theirs)):
            raise HypervoxelError(f"{name}: mismatch of meta/{key}: file has {theirs!r}, worklog has {ours!r}")
    slurm = sio.read_scalar(f, "meta/slurm_id")
    if slurm != wl.meta["slurm_id"]:
        log.warning(
            "%s: slurm_id %s differs from the worklog's %s (detect resumed in another job?)",
            name,
            slurm,
            wl.meta["slurm_id"],
        )
    origo = np.asarray(sio.read_scalar(f, "meta/hyper_voxel_origo"), dtype=np.float64)
    want = expected_origo(wl, hid)
    if not np.array_equal(origo, want):
        raise HypervoxelError(
            f"{name}: hyper voxel origo mismatch: file has {origo.tolist()}, expected {want.tolist()}"
        )
    if "config" in f:
        text = sio.read_scalar(f, "config")
        if text == wl.detect_config_text:  # the usual case: the same text, no need to parse it
            return
        try:
            cfg = json.loads(text)
        except json.JSONDecodeError:
            raise HypervoxelError(f"{name}: /config is not JSON") from None
        if cfg != wl.detect_config:
            raise HypervoxelError(
                f"{name}: /config differs from the worklog's meta/config (files of another detect run?)"
            )


def lookup_entries(lookup: np.ndarray, n_rows: int, n_neurons: int, n_types: int, name: str) -> np.ndarray:
    """Per-destination row slices of one file from its lookup table: an (k, 3) array [dest, start, end)."""
    if len(lookup) == 0:
        if n_rows:
            raise HypervoxelError(f"{name}: {n_rows} rows but an empty lookup table")
        return np.zeros((0, 3), dtype=np.int64)
    uid, start, end = lookup[:, 0], lookup[:, 1], lookup[:, 2]
    if np.any(np.diff(uid) <= 0):
        raise HypervoxelError(f"{name}: unique_id in the lookup table is not strictly increasing (unsorted input)")
    if start[0] != 0 or end[-1] != n_rows or np.any(start[1:] != end[:-1]) or np.any(end <= start):
        raise HypervoxelError(f"{name}: lookup table row ranges do not tile the {n_rows} rows")
    dest = uid // (n_neurons * n_types)
    if uid[0] < 0 or dest[-1] >= n_neurons:
        raise HypervoxelError(f"{name}: neuron ids out of range 0..{n_neurons - 1} in the lookup table")
    first = np.flatnonzero(np.r_[True, dest[1:] != dest[:-1]])
    last = np.r_[first[1:], len(dest)] - 1
    return np.stack([dest[first], start[first], end[last]], axis=1)


def scan_file(path: Path, wl: Worklog, hid: int, check_meta: bool) -> tuple[int, dict]:
    """Check one hypervoxel (or projection) file; return its max_channel_type_id and per-type lookups."""
    with sio.open_h5(path, f"hypervoxel file of HID {hid}" if hid >= 0 else "projection file") as f:
        if check_meta:
            check_file_meta(wl, f, hid)
        T = int(sio.read_scalar(f, "network/max_channel_type_id"))
        out = {}
        for t, width in TYPES.items():
            key = f"network/{t}"
            if hid == PROJECTION_HID and t == "gap_junctions":
                out[t] = (np.zeros((0, 3), np.int64), 0)
                continue
            n_rows = sio.table_rows(f, key, width)
            out[t] = (sio.read_lookup(f, LOOKUP[t]), n_rows)
    return T, out


def build_index(network: str | Path, out: str | Path) -> dict:
    """Check every hypervoxel file the worklog lists and write the per-destination index to `out`.

    The index holds, file by file in ascending HID order, each file's [dest, start, end) entries
    (sorted by dest) and the rows per destination. It is written while the files are scanned, so
    memory is one file's lookup table plus a count per neuron, whatever the network's size.
    """
    network = Path(network)
    wl = read_worklog(network)
    check_completed(wl)
    N = wl.n_neurons
    files: list[tuple[int, Path, bool]] = []
    if wl.num_projection_synapses > 0:
        files.append((PROJECTION_HID, file_of(network, PROJECTION_HID), False))
    for hid in sorted(int(h) for h in wl.completed):
        files.append((hid, file_of(network, hid), True))
    rows_of: dict[int, tuple[Path, dict[str, int]]] = {}
    counts = np.zeros(N, dtype=np.int64)
    summary = dict.fromkeys(TYPES, 0)
    T = T_file = None
    with atomic_h5(out) as f:
        tables = {
            t: f.create_dataset(
                f"{t}/entries", shape=(0, 3), maxshape=(None, 3), chunks=(ENTRY_CHUNK, 3), dtype=np.int64
            )
            for t in TYPES
        }
        offsets = {t: [0] for t in TYPES}
        for hid, path, check_meta in progress(files, "check hypervoxels", unit="file"):
            t_here, lookups = scan_file(path, wl, hid, check_meta)
            if T is None:
                T, T_file = t_here, path
            elif t_here != T:
                raise HypervoxelError(f"{path}: max_channel_type_id {t_here} differs from {T} in {T_file}")
            n_rows = {}
            for t, (lk, n) in lookups.items():
                # keep only the per-destination slices, not the (larger) lookup tables
                ent = lookup_entries(lk, n, N, max(T, 1), str(path))
                tables[t].resize(offsets[t][-1] + len(ent), axis=0)
                tables[t][offsets[t][-1] :] = ent
                offsets[t].append(offsets[t][-1] + len(ent))
                counts[ent[:, 0]] += ent[:, 2] - ent[:, 1]  # a file holds each destination once
                summary[t] += n
                n_rows[t] = n
            rows_of[hid] = (path, n_rows)
        for k, hid in enumerate(wl.completed):
            path, n_rows = rows_of[int(hid)]
            for t in TYPES:
                if n_rows[t] != wl.counts[t][k]:
                    raise HypervoxelError(f"{path}: has {n_rows[t]} {t}, the worklog says {wl.counts[t][k]}")
        if wl.num_projection_synapses > 0:
            path, n_rows = rows_of[PROJECTION_HID][0], rows_of[PROJECTION_HID][1]["synapses"]
            if n_rows != wl.num_projection_synapses:
                raise HypervoxelError(f"{path}: has {n_rows} synapses, the worklog says {wl.num_projection_synapses}")
        f.attrs["n_neurons"] = N
        f.attrs["max_channel_type_id"] = 0 if T is None else T
        f.attrs["voxel_size"] = float(wl.meta["voxel_size"])
        f["hids"] = np.array([h for h, _, _ in files], dtype=np.int64)
        for t in TYPES:
            f[f"{t}/file_offsets"] = np.array(offsets[t], dtype=np.int64)
        f["dest_counts"] = counts
    overflow = int(wl.overflow.sum())
    if overflow:
        bad = [(int(h), int(o)) for h, o in zip(wl.completed, wl.overflow) if o > 0]
        log.warning(
            "voxel overflow: %d touches were lost at detect, in %d hypervoxels (first: %s)", overflow, len(bad), bad[:5]
        )
    log.info(
        "checked %d hypervoxel files: %d neurons, %d putative synapses, %d putative gap junctions",
        len(files),
        N,
        summary["synapses"],
        summary["gap_junctions"],
    )
    return summary


def dest_counts(index_path: str | Path) -> np.ndarray:
    """Rows (synapses + gap junctions) per destination neuron, from the index."""
    with sio.open_h5(index_path, "prune index") as f:
        return np.asarray(f["dest_counts"][()], dtype=np.int64)


def range_bounds(counts: np.ndarray, n_ranges: int) -> np.ndarray:
    """Cut neurons 0..N into `n_ranges` contiguous destination ranges of about equal row counts (P-31)."""
    N = len(counts)
    cum = np.concatenate([[0], np.cumsum(counts)])
    targets = cum[-1] * np.arange(1, n_ranges) / n_ranges
    cuts = np.searchsorted(cum, targets, side="left")
    bounds = np.concatenate([[0], np.clip(cuts, 0, N), [N]]).astype(np.int64)
    return np.maximum.accumulate(bounds)


def range_bounds_of(index: h5py.File, n_ranges: int) -> np.ndarray:
    """Range bounds from an open index file (its per-destination row counts)."""
    return range_bounds(np.asarray(index["dest_counts"][()], dtype=np.int64), n_ranges)


def read_range(index_path: str | Path, n_ranges: int, i: int) -> tuple[int, int]:
    """Bounds [a, b) of destination range `i` of `n_ranges`."""
    if not 0 <= i < n_ranges:
        raise ValueError(f"range {i} is not in 0..{n_ranges - 1}")
    b = range_bounds(dest_counts(index_path), n_ranges)
    return int(b[i]), int(b[i + 1])
