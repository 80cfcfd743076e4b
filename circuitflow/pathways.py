"""Connectivity by mtype pathway -> the Snudda network-config form that detect and prune read."""

from __future__ import annotations

import copy

from circuitflow.detect.sources import type_name
from circuitflow.errors import CircuitflowError
from circuitflow.io.snudda import DEFAULT_PRUNE_SEED, GAP_JUNCTION
from circuitflow.prune.rule_table import PruneConfigError, complete_pruning

REGION = "circuit"


class PathwayError(CircuitflowError, ValueError):
    """A pathway names an unknown mtype, repeats a pair, or cannot be written in Snudda's form."""


def _names(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def expand(pathways: list[dict]) -> dict:
    """{(pre, post): {connection type: parameters}} in config order; a repeated pair is an error."""
    pairs: dict = {}
    for k, pathway in enumerate(pathways):
        types = copy.deepcopy(pathway.get("synapses", {}))
        if "gap_junction" in pathway:
            types[GAP_JUNCTION] = copy.deepcopy(pathway["gap_junction"])
        for pre in _names(pathway["pre"]):
            for post in _names(pathway["post"]):
                if "," in pre or "," in post:
                    raise PathwayError(f"connectome.pathways[{k}]: mtype names cannot hold ',' ({pre!r} -> {post!r})")
                if (pre, post) in pairs:
                    raise PathwayError(f"connectome.pathways[{k}]: pathway {pre} -> {post} is given twice")
                pairs[(pre, post)] = types
    return pairs


def check_mtypes(pathways: list[dict], mtypes, cells_file: str = "the cells file") -> None:
    """Every mtype a pathway names must exist in the circuit (`cells_file`, named when it has no cells)."""
    known = set(mtypes)
    if not known and pathways:
        raise PathwayError(f"synthesis.input_cells: {cells_file} has no cells, so connectome.pathways connect nothing")
    for k, pathway in enumerate(pathways):
        for side in ("pre", "post"):
            unknown = [m for m in _names(pathway[side]) if m not in known]
            if unknown:
                raise PathwayError(
                    f"connectome.pathways[{k}].{side}: unknown mtype(s) {unknown}; the circuit has {sorted(known)}"
                )


def check_pruning(pathways: list[dict]) -> None:
    """Check every pruning rule as pruning will (numbers, `dist_pruning` expressions, gap-junction limits), so
    a bad rule fails at planning, naming its key, instead of after synthesis and detection."""
    for k, pathway in enumerate(pathways):
        types = {f"synapses.{name}": params for name, params in (pathway.get("synapses") or {}).items()}
        if pathway.get("gap_junction") is not None:
            types[GAP_JUNCTION] = pathway["gap_junction"]
        for label, params in types.items():
            for name in ("pruning", "pruning_other"):
                if (params or {}).get(name) is None:
                    continue
                where = f"connectome.pathways[{k}].{label}.{name}"
                try:
                    rule = complete_pruning(where, params[name])
                except PruneConfigError as exc:
                    raise PathwayError("config: " + str(exc).removeprefix("prune config ")) from None
                if label == GAP_JUNCTION and (rule["dist_pruning"] is not None or rule["cluster_pruning"]):
                    raise PathwayError(
                        f"config: {where}: dist_pruning and cluster_pruning are supported for "
                        "synapses only, not gap junctions"
                    )


def _network_config(pairs: dict, keep: tuple[str, ...], seeds: dict, rename=lambda name: name) -> dict:
    connectivity = {
        f"{rename(pre)},{rename(post)}": {
            name: {k: v for k, v in params.items() if k in keep} for name, params in types.items()
        }
        for (pre, post), types in pairs.items()
    }
    return {"random_seed": seeds, "regions": {REGION: {"connectivity": connectivity}}}


def detect_config(pathways: list[dict], seed: int | None) -> dict:
    """What detection needs: which pairs connect, connection types, conductances, channel parameters."""
    seeds = {} if seed is None else {"detect": seed}
    return _network_config(expand(pathways), ("conductance", "channel_parameters"), seeds)


def prune_config(pathways: list[dict], seed: int | None) -> dict:
    """What pruning needs: the pruning rules of every connection type (Snudda's override config)."""
    seeds = {"prune": DEFAULT_PRUNE_SEED if seed is None else seed}
    pairs = expand(pathways)
    for types in pairs.values():
        for params in types.values():
            params.setdefault("pruning", {})  # no rule: every putative synapse is kept
    # detect names the neuron types of a SONATA circuit with '_' written '-' (and renames its rules)
    return _network_config(pairs, ("pruning", "pruning_other"), seeds, rename=type_name)
