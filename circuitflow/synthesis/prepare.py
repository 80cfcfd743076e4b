"""The steps before growth: option checks, atlas cache, parameter validation into per-chunk inputs."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from circuitflow.io.atomic import write_json
from circuitflow.io.cells import cells_dataframe, load_cell_rows, load_cells
from circuitflow.io.morphology import MARKER, NRN_EXTENSIONS, hashed_depth
from circuitflow.synthesis import atlas, context_rules, donors, params
from circuitflow.synthesis.options import SynthesisConfigError, check_upstream_keys

L = logging.getLogger(__name__)


def check_options(section: dict, n_cells: int) -> int | None:
    """Option checks that need no data (upstream order); return the hashed folder depth."""
    extensions = section["out_morph_ext"]
    if section.get("out_apical_nrn_sections") and not set(extensions) & set(NRN_EXTENSIONS):
        raise SynthesisConfigError(
            "synthesis.out_morph_ext: The 'out_morph_ext' parameter must contain one of "
            f'["asc", "swc"] when \'with_NRN_sections\' is set to True (current value is {list(extensions)}).'
        )
    for key in ("tmd_parameters", "tmd_distributions", "region_structure", "input_cells"):
        if not Path(section[key]).is_file():
            raise SynthesisConfigError(f"synthesis.{key}: file not found: {section[key]}")
    if not Path(section["atlas"]).is_dir():
        raise SynthesisConfigError(f"synthesis.atlas: not a folder: {section['atlas']}")
    if section.get("morph_axon") is not None:
        if section.get("synthesize_axons"):
            raise SynthesisConfigError("synthesis.morph_axon: axon grafting needs synthesize_axons: false")
        if section.get("base_morph_dir") is None:
            raise SynthesisConfigError("synthesis.base_morph_dir: required with morph_axon")
        if not Path(section["morph_axon"]).is_file():
            raise SynthesisConfigError(f"synthesis.morph_axon: file not found: {section['morph_axon']}")
        if not Path(section["base_morph_dir"]).is_dir():
            raise SynthesisConfigError(f"synthesis.base_morph_dir: not a folder: {section['base_morph_dir']}")
    try:
        return hashed_depth(n_cells * len(extensions), section.get("max_files_per_dir"))
    except ValueError as exc:
        raise SynthesisConfigError(f"synthesis.max_files_per_dir: {exc}") from None


def n_auto_chunks(n_cells: int, min_chunks: int, min_chunk_size: int, max_chunk_size: int) -> int:
    """Chunks of the automatic chunking: at least `min_chunks` while each keeps `min_chunk_size` cells,
    and as many as needed for at most `max_chunk_size` cells each (this wins), and at least one."""
    return max(1, math.ceil(n_cells / max_chunk_size), min(min_chunks, n_cells // min_chunk_size))


def chunk_bounds(n_cells: int, section: dict) -> list[tuple[int, int]]:
    """[start, stop) of the cells of every chunk job, from the cell count and the config only.

    `chunk_size` set: chunks of exactly that many cells (the last one shorter). Otherwise balanced
    chunks (sizes differ by at most one cell; 1,054 cells never become 1,000 + 54) whose count follows
    the cells (`n_auto_chunks`). Never the core count, so a laptop and a cluster plan the same jobs.
    There is always one chunk, empty for an empty cells file.
    """
    size = section.get("chunk_size")
    if size is not None:
        return [(lo, min(lo + size, n_cells)) for lo in range(0, max(n_cells, 1), size)]
    k = n_auto_chunks(n_cells, section["min_chunks"], section["min_chunk_size"], section["max_chunk_size"])
    return [(i * n_cells // k, (i + 1) * n_cells // k) for i in range(k)]


#: The keys that decide the chunking (see chunk_bounds).
CHUNK_KEYS = ("chunk_size", "min_chunks", "min_chunk_size", "max_chunk_size")


def load_parameters(section: dict) -> tuple[dict, dict]:
    """Load, rename, prepare grow types and merge defaults of parameters and distributions."""
    tmd_params = params.load_tmd_file(section["tmd_parameters"], "tmd_parameters")
    tmd_distribs = params.load_tmd_file(section["tmd_distributions"], "tmd_distributions")
    params.prepare_grow_types(tmd_params, section.get("synthesize_axons", False))
    return params.merge_defaults(tmd_params), params.merge_defaults(tmd_distribs)


#: The cell properties a chunk job reads (besides x, y, z).
CHUNK_PROPERTIES = ("region", "mtype", "mclass")


def cell_table(section: dict) -> tuple[pd.DataFrame, dict, dict, dict]:
    """Cells (region, mtype, synthesis_region, axon_name, axon_scale), region structure, TMD data."""
    structure = atlas.load_region_structure(section["region_structure"])
    cells = cells_dataframe(load_cells(section["input_cells"]))
    mapping, _ = atlas.region_mapper(structure, Path(section["atlas"]) / "hierarchy.json", cells["region"])
    cells["synthesis_region"] = [mapping.get(r, "default") for r in cells["region"]]
    tmd_params, tmd_distribs = load_parameters(section)
    if section.get("morph_axon") is not None:
        cells = cells.join(donors.load_donor_table(section["morph_axon"], cells.index.to_numpy()))
    else:
        cells["axon_name"] = None
        cells["axon_scale"] = np.nan
    return cells, structure, tmd_params, tmd_distribs


def table_columns(cells: pd.DataFrame) -> dict:
    """A cell table as the columns `cell_records` reads: the cell ids under "id", then its own columns."""
    return {"id": cells.index, **{name: cells[name] for name in cells.columns}}


def chunk_cells(section: dict, rows: tuple[int, int], synthesis_regions: list[str]) -> tuple[dict, dict, dict]:
    """A chunk job's cells as numpy columns (id, x, y, z, CHUNK_PROPERTIES, synthesis_region, axon_name,
    axon_scale) and the TMD data: only rows [start, stop) of the cells file and donor table are read, and
    the synthesis regions are the atlas cache's (`region_mapper`'s, computed for every cell once)."""
    start, stop = rows
    cells = load_cell_rows(section["input_cells"], start, stop, CHUNK_PROPERTIES)
    cells["id"] = np.arange(start, start + len(cells["x"]))
    cells["synthesis_region"] = list(synthesis_regions)
    if section.get("morph_axon") is not None:  # (reads the table with pandas)
        table = donors.donor_rows(section["morph_axon"], cells["id"])
        cells.update({name: table[name].to_numpy() for name in ("axon_name", "axon_scale")})
    else:
        cells["axon_name"] = np.full(len(cells["id"]), None, dtype=object)
        cells["axon_scale"] = np.full(len(cells["id"]), np.nan)
    tmd_params, tmd_distribs = load_parameters(section)
    return cells, tmd_params, tmd_distribs


def check_parameters(section: dict) -> tuple[pd.DataFrame, dict, dict, list]:
    """Every check on cells, TMD data and donors (region-grower's order); returns what passed."""
    cells, structure, tmd_params, tmd_distribs = cell_table(section)
    params.verify(cells, tmd_params, tmd_distribs, structure)
    excluded: list = []
    if section.get("morph_axon") is not None:
        excluded = donors.check_na_ratio(cells["mtype"], cells["axon_name"], section.get("max_drop_ratio", 0.0))
        missing = donors.missing_donors(section["base_morph_dir"], cells["axon_name"].dropna())
        if missing:
            L.warning("Missing axon donor files (these cells will be dropped): %s", missing)
    for warning in context_rules.rule_warnings(structure):
        L.warning("region_structure: %s", warning)
    couples = params.inconsistent_context(cells.drop(index=excluded), tmd_params, tmd_distribs, structure)
    if couples:
        L.warning(
            "The morphologies with the following region/mtype couples have inconsistent context and constraints: %s",
            couples,
        )
    return cells, tmd_params, tmd_distribs, excluded


def normalized_parameters(cells: pd.DataFrame, tmd_params: dict, tmd_distribs: dict, excluded: list) -> dict:
    """The normalized parameters: every (region, mtype) entry the cells use, and the excluded cells."""
    keys = [params.json_key(s, r, tmd_distribs) for s, r in zip(cells["synthesis_region"], cells["region"])]
    pairs = sorted(set(zip(keys, cells["mtype"])))
    return {
        "entries": {f"{k}|{m}": params.entry_for(tmd_params, tmd_distribs, k, m) for k, m in pairs},
        "excluded_cells": [int(i) for i in excluded],
    }


def validate_params(section: dict, out: str, validated: str | os.PathLike | None = None) -> dict:
    """Validate, then write the normalized parameters.

    `validated` is the file in which the workflow's planning stored the same result for the inputs it
    checked (see `checked_digests`): when their signature still matches, it is written as is instead
    of validating again.
    """
    stored = read_validated(validated, section) if validated else None
    if stored is None:
        stored = normalized_parameters(*check_parameters(section))
    write_json(out, stored, sort_keys=True)
    return stored


def read_validated(path: str | os.PathLike, section: dict) -> dict | None:
    """The normalized parameters stored at planning, if `path` holds them for these very inputs."""
    path = Path(path)
    if not path.is_file():
        return None
    stored = json.loads(path.read_text())
    return stored["parameters"] if stored.get("signature") == input_signature(section, chunking=False) else None


def cell_records(rows: dict, tmd_distribs: dict, grafting: bool) -> list[dict]:
    """Each cell's record in a chunk payload: id, tmd key, mtype, donor, excluded (N/A donor); `rows` are
    columns (see `table_columns`, `chunk_cells`)."""
    keys = [params.json_key(s, r, tmd_distribs) for s, r in zip(rows["synthesis_region"], rows["region"])]
    scales = np.asarray(rows["axon_scale"], dtype=float)
    names = np.asarray(rows["axon_name"], dtype=object)
    return [
        {
            "id": int(cell_id),
            "key": key,
            "mtype": mtype,
            "excluded": bool(grafting and name is None),
            "axon_name": name,
            "axon_scale": None if np.isnan(scale) else float(scale),
        }
        for cell_id, key, mtype, name, scale in zip(rows["id"], keys, rows["mtype"], names, scales)
    ]


def chunk_payload(rows: dict, tmd_params: dict, tmd_distribs: dict, chunk: int, grafting: bool) -> dict:
    """One chunk's cells (its `rows`, as columns: key, mtype, donor, excluded: N/A donor) and only the TMD
    entries they use."""
    records = cell_records(rows, tmd_distribs, grafting)
    entries = {}
    for key, mtype in sorted({(r["key"], r["mtype"]) for r in records}):
        entry = None
        if mtype in tmd_params.get(key, {}) and mtype in tmd_distribs.get(key, {}):
            entry = params.entry_for(tmd_params, tmd_distribs, key, mtype)
        entries[f"{key}|{mtype}"] = entry
    return {"chunk": chunk, "cells": records, "entries": entries}


def payload_digest(payload: dict) -> str:
    """sha256 of a chunk payload's canonical JSON."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def chunk_structure(structure: dict, rows: pd.DataFrame) -> dict:
    """What a chunk reads from region_structure: its regions' reference depths and the rules (with mesh
    digests) that apply to its cells."""
    mclass = rows["mclass"].tolist() if "mclass" in rows else [None] * len(rows)
    combos = set(zip(rows["synthesis_region"], rows["mtype"], mclass))
    cortical = atlas.cortical_depths(structure)
    return {
        "cortical_depths": {r: cortical.get(r) for r in sorted(set(rows["synthesis_region"]))},
        "rules": context_rules.rules_payload(structure, combos),
    }


def chunk_donors(base_morph_dir: str, rows: pd.DataFrame) -> dict:
    """{donor name: content digest (None: missing file)} of the donors a chunk's cells graft."""
    names = sorted({n for n in rows["axon_name"] if isinstance(n, str)})
    paths = {n: donors.donor_path(base_morph_dir, n) for n in names}
    return {n: context_rules.file_digest(p) if os.path.isfile(p) else None for n, p in paths.items()}


