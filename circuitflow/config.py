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
