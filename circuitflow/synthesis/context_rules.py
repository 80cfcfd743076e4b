"""region_structure `directions` and `boundaries` rules (spec §7): checks, per-cell filtering, and the
section/trunk probabilities that NeuroTS' accept/reject uses, as region-grower 1.6.0 computes them.

Heavy libraries (voxcell's orientation field, trimesh) are loaded only when a cell uses a rule, once
per process: a chunk without rules pays nothing.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from circuitflow.errors import CircuitflowError

L = logging.getLogger(__name__)

DIRECTION_KEYS = ("mtypes", "mclass", "neurite_types", "processes", "params", "params_section")
DIRECTION_PARAMS = ("direction", "mode", "power", "layers")
SECTION_TRIES = ("max_tries", "randomness_increase")  # read by NeuroTS from params_section
BOUNDARY_KEYS = (
    "path",
    "mesh_type",
    "mode",
    "multimesh_mode",
    "params_section",
    "params_trunk",
    "mtypes",
    "mclass",
    "neurite_types",
    "processes",
)
BOUNDARY_PARAMS = ("d_min", "d_max", "power") + SECTION_TRIES
#: Keys read inside each nested level of a rule.
NESTED_KEYS = {
    "directions": {"params": DIRECTION_PARAMS, "params_section": SECTION_TRIES},
    "boundaries": {"params_section": BOUNDARY_PARAMS, "params_trunk": BOUNDARY_PARAMS},
}
#: Keys that NeuroTS / region-grower read at the rule's top level only (RG-24).
TOP_LEVEL_ONLY = ("mode", "neurite_types", "processes", "mtypes", "mclass")
DIRECTION_MODES = ("parallel", "perpendicular")
BOUNDARY_MODES = ("repulsive", "attractive")
MESH_TYPES = ("voxel", "spatial")
MULTIMESH_MODES = ("closest", "closest_y", "inside", "territories")


class RuleError(CircuitflowError, ValueError):
    """A `directions` or `boundaries` rule cannot be used."""


# --------------------------------------------------------------------------- checks (load time)
def _fail(region: str, kind: str, index: int, message: str):
    raise RuleError(f"region_structure: region '{region}' {kind}[{index}]: {message}")


def _check_direction(region: str, index: int, rule, n_layers: int) -> None:
    """Errors that region-grower would only hit mid-growth (crash or every cell dropped)."""
    if not isinstance(rule, dict):
        _fail(region, "directions", index, "must be a mapping")
    params = rule.get("params")
    if not isinstance(params, dict) or "direction" not in params:
        _fail(region, "directions", index, "needs params.direction")
    if np.shape(params["direction"]) != (3,):
        _fail(region, "directions", index, f"params.direction must be 3 numbers, got {params['direction']}")
    if params.get("mode", "parallel") not in DIRECTION_MODES:
        _fail(region, "directions", index, f"params.mode {params['mode']!r} is not one of {list(DIRECTION_MODES)}")
    for layer in params.get("layers") or []:
        if not isinstance(layer, int) or not 1 <= layer <= n_layers:
            _fail(region, "directions", index, f"params.layers: {layer!r} is not a layer number 1..{n_layers}")


def _check_boundary(region: str, index: int, rule) -> None:
    """Errors that region-grower would only hit mid-growth (crash or every cell dropped)."""
    if not isinstance(rule, dict):
        _fail(region, "boundaries", index, "must be a mapping")
    if "path" not in rule:
        _fail(region, "boundaries", index, "needs a path (mesh file or folder)")
    path = Path(rule["path"])
    if not path.exists():
        _fail(region, "boundaries", index, f"mesh path not found: {path}")
    for key, allowed, default in (
        ("mode", BOUNDARY_MODES, "repulsive"),
        ("mesh_type", MESH_TYPES, "voxel"),
        ("multimesh_mode", MULTIMESH_MODES, "closest"),
    ):
        if rule.get(key, default) not in allowed:
            _fail(region, "boundaries", index, f"{key} {rule[key]!r} is not one of {list(allowed)}")
    if path.is_dir() and not any(p.is_file() for p in path.iterdir()):
        _fail(region, "boundaries", index, f"mesh folder is empty: {path}")
    for key in ("params_section", "params_trunk"):
        if key in rule and not isinstance(rule[key], dict):
            _fail(region, "boundaries", index, f"{key} must be a mapping")


def resolve_and_check(structure: dict, base_dir: Path) -> None:
    """Make boundary paths absolute (against the YAML's folder, as upstream) and check every rule."""
    for region, block in structure.items():
        for kind in ("directions", "boundaries"):
            if kind in block and block[kind] is not None and not isinstance(block[kind], list):
                raise RuleError(f"region_structure: region '{region}' {kind} must be a list of rules")
        for index, rule in enumerate(block.get("directions") or []):
            _check_direction(region, index, rule, len(block["layers"]))
        for index, rule in enumerate(block.get("boundaries") or []):
            if isinstance(rule, dict) and "path" in rule and not Path(rule["path"]).is_absolute():
                rule["path"] = str((base_dir / rule["path"]).absolute())
            _check_boundary(region, index, rule)


def rule_warnings(structure: dict) -> list[str]:
    """Keys placed where region-grower does not read them, and rules applying to no tree (RG-24)."""
    warnings = []
    for region, block in structure.items():
        for kind, keys in (("directions", DIRECTION_KEYS), ("boundaries", BOUNDARY_KEYS)):
            for index, rule in enumerate(block.get(kind) or []):
                where = f"region '{region}' {kind}[{index}]"
                unknown = sorted(set(rule) - set(keys))
                if unknown:
                    warnings.append(f"{where}: unknown key(s) {unknown} are ignored")
                for level, known in NESTED_KEYS[kind].items():
                    level_keys = set(rule.get(level) or {})
                    misplaced = sorted(level_keys & (set(TOP_LEVEL_ONLY) - set(known)))
                    if misplaced:
                        warnings.append(
                            f"{where}: {misplaced} inside '{level}' are ignored (read at the rule's top level only)"
                        )
                    unknown = sorted(level_keys - set(known) - set(misplaced))
                    if unknown:
                        warnings.append(f"{where}: unknown key(s) {unknown} inside '{level}' are ignored")
                if "neurite_types" not in rule:
                    warnings.append(
                        f"{where}: no top-level 'neurite_types', so its section probability applies to no tree"
                    )
    return warnings


def territories_regions(structure: dict) -> list[str]:
    """Regions with a `multimesh_mode: territories` boundary (their cells need a glomerulus id)."""
    return [
        region
        for region, block in structure.items()
        if any(rule.get("multimesh_mode", "closest") == "territories" for rule in block.get("boundaries") or [])
    ]


def has_rules(block: dict | None) -> bool:
    """Whether region-grower passes atlas_info (and so applies rules) to this block's cells."""
    return block is not None and ("directions" in block or "boundaries" in block)


def applies(rule: dict, mtype: str, mclass) -> bool:
    """region-grower's per-cell filter on `mtypes` and `mclass`."""
    mtypes = rule.get("mtypes", None)
    if mtypes is not None and mtype not in mtypes:
        return False
    mclasses = rule.get("mclass", None)
    return mclasses is None or mclass in mclasses


def mesh_files(structure: dict) -> list[str]:
    """Every mesh file the boundary rules may load (folders expanded, sorted)."""
    files = set()
    for block in structure.values():
        for rule in block.get("boundaries") or []:
            path = Path(rule["path"])
            if path.is_dir():
                files.update(str(p) for p in path.iterdir() if p.is_file())
            else:
                files.add(str(path))
    return sorted(files)


def file_digest(path: str) -> str:
    """sha256 of an input file (mesh, donor), computed once per (path, size, mtime) in a process (every chunk
    uses it)."""
    stat = os.stat(path)
    return _digest(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def rules_payload(structure: dict, combos) -> dict:
    """What a chunk's growth reads from the rules: per (region, mtype, mclass) of its cells, the rules that
    apply, with the content digest of every mesh they may load. Part of the chunk digest, so that editing
    a rule (or a mesh) re-runs only the chunks whose cells it applies to."""
    payload = {}
    for region, mtype, mclass in sorted(combos, key=str):
        block = structure.get(region)
        if not has_rules(block):
            continue
        directions = [r for r in block.get("directions") or [] if applies(r, mtype, mclass)]
        boundaries = []
        for rule in block.get("boundaries") or []:
            if applies(rule, mtype, mclass):
                path = Path(rule["path"])
                files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
                boundaries.append({"rule": rule, "meshes": {f.name: file_digest(str(f)) for f in files}})
        payload[f"{region}|{mtype}|{mclass}"] = {"directions": directions, "boundaries": boundaries}
    return payload


# --------------------------------------------------------------------------- per-process caches
_ORIENTATIONS: dict = {}
_MESHES: dict = {}


class Orientations:
    """voxcell's OrientationField lookups of single points, memoized per voxel.

    The voxel index is computed with voxcell's own arithmetic (`positions_to_indices`, strict), and a
    voxel's matrix is voxcell's `lookup` of the first point seen in it: the same numbers as a lookup
    per point, without converting the quaternion again at every growth step.
    """

    def __init__(self, path: str):
        from voxcell import OrientationField

        self.field = OrientationField.load_nrrd(path)
        self.offset = self.field.offset
        self.voxel_dimensions = self.field.voxel_dimensions
        self.shape = np.array(self.field.shape)
        self.upper = self.field.bbox[1]
        self.matrices: dict = {}

    def voxel(self, position: np.ndarray) -> tuple | None:
        """voxcell's strict voxel index of one position, or None outside the atlas."""
        index = (position - self.offset) / self.voxel_dimensions
        index[np.abs(index) < 1e-7] = 0.0
        index = np.floor(index).astype(int)
        if (index < 0).any() or ((index >= self.shape) & (position >= self.upper)).any():
            return None
        return tuple(np.minimum(index, self.shape - 1).tolist())

    def lookup(self, position: np.ndarray) -> np.ndarray | None:
        """The (1, 3, 3) matrix OrientationField.lookup returns for one position, None outside the atlas."""
        key = self.voxel(position)
        if key is None:
            return None
        matrix = self.matrices.get(key)
        if matrix is None:
            matrix = self.matrices[key] = self.field.lookup(position)
        return matrix


def orientation_field(path: str) -> Orientations:
    """The atlas orientation field, loaded once per process."""
    if path not in _ORIENTATIONS:
        _ORIENTATIONS[path] = Orientations(path)
    return _ORIENTATIONS[path]


@dataclass
class Mesh:
    """A mesh as trimesh loads it, with region-grower's ray engine (triangle tests, no embree)."""

    mesh: object
    intersector: object


def load_mesh(path: str) -> Mesh:
    """Load a mesh once per process (region-grower reloads it for every cell; the geometry is the same)."""
    if path not in _MESHES:
        import trimesh
        from trimesh.ray.ray_triangle import RayMeshIntersector

        mesh = trimesh.load_mesh(path)
        _MESHES[path] = Mesh(mesh, RayMeshIntersector(mesh))
    return _MESHES[path]


# --------------------------------------------------------------------------- probabilities
class _Shared:
    """NeuroTS deep-copies its context for every tree and section: these probabilities are pure
    functions of their arguments, so sharing them is exact (and avoids copying meshes and atlases)."""

    def __deepcopy__(self, memo):
        return self


class DirectionProbability(_Shared):
    """Section probability of a `directions` rule (spec §7)."""

    def __init__(self, rule: dict, orientation_path: str, soma_position, soma_depth, layer_depths):
        self.rule = rule
        self.orientation_path = orientation_path
        self.soma_position = soma_position
        self.soma_depth = soma_depth
        self.layer_depths = layer_depths

    def __call__(self, seg_direction, current_point):
        params = self.rule["params"]
        matrix = orientation_field(self.orientation_path).lookup(current_point)
        if matrix is None:
            return 1.0  # outside the atlas
        target = np.dot(matrix, params["direction"])[0]
        power = params.get("power", 1.0)
        layers = params.get("layers", [])
        if layers:
            depth = self.soma_depth + (self.soma_position - current_point).dot(self.rule["y_direction"])
            depths = self.layer_depths
            if depths is None or not any(depths[layer - 1] < depth < depths[layer] for layer in layers):
                return 1.0
        if params.get("mode", "parallel") == "parallel":
            p = (1.0 - np.arccos(seg_direction.dot(target)) / np.pi) ** power
        else:
            p = (1.0 - abs(np.arccos(seg_direction.dot(target)) / np.pi * 2.0 - 1.0)) ** power
        if np.isnan(p):
            return 1.0
        return np.clip(p, 0, 1)


@dataclass
class Grid:
    """Voxel size and offset of the atlas, for voxel-coordinate meshes."""

    voxel_dimensions: np.ndarray
    offset: np.ndarray

    def to_indices(self, positions):
        """region-grower's positions_to_indices (fractional, unchecked)."""
        return (positions - self.offset) / self.voxel_dimensions

    def to_positions(self, indices):
        """region-grower's indices_to_positions."""
        return indices * self.voxel_dimensions + self.offset


class RepulsiveProbability(_Shared):
    """`(dist - d_min) / (d_max - max(0, d_min)) ** power`: only the denominator is powered (RG-11)."""

    def __init__(self, mesh: Mesh, voxel: bool, grid: Grid, params: dict):
        self.mesh, self.voxel, self.grid, self.params = mesh, voxel, grid, params

    def distance(self, ray_direction, ray_origin) -> float:
        """Distance to the first hit trimesh reports along the ray (inf without one), in um."""
        if self.voxel:
            ray_origin = self.grid.to_indices(ray_origin)
        locations = self.mesh.intersector.intersects_location(ray_origins=[ray_origin], ray_directions=[ray_direction])[
            0
        ]
        if not len(locations):
            return np.inf
        intersect = locations[0]
        if self.voxel:
            intersect = self.grid.to_positions(intersect)
            ray_origin = self.grid.to_positions(ray_origin)
        return np.linalg.norm(intersect - ray_origin)

    def __call__(self, direction, current_point):
        params = self.params
        dist = self.distance(direction, current_point)
        p = (dist - params.get("d_min", 0)) / (params.get("d_max", 100) - max(0, params.get("d_min", 0))) ** params.get(
            "power", 1.5
        )
        return np.clip(p, 0, 1)


class AttractiveProbability(RepulsiveProbability):
    """1 inside the mesh; otherwise favours directions towards the closest mesh point within (d_min, d_max)."""

    def __call__(self, direction, current_point):
        import trimesh

        params = self.params
        point = self.grid.to_indices(current_point) if self.voxel else current_point
        if self.mesh.intersector.contains_points([point])[0]:
            return 1.0
        closest = trimesh.proximity.closest_point(self.mesh.mesh, [point])[0][0]
        if self.voxel:
            closest = self.grid.to_positions(closest)
        mesh_direction = closest - current_point
        distance = np.linalg.norm(mesh_direction)
        if params.get("d_min", 0) < distance < params.get("d_max", 100):
            p = (1 - np.arccos(direction.dot(mesh_direction) / distance) / np.pi) ** params.get("power", 1.0)
            return np.clip(p, 0, 1)
        return 1.0


# --------------------------------------------------------------------------- per cell
@dataclass
class CellRules:
    """A cell's rules and the atlas data they need. `mesh` is region-grower's per-cell "current mesh":
    a rule whose folder gives no mesh (inside / territories) reuses the previous one, across attempts."""

    directions: list
    boundaries: list
    mclass: object
    orientation_path: str
    grid: Grid
    glomerulus_id: int = -1
    mesh: Mesh | None = field(default=None, repr=False)


def _select_mesh(rule: dict, rules: CellRules, soma_position: np.ndarray) -> tuple[Mesh | None, str | None]:
    """The mesh a boundary rule uses (folder: by multimesh_mode), and its name for folders."""
    import trimesh

    path = Path(rule["path"])
    if not path.is_dir():
        return load_mesh(str(path)), None
    voxel = rule.get("mesh_type", "voxel") == "voxel"
    soma = rules.grid.to_indices(soma_position) if voxel else soma_position
    mode = rule.get("multimesh_mode", "closest")
    # Sorted, where region-grower takes the folder's listing order: the choice differs only on exact ties.
    paths = sorted(p for p in path.iterdir())
    if mode == "closest":
        meshes = [load_mesh(str(p)) for p in paths]
        distances = [trimesh.proximity.closest_point(m.mesh, [soma])[1][0] for m in meshes]
        best = int(np.argmin(distances))
        return meshes[best], paths[best].stem
    if mode == "closest_y":
        meshes = [load_mesh(str(p)) for p in paths]
        distances = [np.linalg.norm(np.cross(soma - m.mesh.center_mass, rule["direction"])) for m in meshes]
        best = int(np.argmin(distances))
        return meshes[best], paths[best].stem
    if mode == "inside":
        for p in paths:
            mesh = load_mesh(str(p))
            if mesh.intersector.contains_points([soma])[0]:
                return mesh, None
        return None, None
    if rules.glomerulus_id >= 0:  # territories
        return load_mesh(str(path / f"glomeruli_{rules.glomerulus_id:03d}.obj")), None
    return None, None


def constraints(rules: CellRules, mtype: str, u_c, soma_position, soma_depth, layer_depths) -> list[dict]:
    """NeuroTS `constraints` of one attempt: the direction rules, then the boundary rules, that apply."""
    y_direction = np.asarray(u_c).tolist()
    out = []
    for rule in rules.directions:
        if not applies(rule, mtype, rules.mclass):
            continue
        rule = copy.deepcopy(rule)
        rule["y_direction"] = y_direction
        rule["section_prob"] = DirectionProbability(
            rule, rules.orientation_path, soma_position, soma_depth, layer_depths
        )
        out.append(rule)
    for rule in rules.boundaries:
        if not applies(rule, mtype, rules.mclass):
            continue
        rule = copy.deepcopy(rule)
        if rule.get("multimesh_mode", "closest") == "closest_y":
            rule["direction"] = y_direction
        mesh, name = _select_mesh(rule, rules, soma_position)
        if name is not None:
            rule["mesh_name"] = name
        if mesh is not None:
            rules.mesh = mesh
        if rules.mesh is not None:
            kind = AttractiveProbability if rule.get("mode", "repulsive") == "attractive" else RepulsiveProbability
            voxel = rule.get("mesh_type", "voxel") == "voxel"
            for key, prob in (("params_section", "section_prob"), ("params_trunk", "trunk_prob")):
                if key in rule:
                    rule[prob] = kind(rules.mesh, voxel, rules.grid, rule[key])
        out.append(rule)
    return out