def chunk_digests(section: dict, cells: pd.DataFrame, tmd_params: dict, tmd_distribs: dict) -> list[str]:
    """Digest of every chunk's inputs: a chunk job carries its own as a param, so that it re-runs
    exactly when its cells, their TMD entries, their donors, their region's reference depths or the
    context rules that apply to them change.

    Each digest is payload_digest() of the chunk's payload with its region_structure, but the JSON of
    a TMD entry (large, shared by many chunks) is encoded once and spliced in: 10^6 cells in 10^4
    chunks would otherwise copy and encode the same entries 10^4 times at every planning.
    """
    grafting = section.get("morph_axon") is not None
    structure = atlas.load_region_structure(section["region_structure"])
    encoded = {}  # "key|mtype" -> JSON text of the entry

    def entry_text(name: str, key: str, mtype: str) -> str:
        if name not in encoded:
            entry = None
            if mtype in tmd_params.get(key, {}) and mtype in tmd_distribs.get(key, {}):
                entry = {"parameters": tmd_params[key][mtype], "distributions": tmd_distribs[key][mtype]}
            encoded[name] = json.dumps(entry, sort_keys=True)
        return encoded[name]

    records = cell_records(table_columns(cells), tmd_distribs, grafting)  # once for all cells, not per chunk
    mclass = cells["mclass"].tolist() if "mclass" in cells else [None] * len(cells)
    combos = list(zip(cells["synthesis_region"].tolist(), cells["mtype"].tolist(), mclass))
    structures = {}  # the chunk's (region, mtype, mclass) combos -> JSON of chunk_structure
    axon_names = cells["axon_name"].tolist()

    @functools.cache
    def donor_digest(name: str) -> str | None:
        return chunk_donors(section["base_morph_dir"], pd.DataFrame({"axon_name": [name]}))[name]

    digests = []
    for i, (lo, hi) in enumerate(chunk_bounds(len(cells), section)):
        mine = records[lo:hi]
        pairs = {f"{r['key']}|{r['mtype']}": (r["key"], r["mtype"]) for r in mine}
        entries = ", ".join(f"{json.dumps(name)}: {entry_text(name, *pairs[name])}" for name in sorted(pairs))
        combo = frozenset(combos[lo:hi])
        if combo not in structures:
            structures[combo] = json.dumps(chunk_structure(structure, cells.iloc[lo:hi]), sort_keys=True)
        donor_text = ""
        if grafting:  # as chunk_donors(), each donor file digested once for all chunks
            names = sorted({n for n in axon_names[lo:hi] if isinstance(n, str)})
            donor_text = f'"donors": {json.dumps({n: donor_digest(n) for n in names}, sort_keys=True)}, '
        text = (
            f'{{"cells": {json.dumps(mine, sort_keys=True)}, "chunk": {i}, {donor_text}'
            f'"entries": {{{entries}}}, "region_structure": {structures[combo]}}}'
        )
        digests.append(hashlib.sha256(text.encode()).hexdigest())
    return digests


