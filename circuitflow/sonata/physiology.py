"""Synapse physiology for SONATA edges, drawn per connection as functionalizer does.

A *connection* is one (pre node, post node, connection type): every synapse of it shares the
drawn `conductance`, `u_syn`, `depression_time`, `facilitation_time`, `decay_time` and
`n_rrp_vesicles`. The config gives mean and std per connection type
(`connectome.pathways[].synapses.<type>.physiology`, units in config/schema.connectome.yaml):

| property | distribution |
|---|---|
| `conductance` (nS), `depression_time`, `facilitation_time` (ms) | gamma, shape (mean/std)², scale std²/mean |
| `u_syn` | normal truncated to [0, 1] |
| `decay_time` (ms) | normal truncated to [0, ∞) |
| `n_rrp_vesicles` | 1 + Poisson(mean − 1) |

(mean, std) are those of the untruncated distribution; std 0 gives the mean. Per synapse,
`delay` (ms) = `release_delay` + efferent distance to soma (µm) / `conduction_velocity` (µm/ms).
Gap junctions draw only a gamma `conductance` per connection (the unordered pair).

**Random numbers** are counter based: the uniform of property *p* of a connection is a hash
(splitmix64's mixer, chained) of (seed, pre, post, connection type id, p), turned into a draw by
the inverse CDF (scipy.special: gammaincinv, ndtr/ndtri, pdtr). A value depends on nothing but its
key, so edges are identical for any number of ranges, job sizes, cores or MPI ranks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special

from circuitflow.errors import CircuitflowError

EXCITATORY_SYN_TYPE = 100  # SONATA: syn_type_id >= 100 excitatory, < 100 inhibitory
INHIBITORY_SYN_TYPE = 0
GAP_JUNCTION = "gap_junction"
#: the type id in a gap junction's random key (Snudda's gap-junction channel id)
GAP_JUNCTION_CHANNEL_KEY = 3
#: Seed used when `connectome.physiology_seed` is not given (like Snudda's built-in detect/prune seeds).
DEFAULT_SEED = 1004

#: the drawn properties: name -> (stream id of the random numbers, distribution)
CHEMICAL_DRAWS = {
    "conductance": (1, "gamma"),
    "u_syn": (2, "normal01"),
    "depression_time": (3, "gamma"),
    "facilitation_time": (4, "gamma"),
    "decay_time": (5, "normal0"),
    "n_rrp_vesicles": (6, "poisson1"),
}
GAP_JUNCTION_DRAWS = {"conductance": (1, "gamma")}
CHEMICAL_KEYS = ("kind", *CHEMICAL_DRAWS, "release_delay", "conduction_velocity")
GAP_JUNCTION_KEYS = ("conductance",)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


class PhysiologyError(CircuitflowError, ValueError):
    """A physiology block is missing, has an unknown key or an impossible value."""


# ---------------------------------------------------------------------------------------------
# config


def _check_value(
    where: str, value, low: float | None = None, high: float | None = None, low_open: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise PhysiologyError(f"config: {where} must be a number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise PhysiologyError(f"config: {where} = {value} must be {'>' if low_open else '>='} {low}")
    if high is not None and value > high:
        raise PhysiologyError(f"config: {where} = {value} must be <= {high}")


def _check_keys(where: str, block, allowed: tuple[str, ...]) -> None:
    if not isinstance(block, dict):
        raise PhysiologyError(f"config: {where} must be a mapping with keys {list(allowed)}")
    unknown = [k for k in block if k not in allowed]
    if unknown:
        raise PhysiologyError(f"config: unknown key '{where}.{unknown[0]}'; allowed keys here: {sorted(allowed)}")
    missing = [k for k in allowed if k not in block]
    if missing:
        raise PhysiologyError(
            f"config: {where}.{missing[0]} is required (no default: every physiology value is explicit)"
        )


def _check_distribution(
    where: str,
    dist,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    keys: tuple[str, ...] = ("mean", "std"),
) -> None:
    _check_keys(where, dist, keys)
    _check_value(f"{where}.mean", dist["mean"], low, high, low_open)
    if "std" in keys:
        _check_value(f"{where}.std", dist["std"], 0.0)


def check_block(where: str, block, gap_junction: bool = False) -> None:
    """One physiology block: every key present, no other key, every value possible (one-line error)."""
    if gap_junction:
        _check_keys(where, block, GAP_JUNCTION_KEYS)
        _check_distribution(f"{where}.conductance", block["conductance"], 0.0, low_open=True)
        return
    _check_keys(where, block, CHEMICAL_KEYS)
    if block["kind"] not in ("excitatory", "inhibitory"):
        raise PhysiologyError(f"config: {where}.kind must be 'excitatory' or 'inhibitory', got {block['kind']!r}")
    for key in ("conductance", "depression_time", "facilitation_time", "decay_time"):
        _check_distribution(f"{where}.{key}", block[key], 0.0, low_open=True)
    _check_distribution(f"{where}.u_syn", block["u_syn"], 0.0, 1.0)
    _check_distribution(f"{where}.n_rrp_vesicles", block["n_rrp_vesicles"], 1.0, keys=("mean",))
    _check_value(f"{where}.release_delay", block["release_delay"], 0.0)
    _check_value(f"{where}.conduction_velocity", block["conduction_velocity"], 0.0, low_open=True)


def _names(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def check_pathways(pathways: list[dict], required: bool = True) -> None:
    """Every physiology block of `connectome.pathways`; with `required`, every connection type has one.

    Pathways of the wrong shape are left to the schema (this checks the physiology blocks only)."""
    for k, pathway in enumerate(pathways if isinstance(pathways, list) else []):
        if not isinstance(pathway, dict):
            continue
        synapses = pathway.get("synapses")
        types = [
            (f"synapses.{name}", params, False)
            for name, params in (synapses.items() if isinstance(synapses, dict) else [])
        ]
        if GAP_JUNCTION in pathway:
            types.append((GAP_JUNCTION, pathway[GAP_JUNCTION], True))
        for name, params, gap in types:
            where = f"connectome.pathways[{k}].{name}.physiology"
            if isinstance(params, dict) and "physiology" in params:
                check_block(where, params["physiology"], gap)
            elif required:
                raise PhysiologyError(
                    f"config: {where} is required for SONATA edges (pathway "
                    f"{_names(pathway['pre'])} -> {_names(pathway['post'])})"
                )


def physiology_config(pathways: list[dict], seed: int | None, rename=lambda name: name) -> dict:
    """What the edges step needs: {"seed", "connectivity": {"pre$$post": {type: physiology}}}.

    Pairs are named as detect names the neuron types (`rename`), as in the network file's
    `meta/connectivity_distributions`, so each Snudda channel id finds its physiology."""
    check_pathways(pathways)
    connectivity: dict = {}
    for pathway in pathways:
        types = {name: params["physiology"] for name, params in (pathway.get("synapses") or {}).items()}
        if GAP_JUNCTION in pathway:
            types[GAP_JUNCTION] = pathway[GAP_JUNCTION]["physiology"]
        for pre in _names(pathway["pre"]):
            for post in _names(pathway["post"]):
                connectivity[f"{rename(pre)}$${rename(post)}"] = types
    return {"seed": DEFAULT_SEED if seed is None else int(seed), "connectivity": connectivity}


# ---------------------------------------------------------------------------------------------
# counter-based random numbers


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's output mixer (a bijection of uint64), elementwise."""
    z = z ^ (z >> np.uint64(30))
    z = z * _M1
    z = z ^ (z >> np.uint64(27))
    z = z * _M2
    return z ^ (z >> np.uint64(31))


