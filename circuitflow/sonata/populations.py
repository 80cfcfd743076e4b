"""Names of the SONATA edge populations written by the edges step (light: no numpy or scipy)."""

from __future__ import annotations


def electrical_population(chemical: str) -> str:
    """Gap-junction population name for a chemical one ('a__a__chemical' -> 'a__a__electrical')."""
    stem = chemical[: -len("__chemical")] if chemical.endswith("__chemical") else chemical
    return f"{stem}__electrical"


def default_population(node_population: str) -> str:
    """Default chemical edge population: '<nodes>__<nodes>__chemical'."""
    return f"{node_population}__{node_population}__chemical"