def input_signature(section: dict, chunking: bool = True) -> list:
    """(path, size, mtime) of every file the chunk digests (or, without `chunking`, the validated
    parameters) depend on, plus the options that matter."""
    keys = ["input_cells", "tmd_parameters", "tmd_distributions", "region_structure", "morph_axon"]
    files = [section[k] for k in keys if section.get(k)] + [str(Path(section["atlas"]) / "hierarchy.json")]
    files += context_rules.mesh_files(atlas.load_region_structure(section["region_structure"]))
    if section.get("morph_axon") and section.get("base_morph_dir") and os.path.isdir(section["base_morph_dir"]):
        with os.scandir(section["base_morph_dir"]) as entries:
            files += sorted(e.path for e in entries if e.name.endswith(".h5"))
    signature = [[f, os.stat(f).st_size, os.stat(f).st_mtime_ns] for f in files]
    options = [bool(section.get("synthesize_axons")), section.get("max_drop_ratio")]
    return signature + ([section.get(k) for k in CHUNK_KEYS] if chunking else []) + options


def checked_digests(section: dict, cache: str | os.PathLike, check: bool) -> tuple[dict, dict]:
    """Per-chunk digests; with `check`, validate everything first.

    Returns the result and the files to store for later (path -> content, see `store_plan`): the
    result under the inputs' signature in `cache`, so that jobs (which re-read the workflow, e.g. on
    SLURM nodes) reuse it instead of re-reading every cell, and the validated parameters, which
    validate_params writes instead of validating the same inputs a second time. Nothing is written
    here: a dry run or a config that fails a later check leaves the output folder untouched.
    """
    cache = Path(cache)
    signature = input_signature(section)
    if not check and cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("signature") == signature:
            return stored["result"], {}
    cells, tmd_params, tmd_distribs, excluded = check_parameters(section)
    result = {"digests": chunk_digests(section, cells, tmd_params, tmd_distribs)}
    validated = {
        "signature": input_signature(section, chunking=False),
        "parameters": normalized_parameters(cells, tmd_params, tmd_distribs, excluded),
    }
    return result, {str(cache): {"signature": signature, "result": result}, str(validated_path(cache)): validated}


