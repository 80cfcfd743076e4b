"""Neuron sources for detection: each adapter returns the same `Neurons` table.

* `snudda_network`: a Snudda-placed network folder (network-neuron-positions.hdf5 +
  network-config.json + SWC files), read with Snudda's strict SWC rules;
* `sonata_nodes`: a SONATA nodes file (x, y, z, orientation_w/x/y/z, mtype, morphology) with a folder
  of morphologies, read with MorphIO (contour somata, apical dendrites); mtype is the neuron type.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from circuitflow.errors import CircuitflowError

POSITIONS = "network-neuron-positions.hdf5"
NETWORK_CONFIG = "network-config.json"


class SourceError(CircuitflowError, ValueError):
    """The neuron source is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class Neurons:
    """Placed neurons: names '<type>_<k>', positions (N,3) m, rotations (N,9), morphology paths, reader name."""

    names: list
    positions: np.ndarray
    rotations: np.ndarray
    morphologies: list  # resolved paths
    reader: str  # "swc" (Snudda's strict SWC) or "morphio"

    @property
    def types(self) -> list:
        """Neuron type of each neuron: the name up to the first '_'."""
        return [n.split("_")[0] for n in self.names]


def read_json(path: Path) -> dict:
    """A JSON file as a dict, with a one-line error naming it."""
    if not path.is_file():
        raise SourceError(f"{path}: file does not exist")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: not valid JSON ({exc})") from None


def resolve(path: str, base: Path, snudda_data: str) -> str:
    """Substitute $SNUDDA_DATA and make a relative path relative to `base`."""
    if "$SNUDDA_DATA" in path:
        if not snudda_data:
            raise SourceError(f"morphology path {path} uses $SNUDDA_DATA, but no snudda_data is set")
        path = path.replace("$SNUDDA_DATA", snudda_data)
    p = Path(path)
    return str(p if p.is_absolute() else base / p)


def snudda_network(network_path: str | Path, snudda_data: str | None = None) -> Neurons:
    """Neurons of a Snudda network folder (positions file + SWC morphologies)."""
    base = Path(network_path)
    pos_file = base / POSITIONS
    if not pos_file.is_file():
        raise SourceError(f"{pos_file}: positions file does not exist")
    with h5py.File(pos_file, "r") as f:
        if "network/neurons" not in f:
            raise SourceError(f"{pos_file}: no network/neurons group")
        g = f["network/neurons"]
        for key in ("neuron_id", "name", "position", "rotation", "morphology"):
            if key not in g:
                raise SourceError(f"{pos_file}: network/neurons/{key} is missing")
        ids = g["neuron_id"][()]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in g["name"][()]]
        positions = g["position"][()].astype(np.float64)
        rotations = g["rotation"][()].astype(np.float64).reshape(len(ids), 9)
        morph = [m.decode() if isinstance(m, bytes) else str(m) for m in g["morphology"][()]]
        stored_data = f["meta/snudda_data"][()] if "meta/snudda_data" in f else b""
        for flag in ("virtual_neuron",):
            if flag in g and np.any(g[flag][()]):
                raise SourceError(f"{pos_file}: virtual neurons are not supported")
        if "axon_density" in g and any(len(v) for v in g["axon_density"][()]):
            raise SourceError(f"{pos_file}: axon_density neurons are not supported")
        if "extra_axons/name" in g and len(g["extra_axons/name"]):
            raise SourceError(f"{pos_file}: extra_axons are not supported")
    if not np.array_equal(ids, np.arange(len(ids))):
        raise SourceError(f"{pos_file}: network/neurons/neuron_id must be 0..N-1")
    if snudda_data is None:
        snudda_data = stored_data.decode() if isinstance(stored_data, bytes) else str(stored_data)
        snudda_data = snudda_data or os.environ.get("SNUDDA_DATA", "")
    paths = [resolve(m, base, snudda_data) for m in morph]
    return Neurons(names=names, positions=positions, rotations=rotations, morphologies=paths, reader="swc")


def type_name(mtype: str) -> str:
    """Snudda neuron type for an mtype: '_' becomes '-' (Snudda's type is the name up to the first '_')."""
    return mtype.replace("_", "-")


