"""Gather chunk tables into the output cells file, apical YAMLs, morphology folder and container."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml
from voxcell import CellCollection

from circuitflow.errors import CircuitflowError
from circuitflow.io.atomic import atomic_path
from circuitflow.io.cells import cells_dataframe, identity_orientations, load_cells, save_cells
from circuitflow.io.morphology import CONTAINER_FOLDER, MARKER, write_container

L = logging.getLogger(__name__)


class FinalizeError(CircuitflowError, RuntimeError):
    """The chunk results cannot be combined into a consistent collection."""


def read_chunk_tables(paths) -> pd.DataFrame:
    """All chunk result records, indexed by cell id."""
    records = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            records.extend(json.load(f)["cells"])
    table = pd.DataFrame.from_records(
        records,
        columns=["id", "name", "apical_points", "apical_sections", "apical_NRN_sections", "debug_infos", "error"],
    )
    return table.set_index("id").sort_index()


def drop_summary(cells: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Count dropped cells per reason and per (region, mtype) (RG-9, RG-27)."""
    failed = results[results["name"].isna()]
    if failed.empty:
        return pd.DataFrame(columns=["region", "mtype", "reason", "count"])
    reasons = failed["error"].str.split(":").str[0]
    frame = pd.DataFrame(
        {"region": cells.loc[failed.index, "region"], "mtype": cells.loc[failed.index, "mtype"], "reason": reasons}
    )
    return frame.groupby(["region", "mtype", "reason"], observed=True).size().rename("count").reset_index()


def output_collection(cells: CellCollection, results: pd.DataFrame) -> CellCollection:
    """Input cells with `morphology` set, failed/excluded cells removed, identity orientations."""
    df = cells_dataframe(cells)
    kept = results.index[results["name"].notna()]
    df = df.loc[kept].copy()
    df["morphology"] = results.loc[kept, "name"].to_numpy()
    if len(df) and len(set(df["morphology"])) != len(df):
        counts = Counter(df["morphology"])
        raise FinalizeError(f"two cells share a morphology name: {[n for n, c in counts.items() if c > 1][:5]}")
    df["morphology_producer"] = "synthesis"
    df = df.reset_index(drop=True)
    out = CellCollection.from_dataframe(df, index_offset=0)
    out.population_name = cells.population_name
    out.orientations = identity_orientations(len(df))
    return out


def apical_yaml_data(results: pd.DataFrame) -> tuple[dict, dict]:
    """(apical points, NRN sections) per synthesized cell's morphology name."""
    points, nrn = {}, {}
    kept = results[results["name"].notna()]
    for name, apical_points, nrn_sections in zip(kept["name"], kept["apical_points"], kept["apical_NRN_sections"]):
        first = next((p for p in apical_points if p is not None), None)
        points[name] = None if first is None else [float(v) for v in first]
        nrn[name] = nrn_sections if nrn_sections is not None else []
    return points, nrn


#: Keys that libyaml's emitter writes as the pure-Python one does (4x faster, when PyYAML has it): the morphology
#: names (hex digits, under `hashed/ab/` folders). They differ on others, e.g. keys of 100+ characters or empty ones.
SIMPLE_KEY = re.compile(r"[0-9a-z_/]{1,64}")


def write_yaml(path: str | os.PathLike, data: dict) -> None:
    """PyYAML dump with defaults (sorted keys, block style), via a temporary name."""
    simple = all(isinstance(key, str) and SIMPLE_KEY.fullmatch(key) for key in data)
    dumper = getattr(yaml, "CDumper", yaml.Dumper) if simple else yaml.Dumper
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yaml.dump(data, f, Dumper=dumper)


def link_morphologies(chunk_dirs, morph_dir: str | os.PathLike) -> None:
    """Hard-link (or copy) every chunk's morphology files into the final folder (not the chunks' h5 copies
    for the container, nor hidden files such as Snakemake's timestamps)."""
    os.makedirs(morph_dir, exist_ok=True)
    for chunk_dir in map(os.fspath, chunk_dirs):
        for folder, subfolders, files in os.walk(chunk_dir):
            top = folder == chunk_dir
            if top:
                subfolders[:] = [d for d in subfolders if d != CONTAINER_FOLDER]
            target = os.path.join(morph_dir, os.path.relpath(folder, chunk_dir))
            names = [n for n in files if not n.startswith(".") and not (top and n == CONTAINER_FOLDER)]
            if names:
                os.makedirs(target, exist_ok=True)
            for name in names:
                src, dst = os.path.join(folder, name), os.path.join(target, name)
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copy2(src, dst)


def finalize(
    cells_path: str,
    chunk_tables,
    chunk_dirs,
    out_cells: str,
    out_format: str,
    morph_dir: str,
    apical: str,
    apical_nrn: str | None,
    extensions,
    container: str | None = None,
    debug_data: str | None = None,
) -> CellCollection:
    """Combine chunk results into every synthesis output."""
    cells = load_cells(cells_path)
    results = read_chunk_tables(chunk_tables)
    df = cells_dataframe(cells)
    if len(results) != len(df) or not results.index.equals(df.index):
        raise FinalizeError(f"chunk tables cover {len(results)} cells, the cells file has {len(df)}")
    summary = drop_summary(df, results)
    if not summary.empty:
        L.warning("Dropped cells per reason and (region, mtype):\n%s", summary.to_string(index=False))
    Path(morph_dir).mkdir(parents=True, exist_ok=True)
    Path(morph_dir, MARKER).touch()
    if results["name"].notna().any():
        out = output_collection(cells, results)
        link_morphologies(chunk_dirs, morph_dir)
    else:
        if len(df):
            L.warning("Every cell was excluded or failed: writing an empty collection")
            out = output_collection(cells, results)
        else:
            L.warning("The population to synthesize is empty!")
            out = cells
    save_cells(out, out_cells, out_format)
    points, nrn = apical_yaml_data(results)
    write_yaml(apical, points)
    if apical_nrn:
        write_yaml(apical_nrn, nrn)
    if debug_data:
        with atomic_path(debug_data) as tmp:
            df.join(results).to_pickle(tmp)
    if container:
        names = out.as_dataframe(index_offset=0)["morphology"].tolist() if len(out.positions) else []
        ext_dir = Path(morph_dir) if "h5" in extensions else None
        entries = []
        for name in names:
            if ext_dir is not None:
                entries.append((name, ext_dir / f"{name}.h5"))
            else:
                entries.append((name, _container_source(chunk_dirs, name)))
        write_container(container, entries)
    return out


def _container_source(chunk_dirs, name: str) -> Path:
    for chunk_dir in chunk_dirs:
        path = Path(chunk_dir, CONTAINER_FOLDER, f"{name}.h5")
        if path.is_file():
            return path
    raise FinalizeError(f"no h5 copy of morphology {name} for the container")
