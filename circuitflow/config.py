"""Config helpers shared by the workflow and the command line: canonical forms and key checks."""

from __future__ import annotations

from typing import Any


def canonical(value: Any) -> Any:
    """Return `value` with every mapping's keys sorted, recursively (stable params for Snakemake)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def file_digest(path: str) -> str:
    """sha256 of a file's bytes (a rule param that re-runs the job when the content changes)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
