"""The pruning rule table: parse and validate a Snudda prune config against what detect saw.

Implements spec prune.md §4.1 (rule table), §4.5 (seed) and the decisions P-3, P-5, P-6, P-11,
P-12, P-13, P-16, P-17, P-19 and P-24 of §11.
"""

from __future__ import annotations

import ast
import json
import logging
import math
from pathlib import Path
from typing import Any

from circuitflow.errors import CircuitflowError
from circuitflow.io.snudda import DEFAULT_PRUNE_SEED, GAP_JUNCTION

log = logging.getLogger(__name__)

PRUNING_KEYS = ("a3", "cluster_pruning", "dist_pruning", "f1", "mu2", "soft_max")
SEED_KEYS = ("detect", "init", "input", "master_seed", "masterseed", "place", "project", "prune", "simulate")
LEGACY_PRUNING = {"distPruning": "dist_pruning", "softMax": "soft_max", "clusterPruning": "cluster_pruning"}
LEGACY_TOP = {
    "Connectivity": "regions/<R>/connectivity",
    "Neurons": "regions/<R>/neurons",
    "Volume": "regions/<R>/volume",
    "RandomSeed": "random_seed",
}
EXPRESSION_NAMES = {"d", "r"}


class PruneConfigError(CircuitflowError, ValueError):
    """The prune config is invalid or asks for something detect did not produce."""


def load_config(path: str | Path) -> dict:
    """Load a JSON prune config, failing with a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise PruneConfigError(f"{path}: prune config does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PruneConfigError(f"{path}: not valid JSON ({exc})") from None


def _norm(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _unknown(where: str, key: str, allowed: tuple[str, ...], legacy: dict[str, str] | None = None) -> PruneConfigError:
    hint = ""
    if legacy and key in legacy:
        hint = f" (legacy name of '{legacy[key]}')"
    return PruneConfigError(f"prune config {where}: unknown key '{key}'{hint}; allowed: {', '.join(allowed)}")


#: The numeric pruning values and their allowed ranges: the rules of config/schema.connectome.yaml's
#: `$defs/pruning` (a test keeps the two equal), except mu2, which must be > 0 (P-13), not >= 0.
NUMBER_RANGES = {"f1": (0, 1), "soft_max": (0, None), "mu2": (0, None), "a3": (0, 1)}


def _number(where: str, key: str, value: Any) -> float | None:
    """A pruning value: null, or a number within NUMBER_RANGES[key] (strings and booleans are errors)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise PruneConfigError(f"prune config {where}/{key}: must be a number or null, got {value!r}")
    low, high = NUMBER_RANGES[key]
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise PruneConfigError(f"prune config {where}/{key}: must be {bounds}, got {value!r}")
    return float(value)


def complete_pruning(where: str, spec: Any) -> dict:
    """Validate a `pruning`/`pruning_other` dict with the config schema's rules and fill Snudda's defaults
    (spec §4.1); Snudda only warns about f1 or a3 outside [0, 1] and fails on strings without naming the key."""
    if not isinstance(spec, dict):
        raise PruneConfigError(f"prune config {where}: must be a mapping, got {type(spec).__name__}")
    for key in spec:
        if key not in PRUNING_KEYS:
            raise _unknown(where, key, PRUNING_KEYS, LEGACY_PRUNING)
    values = {key: _number(where, key, spec.get(key)) for key in NUMBER_RANGES}
    cluster = spec.get("cluster_pruning")
    if cluster is not None and not isinstance(cluster, bool):
        raise PruneConfigError(f"prune config {where}/cluster_pruning: must be true, false or null, got {cluster!r}")
    out = {
        "f1": 1.0 if values["f1"] is None else values["f1"],
        "soft_max": values["soft_max"],
        "mu2": values["mu2"],
        "a3": values["a3"],
        "dist_pruning": spec.get("dist_pruning"),
        "cluster_pruning": bool(cluster or False),
    }
    if out["mu2"] is not None and not out["mu2"] > 0:
        raise PruneConfigError(f"prune config {where}: mu2 must be > 0, got {out['mu2']}")
    if out["dist_pruning"] is not None:
        check_expression(where, out["dist_pruning"])
    return out