def key_uniforms(seed: int, *words) -> np.ndarray:
    """Uniforms in (0, 1), one per element of the broadcast key words: a hash of (seed, *words)."""
    arrays = np.broadcast_arrays(*[np.asarray(w).astype(np.int64).view(np.uint64) for w in words])
    with np.errstate(over="ignore"):
        h = _mix(np.full(arrays[0].shape, np.uint64(seed & 0xFFFFFFFFFFFFFFFF)) + _GOLDEN)
        for w in arrays:
            h = _mix(h ^ (w + _GOLDEN))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def gamma_ppf(u: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Gamma with the given mean and std at quantiles `u` (std 0: the mean)."""
    mean, std = np.broadcast_to(mean, u.shape), np.broadcast_to(std, u.shape)
    out = np.array(mean, dtype=np.float64)
    some = std > 0
    if np.any(some):
        shape = (mean[some] / std[some]) ** 2
        scale = std[some] ** 2 / mean[some]
        out[some] = scale * special.gammaincinv(shape, u[some])
    return out


def truncated_normal_ppf(
    u: np.ndarray, mean: np.ndarray, std: np.ndarray, low: float, high: float = np.inf
) -> np.ndarray:
    """Normal(mean, std) truncated to [low, high] at quantiles `u` (std 0: the mean)."""
    mean, std = np.broadcast_to(mean, u.shape), np.broadcast_to(std, u.shape)
    out = np.array(mean, dtype=np.float64)
    some = std > 0
    if np.any(some):
        m, s = mean[some], std[some]
        lo, hi = special.ndtr((low - m) / s), special.ndtr((high - m) / s)
        out[some] = m + s * special.ndtri(lo + u[some] * (hi - lo))
    return np.clip(out, low, high)


def poisson1_ppf(u: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """1 + Poisson(mean − 1) at quantiles `u`: the smallest k with CDF(k) >= u (exact, by table)."""
    mean = np.broadcast_to(mean, u.shape)
    out = np.ones(u.shape, dtype=np.int64)
    values, inverse = np.unique(mean, return_inverse=True)
    inverse = inverse.reshape(u.shape)
    for i, m in enumerate(values):  # one table per distinct mean (per connection type, not per connection)
        lam = float(m) - 1.0
        if lam <= 0:
            continue
        k = np.arange(int(lam + 40 * np.sqrt(lam) + 40))
        cdf = special.pdtr(k, lam)
        cdf[-1] = 1.0
        sel = inverse == i
        out[sel] = 1 + np.searchsorted(cdf, u[sel], side="left")
    return out


_PPF = {
    "gamma": lambda u, d: gamma_ppf(u, d["mean"], d["std"]),
    "normal01": lambda u, d: truncated_normal_ppf(u, d["mean"], d["std"], 0.0, 1.0),
    "normal0": lambda u, d: truncated_normal_ppf(u, d["mean"], d["std"], 0.0),
    "poisson1": lambda u, d: poisson1_ppf(u, d["mean"]),
}


def draw(
    seed: int, pre: np.ndarray, post: np.ndarray, type_id: np.ndarray, params: dict, draws: dict = CHEMICAL_DRAWS
) -> dict:
    """Drawn properties of connections (pre, post, type_id): {property: array}.

    `params[property]` is {"mean": array, "std": array} per connection."""
    pre, post, type_id = (np.asarray(a, dtype=np.int64) for a in (pre, post, type_id))
    out = {}
    for name, (stream, kind) in draws.items():
        u = key_uniforms(seed, pre, post, type_id, np.full(pre.shape, stream))
        out[name] = _PPF[kind](u, params[name])
    return out


# ---------------------------------------------------------------------------------------------
# per edge, from the network file's connection types


@dataclass(frozen=True)
class Classes:
    """Physiology by (pre type, post type, Snudda channel id): a class index per edge and per-class tables."""

    keys: np.ndarray  # sorted keys (pre type, post type, channel) encoded by `key`
    key_class: np.ndarray  # class index of each key
    n_types: int
    table: dict  # property -> {"mean": (n_classes,), "std": (n_classes,)}
    syn_type_id: np.ndarray  # (n_classes,)
    release_delay: np.ndarray  # (n_classes,) ms
    conduction_velocity: np.ndarray  # (n_classes,) µm/ms
    names: list  # (pre, post, con_type) per class
    seed: int

    def key(self, pre_type: np.ndarray, post_type: np.ndarray, channel: np.ndarray) -> np.ndarray:
        """One integer per (pre type, post type, channel) (memory per pathway, not per type pair and channel)."""
        return (np.asarray(pre_type, dtype=np.int64) * self.n_types + post_type) * (1 << 32) + channel

    def classify(self, pre_type: np.ndarray, post_type: np.ndarray, channel: np.ndarray, what: str) -> np.ndarray:
        """Class index per edge; an edge of a type without physiology is an error."""
        channel = np.asarray(channel, dtype=np.int64)
        key = self.key(pre_type, post_type, channel)
        at = np.minimum(np.searchsorted(self.keys, key), max(len(self.keys) - 1, 0))
        found = self.keys[at] == key if len(self.keys) else np.zeros(len(key), dtype=bool)
        if not np.all(found):
            i = int(np.flatnonzero(~found)[0])
            raise PhysiologyError(
                f"{what}: no physiology for channel id {int(channel[i])} between types "
                f"{int(pre_type[i])} and {int(post_type[i])}"
            )
        return self.key_class[at]

    def params(self, cls: np.ndarray) -> dict:
        """{property: {"mean", "std"}} per element of `cls`."""
        return {name: {k: v[cls] for k, v in stats.items()} for name, stats in self.table.items()}


def build_classes(physiology: dict, distributions: dict, types: list[str], gap_junction: bool = False) -> Classes:
    """Classes from the physiology config and the network's `meta/connectivity_distributions`.

    `types` are the neuron type names in type-id order; distributions map 'pre$$post' -> {con_type:
    {channel_model_id, ...}}. Chemical types only, or (with `gap_junction`) the gap junctions only."""
    index = {t: i for i, t in enumerate(types)}
    connectivity = physiology["connectivity"]
    entries = []
    for pair, con_types in distributions.items():
        pre, post = pair.split("$$")
        if pre not in index or post not in index:
            continue
        for con_type, cdef in con_types.items():
            if (con_type == GAP_JUNCTION) != gap_junction:
                continue
            block = connectivity.get(pair, {}).get(con_type)
            if block is None:
                raise PhysiologyError(f"physiology: no block for {con_type} of pathway {pre} -> {post}")
            entries.append((index[pre], index[post], int(cdef["channel_model_id"]), (pre, post, con_type), block))
    n_types = len(types)
    triples = {(i, j, chan): c for c, (i, j, chan, _, _) in enumerate(entries)}
    if gap_junction:  # Snudda stores a junction as (lower id, higher id), whatever the pathway's direction
        for (i, j, chan), c in list(triples.items()):
            triples.setdefault((j, i, chan), c)
    draws = GAP_JUNCTION_DRAWS if gap_junction else CHEMICAL_DRAWS
    table = {name: {"mean": np.zeros(len(entries)), "std": np.zeros(len(entries))} for name in draws}
    syn_type, delay, velocity = (np.zeros(len(entries)) for _ in range(3))
    for c, (i, j, chan, _, block) in enumerate(entries):
        for name in draws:
            table[name]["mean"][c] = block[name]["mean"]
            table[name]["std"][c] = block[name].get("std", 0.0)
        if not gap_junction:
            syn_type[c] = EXCITATORY_SYN_TYPE if block["kind"] == "excitatory" else INHIBITORY_SYN_TYPE
            delay[c], velocity[c] = block["release_delay"], block["conduction_velocity"]
    spec = np.array([(i, j, chan) for i, j, chan in triples], dtype=np.int64).reshape(-1, 3)
    keys = (spec[:, 0] * n_types + spec[:, 1]) * (1 << 32) + spec[:, 2]
    order = np.argsort(keys)
    return Classes(
        keys=keys[order],
        key_class=np.array(list(triples.values()), dtype=np.int64)[order],
        n_types=n_types,
        table=table,
        syn_type_id=syn_type.astype(np.int32),
        release_delay=delay,
        conduction_velocity=velocity,
        names=[e[3] for e in entries],
        seed=int(physiology["seed"]),
    )


def connection_heads(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each row's run of equal keys (rows of a connection are mostly consecutive): the rows
    whose values are drawn are the run heads; a connection split over runs draws the same values."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
        for k in keys:
            change[1:] |= k[1:] != k[:-1]
    return np.cumsum(change) - 1, np.flatnonzero(change)


def chemical_properties(
    classes: Classes,
    pre: np.ndarray,
    post: np.ndarray,
    channel: np.ndarray,
    cls: np.ndarray,
    efferent_distance_um: np.ndarray,
) -> dict:
    """Per-synapse SONATA physiology of chemical synapses (drawn per connection)."""
    run, heads = connection_heads(pre, post, channel)
    drawn = draw(classes.seed, pre[heads], post[heads], channel[heads], classes.params(cls[heads]))
    out = {name: values[run] for name, values in drawn.items()}
    out["syn_type_id"] = classes.syn_type_id[cls]
    out["delay"] = classes.release_delay[cls] + efferent_distance_um / classes.conduction_velocity[cls]
    return out


def gap_junction_conductance(classes: Classes, n1: np.ndarray, n2: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """Gap-junction conductance (nS), drawn per connection (the pair n1 < n2)."""
    run, heads = connection_heads(n1, n2)
    drawn = draw(
        classes.seed,
        n1[heads],
        n2[heads],
        np.full(len(heads), GAP_JUNCTION_CHANNEL_KEY),
        classes.params(cls[heads]),
        GAP_JUNCTION_DRAWS,
    )
    return drawn["conductance"][run]


def read_physiology(path: str | Path) -> dict:
    """The physiology JSON the edges rules read (written by `physiology_config`)."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)