def rename_connectivity(config: dict) -> dict:
    """A network config whose connectivity keys use `type_name` ('L2_TPC:A,L5_TPC:A' -> 'L2-TPC:A,L5-TPC:A')."""
    import ast

    out = json.loads(json.dumps(config))
    for rdef in (out.get("regions") or {}).values():
        con = rdef.get("connectivity")
        if not isinstance(con, dict):
            continue
        renamed = {}
        for key, value in con.items():
            pre, _, post = key.partition(",")
            if "," in post:
                posts = [type_name(str(p)) for p in ast.literal_eval(post)]
                new_key = f"{type_name(pre)},{posts!r}"
            else:
                new_key = f"{type_name(pre)},{type_name(post)}"
            renamed[new_key] = value
        rdef["connectivity"] = renamed
    return out


def quaternion_matrices(w: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Row-major 3x3 rotation matrices (N,9) of unit quaternions (w, x, y, z), as SONATA defines them."""
    q = np.stack([w, x, y, z], axis=1).astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    m = np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - z * w),
            2 * (x * z + y * w),
            2 * (x * y + z * w),
            1 - 2 * (x * x + z * z),
            2 * (y * z - x * w),
            2 * (x * z - y * w),
            2 * (y * z + x * w),
            1 - 2 * (x * x + y * y),
        ],
        axis=1,
    )
    return m


def sonata_nodes(
    nodes_file: str | Path, morphology_dir: str | Path, population: str | None = None, morphology_ext: str = "h5"
) -> Neurons:
    """Neurons of a SONATA nodes file: positions (µm -> m), quaternion orientation, mtype as type."""
    nodes_file = Path(nodes_file)
    if not nodes_file.is_file():
        raise SourceError(f"{nodes_file}: nodes file does not exist")
    with h5py.File(nodes_file, "r") as f:
        if "nodes" not in f or not len(f["nodes"]):
            raise SourceError(f"{nodes_file}: no /nodes populations")
        pops = list(f["nodes"])
        if population is None:
            if len(pops) != 1:
                raise SourceError(f"{nodes_file}: several populations {pops}; set detect.sonata.population")
            population = pops[0]
        if population not in f["nodes"]:
            raise SourceError(f"{nodes_file}: no population {population!r} (has {pops})")
        g = f[f"nodes/{population}/0"]

        def col(name: str) -> np.ndarray:
            if name not in g:
                raise SourceError(f"{nodes_file}: nodes/{population}/0/{name} is missing")
            ds = g[name]
            lib = f"nodes/{population}/0/@library/{name}"
            if lib in f:  # enumeration: indices into @library
                values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in f[lib][()]])
                return values[ds[()]]
            data = ds[()]
            if data.dtype.kind in "OS":
                return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in data])
            return data

        xyz = np.stack([col("x"), col("y"), col("z")], axis=1).astype(np.float64)
        if all(f"orientation_{c}" in g for c in "wxyz"):
            rot = quaternion_matrices(*(col(f"orientation_{c}") for c in "wxyz"))
        else:
            rot = np.tile(np.eye(3).ravel(), (len(xyz), 1))
        mtypes = col("mtype")
        morph = col("morphology")
    if any(not m for m in mtypes):
        raise SourceError(f"{nodes_file}: empty mtype")
    types = {m: type_name(m) for m in set(mtypes)}
    if len(set(types.values())) != len(types):
        raise SourceError(f"{nodes_file}: mtypes {sorted(types)} collide once '_' becomes '-'")
    names = [f"{types[m]}_{i}" for i, m in enumerate(mtypes)]
    mdir = Path(morphology_dir)
    paths = [str(mdir / f"{m}.{morphology_ext}") for m in morph]
    return Neurons(names=names, positions=xyz * 1e-6, rotations=rot, morphologies=paths, reader="morphio")


def morphology_files(detect_cfg: dict) -> list[str]:
    """Every morphology file detection reads for the `detect` config section (sorted, each once)."""
    if "network_path" in detect_cfg:
        neurons = snudda_network(detect_cfg["network_path"], detect_cfg.get("snudda_data"))
    else:
        s = detect_cfg["sonata"]
        neurons = sonata_nodes(s["nodes_file"], s["morphology_dir"], s.get("population"), s.get("morphology_ext", "h5"))
    return sorted(set(neurons.morphologies))


def morphologies_state(detect: dict) -> str:
    """io.listing.files_state of the morphology files the detect config section `detect` reads."""
    from circuitflow.io.listing import files_state

    return files_state(morphology_files(detect))
