"""Morphology files: names, hashed folders, writing, NRN section ids, the HDF5 container."""

from __future__ import annotations

import os
import random
import re
import uuid
from pathlib import Path

import h5py
import morphio
import numpy as np

from circuitflow.errors import CircuitflowError
from circuitflow.io.atomic import IncompleteWrite, atomic_h5, atomic_path

MIN_FILES_PER_DIR = 256
MAX_HASHED_DEPTH = 3
NRN_EXTENSIONS = ("asc", "swc")
#: Marks a morphology folder as written by circuitflow (a re-run may replace it).
MARKER = ".circuitflow-morphologies"
#: Sub-folder of a chunk's folder holding h5 copies for the container when h5 is not an output.
CONTAINER_FOLDER = "container-h5"
#: How MorphIO's asc writer ends every file, and nothing else in it: its signature comment, written last.
ASC_END = re.compile(rb"\n; Created by MorphIO v[^\n;]*\n\Z")
#: Bytes of an asc file's end that hold ASC_END whatever MorphIO's version string.
ASC_TAIL = 256


class MorphologyOutputError(CircuitflowError, ValueError):
    """The requested morphology output layout is not possible."""


def morphology_name(seed: int) -> str:
    """region-grower's name: UUID from a standard-library Mersenne Twister seeded with `seed`."""
    return uuid.UUID(int=random.Random(seed).getrandbits(128)).hex


def hashed_depth(n_files: int, max_files_per_dir: int | None) -> int | None:
    """Number of hashed sub-folder levels (None: flat folder) for `n_files` files."""
    if max_files_per_dir is None or n_files < max_files_per_dir:
        return None
    if max_files_per_dir < MIN_FILES_PER_DIR:
        raise MorphologyOutputError("Less than 256 files per folder is too restrictive.")
    depth = 0
    while max_files_per_dir * 256**depth < n_files:
        depth += 1
    if depth > MAX_HASHED_DEPTH:
        raise MorphologyOutputError("More than three intermediate folders is a bit too much.")
    return depth


def subdirectory(name: str, depth: int | None) -> str:
    """'' without hashing, else 'hashed' followed by the first 2*depth hex digits in pairs."""
    if depth is None:
        return ""
    return str(Path("hashed", *[name[2 * i : 2 * i + 2] for i in range(depth)]))


def morphology_property(name: str, depth: int | None) -> str:
    """The cells-file `morphology` value: sub-folder and name, without extension."""
    return str(Path(subdirectory(name, depth), name))


def neurite_shape(morph: morphio.Morphology) -> tuple[int, int]:
    """(sections, neurite points) of a morphology: what a file cut short cannot keep."""
    return len(morph.sections), len(morph.points)


def read_back_shape(path: str | os.PathLike) -> tuple[int, int]:
    """neurite_shape of a written file, read without printing MorphIO's format warnings (they were printed,
    if at all, when the morphology was made)."""
    return neurite_shape(morphio.Morphology(str(path), warning_handler=morphio.WarningHandlerCollector()))


def morphology_check(expected: tuple[int, int]):
    """An atomic_path check: the written file reads back with MorphIO with `expected` sections and points
    (MorphIO's asc and swc writers return without error on a full disk, its h5 writer sometimes too)."""

    def check(tmp: Path) -> None:
        try:
            found = read_back_shape(tmp)
        except (morphio.MorphioError, RuntimeError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise IncompleteWrite(f"MorphIO cannot read it back ({reason})") from exc
        if found != expected:
            raise IncompleteWrite(
                f"read back {found[0]} sections and {found[1]} points instead of {expected[0]} and {expected[1]}"
            )

    return check


def check_asc_end(tmp: Path) -> None:
    """An atomic_path check for MorphIO's asc files: the file ends with the signature line MorphIO writes last.

    A writer that fails on a full disk (MorphIO's asc writer returns without error) leaves a prefix of the
    file: a stream stops writing at its first failed write. Every prefix lacks at least the final newline of
    that line, which appears nowhere else, so this detects any file cut short while reading a few hundred
    bytes instead of parsing the whole file back (1.5 ms a cell)."""
    with open(tmp, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - ASC_TAIL))
        tail = f.read()
    if not ASC_END.search(tail):
        raise IncompleteWrite(f"it does not end with MorphIO's closing line ({size} bytes on disk)")


def write_morphology(morph: morphio.mut.Morphology, folder: str | os.PathLike, prop: str, extensions) -> list[Path]:
    """Write `morph` once per extension as `<folder>/<prop>.<ext>`: under a temporary name, checked complete,
    then renamed (a full disk is an OutputWriteError naming the file). An asc file is complete when it ends with
    MorphIO's closing line (check_asc_end); swc and h5 files are read back and compared with `morph`. Not fsynced
    one by one (about 7 ms a file on this project's VMs, more than the check): the check is the completeness
    check; durability across a power cut is left to the file system."""
    read_back = None
    paths = []
    for ext in extensions:
        path = Path(folder, f"{prop}.{ext}")
        if ext == "asc":
            check = check_asc_end
        else:
            if read_back is None:
                read_back = morphology_check(neurite_shape(morph.as_immutable()))
            check = read_back
        with atomic_path(path, check=check, sync=False) as tmp:
            morph.write(str(tmp))
        paths.append(path)
    return paths


def nrn_section_ids(path: str | os.PathLike, apical_points) -> list:
    """Index, among apical sections in depth-first order, of the section ending at each apical point."""
    morph = morphio.Morphology(str(path))
    ends = np.array([s.points[-1] for s in morph.iter() if s.type == morphio.SectionType.apical_dendrite]).reshape(
        -1, 3
    )
    result = []
    for point in apical_points:
        point = np.asarray(point, dtype=float)
        match = np.flatnonzero(np.all(np.abs(point - ends) <= 1e-8 + 1e-5 * np.abs(ends), axis=1))
        result.append(int(match[0]) if len(match) else None)
    return result


def write_container(path: str | os.PathLike, entries) -> None:
    """Write an HDF5 container that morphio.Collection opens: one group per (name, h5 file)."""
    with atomic_h5(path) as out:
        for name, h5_path in entries:
            with h5py.File(h5_path, "r") as src:
                group = out.require_group(name)
                for key in src:
                    src.copy(src[key], group, name=key)