def validated_path(cache: str | os.PathLike) -> Path:
    """Where planning stores the normalized parameters it validated, next to the plan cache."""
    return Path(cache).with_name(".validated-parameters.json")


def store_plan(to_store: dict) -> None:
    """Write the files `checked_digests` kept for a real run (path -> content; when jobs are about to start)."""
    for path, content in to_store.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_json(path, content, sort_keys=True)


def check_morphology_folder(morph_dir: str | os.PathLike) -> None:
    """Refuse to let a run wipe a non-empty morphology folder that circuitflow did not write."""
    morph_dir = Path(morph_dir)
    if morph_dir.is_dir() and any(morph_dir.iterdir()) and not (morph_dir / MARKER).exists():
        raise SynthesisConfigError(f"Non-empty morphology output folder '{morph_dir.resolve()}'")


def atlas_inputs(atlas_dir: str, region_structure: str) -> list[str]:
    """The atlas files the synthesis reads (tracked as rule inputs)."""
    structure = atlas.load_region_structure(region_structure)
    layers = {str(layer) for block in structure.values() for layer in block["layers"]}
    names = ["brain_regions", "orientation", "[PH]y"] + [f"[PH]{layer}" for layer in sorted(layers)]
    if context_rules.territories_regions(structure):
        names.append("glomerular_territories")
    files = [str(Path(atlas_dir, "hierarchy.json"))] + [str(Path(atlas_dir, f"{n}.nrrd")) for n in names]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise SynthesisConfigError(f"synthesis.atlas: missing file(s): {missing}")
    return files


