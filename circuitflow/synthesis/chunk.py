"""Synthesize one chunk of cells: grow, write morphology files, return the chunk's result table."""

from __future__ import annotations

import gc
import json
import logging
from pathlib import Path

import morphio
import numpy as np
from threadpoolctl import threadpool_limits

import circuitflow.synthesis.lazy  # noqa: F401,I001  (first: defers pandas and voxcell, which a chunk job does not use)
from circuitflow.io.atomic import write_json
from circuitflow.io.morphology import (
    CONTAINER_FOLDER,
    NRN_EXTENSIONS,
    morphology_name,
    morphology_property,
    nrn_section_ids,
    write_morphology,
)
from circuitflow.progress import progress
from circuitflow.synthesis import atlas
from circuitflow.synthesis.context_rules import CellRules, Grid, has_rules
from circuitflow.synthesis.donors import donor_path
from circuitflow.synthesis.engine import STATS as ENGINE_STATS
from circuitflow.synthesis.engine import self_check
from circuitflow.synthesis.grow import DROP_ERRORS, CellContext, frozen_json, grow_cell
from circuitflow.synthesis.prepare import chunk_cells, chunk_payload

L = logging.getLogger(__name__)

SEED_MODULUS = 2**32


def cell_seed(seed: int, cell_id: int) -> int:
    """Per-cell seed: (master seed + cell id) mod 2^32, independent of chunking."""
    return (seed + cell_id) % SEED_MODULUS


def synthesize_one(cell: CellContext, cell_id: int, options: dict, morph_dir: str, engine: str = "compiled") -> dict:
    """Grow, write and describe one cell; a dropped cell gets null results and its error."""
    seed = cell_seed(options["seed"], cell_id)
    name = morphology_name(seed)
    prop = morphology_property(name, options.get("hashed_depth"))
    try:
        result = grow_cell(cell, seed, engine)
    except DROP_ERRORS as exc:
        L.error("Skip %s because of the following error: %s", cell_id, exc)
        return {"id": cell_id, "name": None, "error": f"{type(exc).__name__}: {exc}"}
    morph = morphio.mut.Morphology(result.neuron, options=morphio.Option.nrn_order)
    extensions = list(options["out_morph_ext"])
    paths = write_morphology(morph, morph_dir, prop, extensions)
    if options.get("container") and "h5" not in extensions:
        write_morphology(morph, Path(morph_dir, CONTAINER_FOLDER), prop, ["h5"])
    nrn = None
    if options.get("out_apical_nrn_sections"):
        first = next(p for p in paths if p.suffix[1:] in NRN_EXTENSIONS)
        nrn = nrn_section_ids(first, result.apical_points)
    record = {
        "id": cell_id,
        "name": prop,
        "apical_points": [np.asarray(p, dtype=np.float32).astype(float).tolist() for p in result.apical_points],
        "apical_sections": [int(s) for s in result.apical_sections],
        "apical_NRN_sections": nrn,
        "error": None,
    }
    if options.get("out_debug_data"):
        record["debug_infos"] = json.loads(json.dumps(result.debug_infos, default=_plain))
    return record


def _plain(value):
    """JSON fallback for numpy values in debug infos."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def row_of(columns: dict, k: int) -> dict:
    """Row `k` of a table given as columns."""
    return {name: column[k] for name, column in columns.items()}


def cell_rules(row, cache_row, structure: dict, atlas_dir: str, grid) -> CellRules | None:
    """The cell's directions/boundaries rules when its region block has any (upstream: atlas_info set)."""
    block = structure.get(cache_row["synthesis_region"])
    if not has_rules(block):
        return None
    return CellRules(
        directions=block.get("directions") or [],
        boundaries=block.get("boundaries") or [],
        mclass=row.get("mclass"),
        orientation_path=str(Path(atlas_dir) / "orientation.nrrd"),
        grid=grid,
        glomerulus_id=int(cache_row["glomerulus_id"]),
    )


def build_context(row, cache_row, entry: dict, options: dict, cortical: dict, axon_path) -> CellContext:
    """The CellContext of one cell from its cells row, atlas cache row and parameter entry."""
    return CellContext(
        position=np.array([row["x"], row["y"], row["z"]], dtype=float),
        orientation=np.asarray(cache_row["orientation"]),
        mtype=row["mtype"],
        current_depth=float(cache_row["current_depth"]),
        layer_depths=cache_row["layer_depths"],
        cortical_depths=cortical.get(cache_row["synthesis_region"]),
        params=entry["parameters"],
        distributions=entry["distributions"],
        axon_path=axon_path,
        axon_scale=None,
        rotational_jitter_std=options.get("rotational_jitter_std"),
        scaling_jitter_std=options.get("scaling_jitter_std"),
        min_hard_scale=options.get("min_hard_scale", 0.2),
        with_debug=bool(options.get("out_debug_data")),
    )


