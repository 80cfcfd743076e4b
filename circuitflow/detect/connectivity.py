"""Connectivity rules for detection, from a Snudda network config (spec detect.md §1.3, prune.md §2.7).

Enriches each `regions/<R>/connectivity/"<pre>,<post>"/<con_type>` entry in JSON order with its
channel id, lognormal parameters and cluster defaults, exactly as Snudda stores them in the worklog's
`meta/connectivity_distributions`; and turns them into small lookup tables over neuron-type ids.
"""

from __future__ import annotations

import ast
import copy
import json
import logging
import math
from dataclasses import dataclass

import numpy as np

from circuitflow.errors import CircuitflowError
from circuitflow.io.snudda import GAP_JUNCTION, GAP_JUNCTION_CHANNEL

FIRST_CHANNEL = 10
DEFAULT_SEED = 1002
DEFAULT_CLUSTER_SPREAD = 20e-3

log = logging.getLogger(__name__)


class ConnectivityError(CircuitflowError, ValueError):
    """The network config's connectivity section cannot be used for detection."""


@dataclass(frozen=True)
class Rules:
    """Detection rules over type ids: synapse con-types per (pre, post) and gap-junction parameters per pair."""

    types: list  # type names, index = type id
    distributions: dict  # "pre$$post" -> {con_type: enriched entry} (JSON order)
    max_channel: int  # T
    syn_start: np.ndarray  # (n_types, n_types) first row in syn_* tables of the pair
    syn_count: np.ndarray  # (n_types, n_types) number of synapse con-types of the pair
    syn_channel: np.ndarray  # per synapse con-type entry
    syn_mu: np.ndarray
    syn_sigma: np.ndarray
    syn_mean: np.ndarray
    gj: np.ndarray  # (n_types, n_types) bool
    gj_mu: np.ndarray  # (n_types, n_types)
    gj_sigma: np.ndarray
    gj_mean: np.ndarray

    @property
    def has_gap_junctions(self) -> bool:
        """True if any pair of the config defines gap junctions (then the gap-junction lookup is a table, else null)."""
        return any(GAP_JUNCTION in entries for entries in self.distributions.values())


def parse_pair(key: str, where: str) -> tuple[str, list[str]]:
    """'pre,post' or "pre,['a','b']" -> (pre, [post, ...]) as Snudda splits it."""
    if "," not in key:
        raise ConnectivityError(f"{where}: connectivity key {key!r} is not 'pre,post'")
    pre, post = key.split(",", 1)
    if "," in post:
        try:
            posts = ast.literal_eval(post)
        except (ValueError, SyntaxError):
            raise ConnectivityError(f"{where}: connectivity key {key!r}: cannot read the post-type list") from None
        posts = [str(p) for p in posts]
    else:
        posts = [post]
    return pre, posts


def lognormal_mu_sigma(mean: float, std: float) -> list[float]:
    """Lognormal (mu, sigma) with the given mean and std, in Snudda's float expression order."""
    # libm's log (math.log), not numpy's SIMD log: they can differ in the last bit
    mu = math.log(mean**2 / math.sqrt(mean**2 + std**2))
    sigma = math.sqrt(math.log(1 + std**2 / mean**2))
    return [mu, sigma]


