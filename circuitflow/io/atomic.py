"""Outputs written under a temporary name and renamed into place, so a killed job never leaves a file a re-run trusts."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

import h5py


def tmp_name(path: str | os.PathLike) -> Path:
    """The hidden temporary name `path` is written under (same folder and suffix, so writers keep the format)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary name to write; rename it to `path` if the block succeeds, remove it if it fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only there if the block failed


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, **kw) -> Iterator[h5py.File]:
    """An HDF5 file open for writing under a temporary name, renamed to `path` only on success."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", **kw) as f:
            yield f


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file under a temporary name and rename it into place."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data, sort_keys: bool = False) -> None:
    """Write `data` as indented JSON under a temporary name and rename it into place (`sort_keys` for bytes
    that do not depend on insertion order)."""
    write_text(path, json.dumps(data, indent=1, sort_keys=sort_keys))