def plan(section: dict, out_dir: str) -> dict:
    """What the workflow needs to define its rules: option and file checks, chunks, output names.

    Quick (it reads no TMD data): `checked_digests` validates every input and digests the chunks.
    """
    from circuitflow.io.cells import cells_format, count_cells, load_cells

    check_upstream_keys(section)
    if not Path(section["input_cells"]).is_file():
        raise SynthesisConfigError(f"synthesis.input_cells: file not found: {section['input_cells']}")
    n_cells = count_cells(section["input_cells"])
    depth = check_options(section, n_cells)
    syn_dir = Path(out_dir, "synthesis")
    check_morphology_folder(syn_dir / "morphologies")
    fmt = section.get("out_cells_format") or cells_format(section["input_cells"])
    container = section.get("container_path")
    if container is not None and not os.path.isabs(container):
        container = str(syn_dir / container)
    return {
        "n_cells": n_cells,
        "chunks": chunk_bounds(n_cells, section),
        "hashed_depth": depth,
        "format": fmt,
        "out_cells": str(syn_dir / ("nodes.mvd3" if fmt == "mvd3" else "nodes.h5")),
        "atlas_files": atlas_inputs(section["atlas"], section["region_structure"]),
        "atlas_structure": atlas.cache_structure(atlas.load_region_structure(section["region_structure"])),
        "container": container,
        "mtypes": sorted(pd.unique(load_cells(section["input_cells"]).properties["mtype"]).tolist()),
    }


GROWTH_KEYS = (
    "seed",
    "out_morph_ext",
    "rotational_jitter_std",
    "scaling_jitter_std",
    "min_hard_scale",
    "out_apical_nrn_sections",
    "out_debug_data",
    "base_morph_dir",
)


def growth_options(section: dict, synthesis_plan: dict) -> dict:
    """The options a chunk's growth and file writing depend on (and nothing else)."""
    options = {k: section.get(k) for k in GROWTH_KEYS}
    options["hashed_depth"] = synthesis_plan["hashed_depth"]
    options["container"] = synthesis_plan["container"] is not None
    return options


def optional_outputs(section: dict, synthesis_plan: dict, syn_dir: str) -> dict:
    """Side outputs of the finalize step that exist only when the config asks for them."""
    out = {}
    if section.get("out_apical_nrn_sections"):
        out["apical_nrn"] = f"{syn_dir}/apical_NRN_sections.yaml"
    if synthesis_plan["container"]:
        out["container"] = synthesis_plan["container"]
    if section.get("out_debug_data"):
        out["debug"] = f"{syn_dir}/debug_data.pkl"
    return out
