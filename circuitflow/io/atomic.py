"""Outputs written under a temporary name, synced, checked and renamed into place, so neither a killed job
nor a full disk ever leaves a file a re-run trusts."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Callable, Iterator

import h5py

from circuitflow.errors import CircuitflowError

#: errno values that mean "the data did not reach the disk" (as opposed to a bad input path).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS})
#: How HDF5 (h5py, morphio's HighFive) reports such failures in messages without an errno.
WRITE_FAILURE_TEXT = (
    "No space left on device",
    "Disk quota exceeded",
    "Write failed",
    "write failed",
    "Can't write data",
)


class OutputWriteError(CircuitflowError, OSError):
    """An output could not be written completely (full disk, I/O error, a writer that failed silently)."""


class IncompleteWrite(Exception):
    """Raised by an atomic_path `check`: the temporary file is not what was written (the reason is the message)."""


def tmp_name(path: str | os.PathLike) -> Path:
    """The hidden temporary name `path` is written under (same folder and suffix, so writers keep the format)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


def is_write_failure(exc: BaseException) -> bool:
    """True if `exc` says written data did not reach the disk (ENOSPC, EIO, quota...)."""
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
        return True
    return isinstance(exc, (OSError, RuntimeError)) and any(t in str(exc) for t in WRITE_FAILURE_TEXT)


def write_failure_reason(exc: BaseException) -> str:
    """A short reason for a write failure: the errno's text when there is one, else the message's first line."""
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
        return os.strerror(exc.errno)
    for text in WRITE_FAILURE_TEXT:
        if text in str(exc):
            return text
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def disk_full_hint(folder: Path) -> str:
    """'; no space left on device' when `folder`'s file system is full (the likely cause of a silent failure)."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return ""
    return "; no space left on device" if stat.f_bavail * stat.f_frsize < 64 * 1024 else ""


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a written file to disk (raises the write error a full or failing disk deferred until now)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems refuse fsync on folders; only a write error matters
        if exc.errno in WRITE_ERRNOS:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, check: Callable[[Path], None] | None = None, sync: bool = True
) -> Iterator[Path]:
    """Yield a temporary name to write; if the block succeeds, fsync it (unless not `sync`), run `check(tmp)`
    (raising IncompleteWrite if the file is not what was written) and rename it to `path`; otherwise remove it.
    A full disk or I/O error while writing is an OutputWriteError naming `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    try:
        yield tmp
        if sync:
            fsync_file(tmp)
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
        if sync:
            fsync_dir(path.parent)
    except OutputWriteError:  # from a nested atomic write: it names its own file
        raise
    except IncompleteWrite as exc:
        raise OutputWriteError(f"{path}: not written completely: {exc}{disk_full_hint(path.parent)}") from exc
    except (OSError, RuntimeError) as exc:
        if is_write_failure(exc):
            raise OutputWriteError(f"{path}: not written: {write_failure_reason(exc)}") from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)  # only there if the block failed


def check_h5(path: Path) -> None:
    """Raise IncompleteWrite unless HDF5 opens `path` (a file cut short fails HDF5's end-of-file check)."""
    try:
        with h5py.File(path, "r"):
            pass
    except OSError as exc:
        raise IncompleteWrite(f"HDF5 cannot read it back ({write_failure_reason(exc)})") from exc


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, **kw) -> Iterator[h5py.File]:
    """An HDF5 file open for writing under a temporary name, renamed to `path` only on success and once
    HDF5 reads it back."""
    with atomic_path(path, check=check_h5) as tmp:
        with h5py.File(tmp, "w", **kw) as f:
            yield f


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file under a temporary name and rename it into place."""
    data = text.encode("utf-8")

    def check(tmp: Path) -> None:
        if tmp.stat().st_size != len(data):
            raise IncompleteWrite(f"{tmp.stat().st_size} of {len(data)} bytes on disk")

    with atomic_path(path, check=check) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, data, sort_keys: bool = False) -> None:
    """Write `data` as indented JSON under a temporary name and rename it into place (`sort_keys` for bytes
    that do not depend on insertion order)."""
    write_text(path, json.dumps(data, indent=1, sort_keys=sort_keys))