def shared_entry(entry: dict | None) -> dict | None:
    """A TMD entry whose lists of numbers all cells of the chunk share (grow.FrozenList), copied once."""
    if entry is None:
        return None
    return {key: frozen_json(value) for key, value in entry.items()}


def write_chunk_table(path: str, chunk_index: int, results: list[dict]) -> None:
    """Write a chunk's result table, rows in cell-id order (whichever ranks produced them)."""
    write_json(path, {"chunk": chunk_index, "cells": sorted(results, key=lambda r: r["id"])}, sort_keys=True)


def synthesize_chunk(
    section: dict,
    chunk_index: int,
    rows: tuple[int, int],
    atlas_cache: str,
    options: dict,
    morph_dir: str,
    ranks: tuple[int, int] = (0, 1),
    engine: str = "compiled",
) -> list[dict]:
    """Synthesize this rank's strided share of a chunk's cells (ids rows[0] to rows[1] - 1); return
    their result records. Only those rows of the cells file, donor table and atlas cache are read."""
    start, stop = rows
    cache, attrs = atlas.read_atlas_cache(atlas_cache, start, stop)
    if list(cache["cell_id"]) != list(range(start, stop)):
        raise atlas.AtlasError(f"{atlas_cache}: the rows [{start}, {stop}) are not those cells' (stale cache?)")
    cells, tmd_params, tmd_distribs = chunk_cells(section, rows, cache["synthesis_region"])
    grafting = section.get("morph_axon") is not None
    chunk = chunk_payload(cells, tmd_params, tmd_distribs, chunk_index, grafting)
    records = chunk["cells"]
    Path(morph_dir).mkdir(parents=True, exist_ok=True)
    if not records:
        return []
    structure = atlas.load_region_structure(section["region_structure"])
    cortical = atlas.cortical_depths(structure)
    grid = Grid(attrs["voxel_dimensions"], attrs["offset"])
    rank, size = ranks
    L.info(
        "chunk %s: rank %d of %d grows %d of %d cells",
        chunk["chunk"],
        rank,
        size,
        len(records[rank::size]),
        len(records),
    )
    entries = {name: shared_entry(entry) for name, entry in chunk["entries"].items()}
    results = []
    mine = records[rank::size]
    # One BLAS thread: the per-cell BLAS calls are tiny (3x3 products, a KDE's 1x1 triangular solve), and
    # waking BLAS threads for each cost more than the work (a cell's scipy gaussian_kde evaluation took
    # 8-30 ms instead of 0.5 ms while the other cores were busy). At these sizes OpenBLAS computes each
    # result in one thread either way, so the numbers do not change.
    with threadpool_limits(limits=1, user_api="blas"):
        for record in progress(mine, f"chunk {chunk['chunk']}", always=True, mininterval=5, unit="cell"):
            cell_id = record["id"]
            if record["excluded"]:
                results.append({"id": cell_id, "name": None, "error": "excluded: N/A axon donor"})
                continue
            axon = None
            if record["axon_name"] is not None:
                axon = donor_path(options["base_morph_dir"], record["axon_name"])
            entry = entries[f"{record['key']}|{record['mtype']}"]
            row, cache_row = row_of(cells, cell_id - start), row_of(cache, cell_id - start)
            context = build_context(row, cache_row, entry, options, cortical, axon)
            context.axon_scale = record["axon_scale"]
            context.rules = cell_rules(row, cache_row, structure, section["atlas"], grid)
            results.append(synthesize_one(context, cell_id, options, morph_dir, engine))
    L.info("chunk %s: growth attempts by engine path: %s", chunk["chunk"], dict(sorted(ENGINE_STATS.items())))
    return results


def ready_to_grow(engine: str) -> None:
    """Before a job's first cell: load the compiled engine's kernels (numba, its self-check); then, if the job's
    script turned garbage collection off while it imported, move every object so far (modules, functions,
    classes: none of them garbage) to the collector's permanent generation and turn it back on. The collector
    skips the ~10^5 objects of the imports then, in them and in growth: ~0.1-0.2 s of CPU a job."""
    if engine == "compiled":
        self_check()
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def synthesize_chunk_job(
    section: dict,
    chunk_index: int,
    rows: tuple[int, int],
    atlas_cache: str,
    options: dict,
    morph_dir: str,
    out: str,
    use_mpi: bool = False,
    engine: str = "compiled",
) -> None:
    """Rule synthesis_chunk: grow one chunk (split over the MPI ranks with `use_mpi`); rank 0 writes its table."""
    from circuitflow.mpi import run_shared

    ready_to_grow(engine)
    results = run_shared(
        lambda rank, size: synthesize_chunk(
            section, chunk_index, rows, atlas_cache, options, morph_dir, (rank, size), engine
        ),
        use_mpi,
    )
    if results is not None:
        write_chunk_table(out, chunk_index, results)