def enrich(config: dict, where: str) -> tuple[dict, int]:
    """Snudda's connectivity_distributions ('pre$$post' -> con_type -> entry) and T from a network config."""
    regions = config.get("regions")
    if not isinstance(regions, dict):
        raise ConnectivityError(f"{where}: network config has no 'regions' section")
    counter = FIRST_CHANNEL
    out: dict = {}
    for region, rdef in regions.items():
        for key, con_types in (rdef.get("connectivity") or {}).items():
            pre, posts = parse_pair(key, where)
            if not isinstance(con_types, dict):
                raise ConnectivityError(f"{where}: regions/{region}/connectivity/{key} must be a mapping")
            entries = {}
            for con_type, cdef in con_types.items():
                cdef = copy.deepcopy(cdef)
                if con_type == GAP_JUNCTION:
                    cdef["channel_model_id"] = GAP_JUNCTION_CHANNEL
                else:
                    cdef["channel_model_id"] = counter
                    counter += 1
                cond = cdef.get("conductance")
                if cond is None:
                    raise ConnectivityError(f"{where}: {key}/{con_type} has no 'conductance'")
                if not isinstance(cond, list):
                    cond = [cond, 0]
                    cdef["conductance"] = cond
                if len(cond) != 2 or not float(cond[0]) > 0:
                    raise ConnectivityError(f"{where}: {key}/{con_type}: conductance must be [mean > 0, std]")
                cdef["lognormal_mu_sigma"] = lognormal_mu_sigma(cond[0], cond[1])
                cdef.setdefault("cluster_size", 1)
                if "cluster_spread" not in cdef:
                    cdef["cluster_spread"] = DEFAULT_CLUSTER_SPREAD
                if cdef["cluster_size"] != 1:
                    raise ConnectivityError(f"{where}: {key}/{con_type}: cluster_size != 1 is not supported")
                for unsupported in ("projection_config_file",):
                    if unsupported in cdef:
                        raise ConnectivityError(f"{where}: {key}/{con_type}: {unsupported} is not supported")
                entries[con_type] = cdef
            for post in posts:
                out[f"{pre}$${post}"] = entries
    return out, counter


def build_rules(config: dict, types: list[str], where: str, strict: bool = True) -> Rules:
    """Lookup tables for the neuron types present. A rule naming a type no neuron has is an error if
    `strict`, else skipped with a warning (Snudda's behaviour: its generated configs list every striatal type)."""
    distributions, max_channel = enrich(config, where)
    index = {t: i for i, t in enumerate(types)}
    nt = len(types)
    syn_start = np.zeros((nt, nt), dtype=np.int64)
    syn_count = np.zeros((nt, nt), dtype=np.int64)
    chan, mu, sigma, mean = [], [], [], []
    gj = np.zeros((nt, nt), dtype=bool)
    gj_mu, gj_sigma, gj_mean = (np.zeros((nt, nt)) for _ in range(3))
    absent = set()
    for pair, entries in distributions.items():
        pre, post = pair.split("$$")
        for t in (pre, post):
            if t not in index:
                if strict:
                    raise ConnectivityError(
                        f"{where}: connectivity rule {pre},{post} names neuron type {t!r}, "
                        f"which no neuron has (types: {', '.join(types)})"
                    )
                absent.add(t)
        if pre not in index or post not in index:
            continue
        i, j = index[pre], index[post]
        syn_start[i, j] = len(chan)
        for con_type, cdef in entries.items():
            if con_type == GAP_JUNCTION:
                gj[i, j] = True
                gj_mu[i, j], gj_sigma[i, j] = cdef["lognormal_mu_sigma"]
                gj_mean[i, j] = cdef["conductance"][0]
            elif not cdef.get("disable_touch_detection", False):
                chan.append(cdef["channel_model_id"])
                mu.append(cdef["lognormal_mu_sigma"][0])
                sigma.append(cdef["lognormal_mu_sigma"][1])
                mean.append(cdef["conductance"][0])
        syn_count[i, j] = len(chan) - syn_start[i, j]
    if absent:
        log.warning("%s: connectivity rules for types without neurons skipped: %s", where, ", ".join(sorted(absent)))
    return Rules(
        types=list(types),
        distributions=distributions,
        max_channel=max_channel,
        syn_start=syn_start,
        syn_count=syn_count,
        syn_channel=np.array(chan, dtype=np.int64),
        syn_mu=np.array(mu, dtype=np.float64),
        syn_sigma=np.array(sigma, dtype=np.float64),
        syn_mean=np.array(mean, dtype=np.float64),
        gj=gj,
        gj_mu=gj_mu,
        gj_sigma=gj_sigma,
        gj_mean=gj_mean,
    )


def detect_seed(config: dict) -> int:
    """The detect master seed: random_seed.detect of the network config, else Snudda's 1002."""
    seed = (config.get("random_seed") or {}).get("detect", DEFAULT_SEED)
    return int(seed)


def distributions_json(rules: Rules) -> str:
    """The worklog's meta/connectivity_distributions string."""
    return json.dumps(rules.distributions)