def check_values(config_file: str | Path) -> dict:
    """Check every value of a prune config file that needs no network (keys, numbers, expressions), naming the
    file and the key: what the workflow checks at planning, before any job."""
    config = load_config(config_file)
    try:
        if not isinstance(config, dict):
            raise PruneConfigError("the prune config must be a JSON object")
        check_top_level(config)
        regions = config.get("regions", {})
        if not isinstance(regions, dict):
            raise PruneConfigError("prune config regions: must be a mapping")
        for region, rdata in regions.items():
            connectivity = (rdata or {}).get("connectivity", {}) or {}
            for pair_key, con_types in connectivity.items():
                where_pair = f'regions/{region}/connectivity/"{pair_key}"'
                split_pair_key(where_pair, pair_key)
                for con_type, con in (con_types or {}).items():
                    where = f"{where_pair}/{con_type}"
                    if not isinstance(con, dict):
                        raise PruneConfigError(f"prune config {where}: must be a mapping")
                    check_con_type_keys(where, con)
                    for name in ("pruning", "pruning_other"):
                        if con.get(name) is not None:
                            complete_pruning(f"{where}/{name}", con[name])
    except PruneConfigError as exc:
        raise PruneConfigError(f"{config_file}: {exc}") from None
    return config


def check_expression(where: str, expr: Any) -> set[str]:
    """Compile a dist_pruning expression with numexpr; only `d` (and `r`) may appear (P-16)."""
    import numexpr

    if not isinstance(expr, str):
        raise PruneConfigError(f"prune config {where}/dist_pruning: must be a string expression in d, got {expr!r}")
    try:
        names, _ = numexpr.necompiler.getExprNames(expr, {})
    except Exception as exc:  # numexpr raises several types for bad syntax
        raise PruneConfigError(f"prune config {where}/dist_pruning: cannot compile {expr!r} ({exc})") from None
    bad = sorted(set(names) - EXPRESSION_NAMES)
    if bad:
        raise PruneConfigError(
            f"prune config {where}/dist_pruning: expression {expr!r} uses {', '.join(bad)}; only d (metres) and r are allowed"
        )
    return set(names)


def split_pair_key(where: str, key: str) -> tuple[str, list[str]]:
    """Split "<pre>,<post>" or "<pre>,['B','C']" into the pre type and the list of post types (P-24)."""
    if "," not in key:
        raise PruneConfigError(f"prune config {where}: connectivity key {key!r} must be '<pre>,<post>'")
    pre, post = key.split(",", 1)
    post = post.strip()
    if post.startswith("[") or "," in post:
        try:
            posts = ast.literal_eval(post)
        except (ValueError, SyntaxError):
            raise PruneConfigError(f"prune config {where}: cannot parse post list {post!r}") from None
        if isinstance(posts, str):
            posts = [posts]
        return pre.strip(), [str(p) for p in posts]
    return pre.strip(), [post]


def check_con_type_keys(where: str, con: dict) -> None:
    """Reject misspelled `pruning`/`pruning_other` keys at the con_type level (P-6)."""
    for key in con:
        if _norm(key) in ("pruning", "pruningother") and key not in ("pruning", "pruning_other"):
            target = "pruning" if _norm(key) == "pruning" else "pruning_other"
            raise PruneConfigError(f"prune config {where}: unknown key '{key}'; did you mean '{target}'?")


def check_top_level(config: dict) -> None:
    """Reject legacy top-level keys and unknown random_seed keys (P-6)."""
    for key, current in LEGACY_TOP.items():
        if key in config:
            raise PruneConfigError(f"prune config: legacy key '{key}'; use '{current}'")
    seeds = config.get("random_seed")
    if seeds is not None:
        if not isinstance(seeds, dict):
            raise PruneConfigError("prune config random_seed: must be a mapping")
        for key in seeds:
            if key not in SEED_KEYS:
                raise _unknown("random_seed", key, SEED_KEYS)


