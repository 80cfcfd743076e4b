"""Synapse physiology drawn per connection: config checks, counter-based draws, distributions."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from conftest import ROOT
from scipy import stats

from circuitflow.sonata.physiology import (
    CHEMICAL_KEYS,
    GAP_JUNCTION_KEYS,
    PhysiologyError,
    build_classes,
    check_pathways,
    chemical_properties,
    draw,
    gamma_ppf,
    gap_junction_conductance,
    key_uniforms,
    physiology_config,
    poisson1_ppf,
    truncated_normal_ppf,
)

EXC = {
    "kind": "excitatory",
    "conductance": {"mean": 1.0, "std": 0.5},
    "u_syn": {"mean": 0.5, "std": 0.2},
    "depression_time": {"mean": 670.0, "std": 200.0},
    "facilitation_time": {"mean": 17.0, "std": 5.0},
    "decay_time": {"mean": 1.7, "std": 0.2},
    "n_rrp_vesicles": {"mean": 2.6},
    "release_delay": 0.1,
    "conduction_velocity": 300.0,
}
INH = dict(EXC, kind="inhibitory", u_syn={"mean": 0.25, "std": 0.13}, decay_time={"mean": 8.0, "std": 1.0})
PATHWAYS = [
    {"pre": ["A", "B"], "post": "B", "synapses": {"AMPA": {"conductance": [1e-9, 1e-10], "physiology": EXC}}},
    {
        "pre": "B",
        "post": "A",
        "synapses": {"GABA": {"conductance": [1e-9, 1e-10], "physiology": INH}},
        "gap_junction": {"conductance": [5e-10, 1e-10], "physiology": {"conductance": {"mean": 0.2, "std": 0.05}}},
    },
]


def test_example_config_and_schema_agree():
    """The schema lists exactly the keys the package checks, and the example config passes."""
    schema = yaml.safe_load((ROOT / "config/schema.connectome.yaml").read_text())["$defs"]
    assert sorted(schema["physiology"]["required"]) == sorted(CHEMICAL_KEYS)
    assert sorted(schema["physiology"]["properties"]) == sorted(CHEMICAL_KEYS)
    assert sorted(schema["gap_junction_physiology"]["required"]) == sorted(GAP_JUNCTION_KEYS)
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    check_pathways(config["connectome"]["pathways"])


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda p: p[0]["synapses"]["AMPA"]["physiology"].update(tau=1),
            r"unknown key 'connectome\.pathways\[0\]\.synapses\.AMPA\.physiology\.tau'",
        ),
        (lambda p: p[0]["synapses"]["AMPA"]["physiology"].pop("decay_time"), r"physiology\.decay_time is required"),
        (
            lambda p: p[0]["synapses"]["AMPA"]["physiology"]["u_syn"].update(mean=1.2),
            r"u_syn\.mean = 1\.2 must be <= 1",
        ),
        (
            lambda p: p[0]["synapses"]["AMPA"]["physiology"]["u_syn"].update(std=-0.1),
            r"u_syn\.std = -0\.1 must be >= 0",
        ),
        (
            lambda p: p[0]["synapses"]["AMPA"]["physiology"]["depression_time"].update(mean=-5),
            r"depression_time\.mean = -5 must be > 0",
        ),
        (
            lambda p: p[0]["synapses"]["AMPA"]["physiology"].update(release_delay=-0.1),
            r"release_delay = -0\.1 must be >= 0",
        ),
        (
            lambda p: p[0]["synapses"]["AMPA"]["physiology"].update(conduction_velocity=0),
            r"conduction_velocity = 0 must be > 0",
        ),
        (
            lambda p: p[0]["synapses"]["AMPA"]["physiology"].update(kind="both"),
            r"kind must be 'excitatory' or 'inhibitory'",
        ),
        (
            lambda p: p[0]["synapses"]["AMPA"]["physiology"]["n_rrp_vesicles"].update(mean=0.5),
            r"n_rrp_vesicles\.mean = 0\.5 must be >= 1",
        ),
        (
            lambda p: p[0]["synapses"]["AMPA"]["physiology"]["n_rrp_vesicles"].update(std=1),
            r"unknown key .*n_rrp_vesicles\.std",
        ),
        (
            lambda p: p[0]["synapses"]["AMPA"]["physiology"]["conductance"].update(mean="1"),
            r"conductance\.mean must be a number",
        ),
        (
            lambda p: p[1]["gap_junction"]["physiology"].update(u_syn=EXC["u_syn"]),
            r"unknown key 'connectome\.pathways\[1\]\.gap_junction\.physiology\.u_syn'",
        ),
        (
            lambda p: p[1]["synapses"]["GABA"].pop("physiology"),
            r"pathways\[1\]\.synapses\.GABA\.physiology is required",
        ),
    ],
)
def test_bad_physiology_is_a_one_line_error_naming_the_key(edit, message):
    pathways = copy.deepcopy(PATHWAYS)
    edit(pathways)
    with pytest.raises(PhysiologyError, match=message) as info:
        check_pathways(pathways)
    assert "\n" not in str(info.value)


def test_physiology_config_names_pairs_as_detect_does():
    cfg = physiology_config(PATHWAYS, None, rename=lambda t: t.lower())
    assert sorted(cfg["connectivity"]) == ["a$$b", "b$$a", "b$$b"]
    assert cfg["connectivity"]["b$$a"]["gap_junction"] == {"conductance": {"mean": 0.2, "std": 0.05}}
    assert physiology_config(PATHWAYS, 7)["seed"] == 7


def test_uniforms_depend_only_on_the_key():
    pre, post = np.arange(1000), np.arange(1000)[::-1]
    u = key_uniforms(3, pre, post, 10, 1)
    assert np.all((u > 0) & (u < 1))
    # any subset, any order: the same value per key
    idx = np.random.default_rng(0).permutation(1000)[:300]
    assert np.array_equal(key_uniforms(3, pre[idx], post[idx], 10, 1), u[idx])
    assert not np.array_equal(key_uniforms(4, pre, post, 10, 1), u)  # seed
    assert not np.array_equal(key_uniforms(3, post, pre, 10, 1), u)  # direction
    assert not np.array_equal(key_uniforms(3, pre, post, 11, 1), u)  # type
    assert not np.array_equal(key_uniforms(3, pre, post, 10, 2), u)  # property stream
    big = key_uniforms(1, np.arange(200_000), 0, 10, 1)
    assert abs(big.mean() - 0.5) < 0.003 and abs(big.var() - 1 / 12) < 0.001
    assert abs(np.corrcoef(big[:-1], big[1:])[0, 1]) < 0.01


def test_distributions_match_the_configured_moments():
    u = key_uniforms(11, np.arange(400_000), 1, 10, 1)
    g = gamma_ppf(u, 670.0, 200.0)
    assert abs(g.mean() / 670 - 1) < 0.005 and abs(g.std() / 200 - 1) < 0.01 and g.min() > 0
    assert np.array_equal(gamma_ppf(u[:5], 2.0, 0.0), np.full(5, 2.0))
    # truncated normal: the moments of the truncated distribution (scipy's), bounds respected
    t = truncated_normal_ppf(u, 0.5, 0.2, 0.0, 1.0)
    ref = stats.truncnorm(-2.5, 2.5, loc=0.5, scale=0.2)
    assert abs(t.mean() - ref.mean()) < 0.002 and abs(t.std() / ref.std() - 1) < 0.01
    wide = truncated_normal_ppf(u, 0.25, 0.3, 0.0, 1.0)
    assert wide.min() >= 0 and wide.max() <= 1 and wide.min() < 0.001 and wide.max() > 0.99
    ref = stats.truncnorm(-0.25 / 0.3, 0.75 / 0.3, loc=0.25, scale=0.3)
    assert abs(wide.mean() - ref.mean()) < 0.002
    d = truncated_normal_ppf(u, 1.7, 0.2, 0.0)
    assert abs(d.mean() - 1.7) < 0.002 and abs(d.std() / 0.2 - 1) < 0.01 and d.min() >= 0
    p = poisson1_ppf(u, 2.6)
    assert p.min() >= 1 and abs(p.mean() - 2.6) < 0.01 and abs(p.var() / 1.6 - 1) < 0.02
    assert np.array_equal(poisson1_ppf(u[:10], 1.0), np.ones(10))
    # the table inverse is exact: compare with scipy's quantile function
    assert np.array_equal(p[:2000], 1 + stats.poisson(1.6).ppf(u[:2000]).astype(int))


def classes():
    cfg = physiology_config(PATHWAYS, 5)
    distributions = {
        "A$$B": {"AMPA": {"channel_model_id": 10}},
        "B$$B": {"AMPA": {"channel_model_id": 11}},
        "B$$A": {"GABA": {"channel_model_id": 12}, "gap_junction": {"channel_model_id": 3}},
    }
    return build_classes(cfg, distributions, ["A", "B"]), build_classes(cfg, distributions, ["A", "B"], True)


def test_every_synapse_of_a_connection_shares_its_draw_whatever_the_partition():
    chem, gap = classes()
    rng = np.random.default_rng(2)
    n = 5000
    node_type = rng.integers(0, 2, 300)
    post = np.sort(rng.integers(0, 300, n))
    pre = rng.integers(0, 300, n)
    keep = (node_type[pre] == 1) | (node_type[post] == 1)
    pre, post = pre[keep], post[keep]
    channel = np.where(node_type[pre] == 0, 10, np.where(node_type[post] == 1, 11, 12))
    dist = rng.random(len(pre)) * 600
    cls = chem.classify(node_type[pre], node_type[post], channel, "test")
    whole = chemical_properties(chem, pre, post, channel, cls, dist)
    for cut in (3, 7, 1000):  # ranges of any size give the same values
        parts = [
            chemical_properties(
                chem, pre[i : i + cut], post[i : i + cut], channel[i : i + cut], cls[i : i + cut], dist[i : i + cut]
            )
            for i in range(0, len(pre), cut)
        ]
        for key, values in whole.items():
            assert np.array_equal(np.concatenate([p[key] for p in parts]), values), key
    conn = pre * 1000 + post
    for key in ("conductance", "u_syn", "depression_time", "facilitation_time", "decay_time", "n_rrp_vesicles"):
        per_conn = {}
        for c, v in zip(conn, whole[key]):
            per_conn.setdefault(c, set()).add(v)
        assert all(len(v) == 1 for v in per_conn.values()), key
    assert set(whole["syn_type_id"][channel == 12]) == {0} and set(whole["syn_type_id"][channel != 12]) == {100}
    assert np.allclose(whole["delay"], 0.1 + dist / 300)
    assert np.all(whole["u_syn"][channel == 12] < whole["u_syn"][channel == 12].max() + 1)
    with pytest.raises(PhysiologyError, match="no physiology for channel id 13"):
        chem.classify(node_type[pre[:1]], node_type[post[:1]], np.array([13]), "test")
    g = gap_junction_conductance(gap, np.array([3, 3, 4]), np.array([5, 5, 5]), np.zeros(3, dtype=int))
    assert g[0] == g[1] != g[2] and np.all(g > 0)


def test_draw_is_per_connection_type():
    params = {
        k: {"mean": np.array([1.0, 1.0]), "std": np.array([0.5, 0.5])}
        for k in ("conductance", "u_syn", "depression_time", "facilitation_time", "decay_time")
    }
    params["n_rrp_vesicles"] = {"mean": np.array([3.0, 3.0])}
    params["u_syn"] = {"mean": np.array([0.5, 0.5]), "std": np.array([0.1, 0.1])}
    out = draw(1, np.array([1, 1]), np.array([2, 2]), np.array([10, 11]), params)
    assert out["conductance"][0] != out["conductance"][1]