def build_rules(config: dict, neuron_types: set[str], connectivity_distributions: dict) -> list[dict]:
    """Build the rule table (pre type, post type, channel) -> pruning params, validating everything.

    Raises PruneConfigError listing every connection detect did not see (P-3), or the first bad key.
    """
    check_top_level(config)
    rules: dict[tuple[str, str, int], dict] = {}
    missing: list[str] = []
    gj_orders: set[tuple[str, str]] = set()
    regions = config.get("regions", {})
    if not isinstance(regions, dict):
        raise PruneConfigError("prune config regions: must be a mapping")
    for region, rdata in regions.items():
        connectivity = (rdata or {}).get("connectivity", {}) or {}
        for pair_key, con_types in connectivity.items():
            where_pair = f'regions/{region}/connectivity/"{pair_key}"'
            pre, posts = split_pair_key(where_pair, pair_key)
            for con_type, con in (con_types or {}).items():
                where = f"{where_pair}/{con_type}"
                if con_type == "GapJunction":
                    raise PruneConfigError(f"prune config {where}: legacy con_type 'GapJunction'; use 'gap_junction'")
                if not isinstance(con, dict):
                    raise PruneConfigError(f"prune config {where}: must be a mapping")
                check_con_type_keys(where, con)
                if "pruning" not in con:
                    raise PruneConfigError(f"prune config {where}: missing 'pruning'")
                pruning = complete_pruning(f"{where}/pruning", con["pruning"])
                other = con.get("pruning_other")
                other = None if other is None else complete_pruning(f"{where}/pruning_other", other)
                if con_type == GAP_JUNCTION:
                    for name, params in (("pruning", pruning), ("pruning_other", other)):
                        if params is None:
                            continue
                        if params["dist_pruning"] is not None:
                            raise PruneConfigError(
                                f"prune config {where}/{name}: dist_pruning is supported for synapses only, not gap junctions"
                            )
                        if params["cluster_pruning"]:
                            raise PruneConfigError(
                                f"prune config {where}/{name}: cluster_pruning is supported for synapses only, not gap junctions"
                            )
                for post in posts:
                    if pre not in neuron_types or post not in neuron_types:
                        log.info("Skipping %s to %s connection (type not in the network)", pre, post)
                        continue
                    detected = connectivity_distributions.get(f"{pre}$${post}", {}).get(con_type)
                    if detected is None or "channel_model_id" not in detected:
                        missing.append(f"{pre}->{post} {con_type}")
                        continue
                    channel = int(detected["channel_model_id"])
                    if con_type == GAP_JUNCTION:
                        gj_orders.add((pre, post))
                    key = (pre, post, channel)
                    if key in rules:
                        log.warning(
                            "prune config %s: overrides an earlier rule for %s->%s channel %d (last wins)",
                            where,
                            pre,
                            post,
                            channel,
                        )
                    rules[key] = {
                        "pre": pre,
                        "post": post,
                        "channel": channel,
                        "con_type": con_type,
                        "pruning": pruning,
                        "pruning_other": other,
                    }
    if missing:
        raise PruneConfigError(
            f"prune config names connections {', '.join(missing)} that were not present at detect time; rerun detect first"
        )
    for pre, post in sorted(gj_orders):
        if pre != post and (post, pre) not in gj_orders:
            log.warning(
                "gap_junction rule %s,%s is defined in one order only: gap junctions are pruned by the rule "
                "'<type of lower id>,<type of higher id>'",
                pre,
                post,
            )
    return [rules[k] for k in sorted(rules)]


def resolve_seed(explicit: int | None, prune_config: dict, detect_config: dict) -> tuple[int, str]:
    """Choose the prune seed: explicit, prune config, detect-time network config, 1003 (P-5)."""
    if explicit is not None:
        return int(explicit), "workflow config prune.random_seed"
    seed = (prune_config.get("random_seed") or {}).get("prune")
    if seed is not None:
        return int(seed), "random_seed.prune of the prune config"
    seed = (detect_config.get("random_seed") or {}).get("prune")
    if seed is not None:
        log.warning("prune config has no random_seed.prune: using %d from the detect-time network config", seed)
        return int(seed), "random_seed.prune of the detect-time network config"
    log.warning("no prune seed anywhere: using Snudda's default %d", DEFAULT_PRUNE_SEED)
    return DEFAULT_PRUNE_SEED, "default"


def neuron_type(name: str) -> str:
    """Snudda's neuron type of a neuron name: the part before the first underscore."""
    return name.split("_")[0]


def resolve_rules(network: str | Path, config_file: str | Path, random_seed: int | None) -> dict:
    """Validate the prune config against the network; return its rule table, seed and the config itself."""
    from circuitflow.io import snudda as sio
    from circuitflow.prune.index import read_worklog

    wl = read_worklog(network)
    names = sio.read_neurons(wl.path)["name"]
    config = load_config(config_file)
    if not isinstance(config, dict):
        raise PruneConfigError(f"{config_file}: the prune config must be a JSON object")
    try:
        rules = build_rules(config, {neuron_type(str(n)) for n in names}, wl.connectivity_distributions)
    except PruneConfigError as exc:
        raise PruneConfigError(f"{config_file}: {exc}") from None
    seed, source = resolve_seed(random_seed, config, wl.detect_config)
    log.info("prune seed %d (%s); %d rules", seed, source, len(rules))
    return {"seed": seed, "seed_source": source, "rules": rules, "config": config}


def check_prune_config(network: str | Path, config_file: str | Path, random_seed: int | None, out: str | Path) -> dict:
    """Validate the prune config before any gathering; write what was checked (rules, seed) to `out`."""
    from circuitflow.io.atomic import write_json

    result = resolve_rules(network, config_file, random_seed)
    write_json(out, result, sort_keys=True)
    return result
