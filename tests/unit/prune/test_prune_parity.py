"""Row-for-row parity with Snudda 3.0 on every network and config of the prune fixture (in-process)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from prune_helpers import (
    CASES,
    FIXTURE,
    NETWORKS,
    case_seed,
    cleaned_config,
    expected_rows,
    network_dir,
    read_rows,
    run_inprocess,
)

from circuitflow.io.snudda import read_neurons
from circuitflow.prune.gather import HypervoxelFiles, blocks_of, gather_block, range_entries, read_range_index
from circuitflow.prune.index import TYPES, build_index
from circuitflow.prune.merge import gather_merge_range, group_by_type, snudda_order, type_interleaved
from circuitflow.prune.prune import neuron_seeds, prune_rows, rule_table
from circuitflow.prune.rule_table import check_prune_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Our output for every (network, case) with one range, plus the interleaved destinations."""
    base = tmp_path_factory.mktemp("parity")
    out = {}
    for net in NETWORKS:
        for case in CASES:
            cfg = cleaned_config(net, case, base / net / case / "config.json")
            final, inter = run_inprocess(network_dir(net), cfg, case_seed(net, case), 1, base / net / case)
            out[net, case] = (read_rows(final), np.concatenate(inter))
    return out


@pytest.mark.parametrize("net", NETWORKS)
@pytest.mark.parametrize("case", CASES)
def test_rows_match_snudda(runs, net, case):
    """Synapses and gap junctions equal Snudda's row by row, except on type-interleaved destinations (P-1)."""
    (syn, gj), interleaved = runs[net, case]
    exp_syn, exp_gj = expected_rows(net, case)
    assert syn.dtype == np.int32 and gj.dtype == np.int32
    np.testing.assert_array_equal(gj, exp_gj)
    ours = syn[~np.isin(syn[:, 1], interleaved)]
    theirs = exp_syn[~np.isin(exp_syn[:, 1], interleaved)]
    np.testing.assert_array_equal(ours, theirs)
    if net == "hv120":
        assert len(interleaved) == 0
        np.testing.assert_array_equal(syn, exp_syn)
    else:
        assert interleaved.tolist() == [5]  # the 8 pairs onto neuron 5 that span HVs 25 and 33


def test_counts_match_manifest(runs):
    """Kept counts per case are the ones in the fixture README table (hv120) and Snudda's files."""
    for (net, case), ((syn, gj), _) in runs.items():
        exp_syn, exp_gj = expected_rows(net, case)
        assert len(gj) == len(exp_gj)
        if net == "hv120":
            assert len(syn) == len(exp_syn)


@pytest.mark.parametrize("net", NETWORKS)
def test_merge_order_is_snuddas(tmp_path, net):
    """Our (unsorted-by-type) merge order reproduces Snudda's merge files exactly, both types."""
    index = tmp_path / "index.h5"
    build_index(network_dir(net), index)
    idx = read_range_index(index, 1, 0)
    for t, gj in (("synapses", False), ("gap_junctions", True)):
        [block] = blocks_of(idx.entries[t], 0, 28, block_rows=10**9)
        with HypervoxelFiles(network_dir(net)) as files:
            rows, seg, _ = gather_block(files, t, block, 28, np.empty((block.n_rows, TYPES[t]), np.int32))
        merged = rows[snudda_order(rows, seg, 28, 12, gj)]
        with h5py.File(FIXTURE / net / "expected" / "merge" / f"{t}-for-neurons-0-to-28-MERGE-ME.hdf5") as m:
            np.testing.assert_array_equal(merged, m[f"network/{t}"][()])


@pytest.mark.parametrize("case", CASES)
def test_interleaved_destination_is_the_only_difference(tmp_path, case):
    """hv40: pruning Snudda's own merge order reproduces Snudda fully, so P-1's grouping is the only change.

    On neuron 5 Snudda's merged rows run GABA, AMPA, GABA, AMPA within a pair; circuitflow groups them by
    type, which changes block boundaries, draws and parameter ids of that neuron only.
    """
    net = "hv40"
    cfg = cleaned_config(net, case, tmp_path / "config.json")
    rules = check_prune_config(network_dir(net), cfg, case_seed(net, case), tmp_path / "rules.json")
    neurons = read_neurons(network_dir(net) / "log" / "network-detect-worklog.hdf5")
    table = rule_table(rules["rules"], neurons["name"])
    seeds = neuron_seeds(rules["seed"], 28)
    with h5py.File(FIXTURE / net / "expected" / "merge" / "synapses-for-neurons-0-to-28-MERGE-ME.hdf5") as m:
        snudda_merged = m["network/synapses"][()]
    assert type_interleaved(snudda_merged).tolist() == [5]
    rows = snudda_merged.copy()
    keep = prune_rows(rows, table, seeds, neurons["population_unit_id"], False)
    exp_syn, _ = expected_rows(net, case)
    np.testing.assert_array_equal(rows[keep], exp_syn)

    grouped = group_by_type(snudda_merged.copy(), 28, 12)
    d5 = grouped[grouped[:, 1] == 5]
    key = d5[:, 0].astype(np.int64) * 100 + d5[:, 6]
    assert np.all(np.diff(key) >= 0), "circuitflow's rows of neuron 5 are grouped by (src, type)"
    s5 = snudda_merged[snudda_merged[:, 1] == 5]
    assert not np.all(np.diff(s5[:, 0].astype(np.int64) * 100 + s5[:, 6]) >= 0)
    if case == "default":  # everything kept: same rows, but one parameter id per (src, dest, type)
        ((syn, _),) = [read_rows(run_inprocess(network_dir(net), cfg, case_seed(net, case), 1, tmp_path / "run")[0])]
        ours5, theirs5 = syn[syn[:, 1] == 5], exp_syn[exp_syn[:, 1] == 5]
        assert sorted(map(tuple, ours5[:, :12])) == sorted(map(tuple, theirs5[:, :12]))
        for rows5, most in ((ours5, 1), (theirs5, 2)):
            ids = {}
            for r in rows5:
                ids.setdefault((r[0], r[6]), set()).add(r[12])
            assert max(len(v) for v in ids.values()) == most


@pytest.mark.parametrize("net", NETWORKS)
def test_n_ranges_give_identical_bytes(tmp_path, net):
    """1, 2, 7 and 40 (> N, so some ranges are empty) destination ranges give byte-identical datasets (P-4)."""
    cfg = cleaned_config(net, "test-3", tmp_path / "config.json")
    outs = []
    for n in (1, 2, 7, 40):
        final, _ = run_inprocess(network_dir(net), cfg, 1003, n, tmp_path / f"n{n}")
        syn, gj = read_rows(final)
        outs.append(syn.tobytes() + gj.tobytes())
    assert outs[0] == outs[1] == outs[2] == outs[3]


@pytest.mark.parametrize("net", NETWORKS)
def test_merge_blocks_and_open_files_give_identical_merge_files(tmp_path, net):
    """Merging a block of destinations at a time, with any block size or cap on open files, writes the same bytes."""
    index = tmp_path / "index.h5"
    build_index(network_dir(net), index)
    outs = []
    for k, (block_rows, open_files) in enumerate([(10**9, None), (1, 1), (37, 2), (500, 3)]):
        merged = tmp_path / f"merged-{k}.h5"
        gather_merge_range(network_dir(net), index, 2, 1, merged, block_rows=block_rows, open_files=open_files)
        with h5py.File(merged) as f:
            outs.append(
                b"".join(
                    f[key][()].tobytes()
                    for key in ("network/synapses", "network/gap_junctions", "network/type_interleaved_dest_ids")
                )
                + f.attrs["source_hids_synapses"].tobytes()
            )
    assert len(outs[0]) > 1000
    assert outs[1:] == outs[:1] * 3


@pytest.mark.parametrize("net", NETWORKS)
def test_range_index_entries_are_sorted_and_cover_every_row(tmp_path, net):
    """A range's per-file entries, read any number of index entries at a time, are the same, dest-sorted per file,
    in ascending HID order, and hold exactly the range's rows."""
    index = tmp_path / "index.h5"
    build_index(network_dir(net), index)
    with h5py.File(index) as f:
        counts = f["dest_counts"][()]
        for n_ranges in (1, 3):
            for i in range(n_ranges):
                a, b = read_range_index(index, n_ranges, i).range
                got = np.zeros(len(counts))
                for t in TYPES:
                    ent = [
                        range_entries(f[f"{t}/entries"], f[f"{t}/file_offsets"][()], f["hids"][()], a, b, piece)
                        for piece in (1, 2, 10**9)
                    ]
                    for other in ent[1:]:
                        assert [h for h, _ in other] == [h for h, _ in ent[0]]
                        assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(other, ent[0]))
                    assert [h for h, _ in ent[0]] == sorted({h for h, _ in ent[0]})
                    for _, e in ent[0]:
                        assert np.all(np.diff(e[:, 0]) > 0) and e[0, 0] >= a and e[-1, 0] < b
                        got += np.bincount(e[:, 0], weights=e[:, 2] - e[:, 1], minlength=len(counts))
                np.testing.assert_array_equal(got[a:b], counts[a:b])
                assert got[:a].sum() == got[b:].sum() == 0


EXTRA = FIXTURE.parent / "prune-snudda-extra"


@pytest.mark.parametrize("net", NETWORKS)
@pytest.mark.parametrize("case", ["cluster", "units"])
def test_cluster_pruning_and_population_units_match_snudda(tmp_path, net, case):
    """Cluster pruning (with ties; P-29), pruning_other across population units incl. unit 0 (P-28),
    distance pruning of AMPA and gap-junction pruning_other, against Snudda 3.0 (tests/data/prune-snudda-extra)."""
    import json
    import shutil

    work = Path(shutil.copytree(network_dir(net), tmp_path / "network"))
    for p in work.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    with h5py.File(work / "log" / "network-detect-worklog.hdf5", "a") as f:
        f["network/neurons/population_unit_id"][...] = np.arange(28) % 3
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(json.loads((EXTRA / "configs.json").read_text())[case]))
    final, inter = run_inprocess(work, cfg, None, 3, tmp_path / "run")
    syn, gj = read_rows(final)
    with h5py.File(EXTRA / f"{net}-{case}.hdf5") as f:
        exp_syn, exp_gj = f["network/synapses"][()], f["network/gap_junctions"][()]
    inter = np.concatenate(inter)
    np.testing.assert_array_equal(gj, exp_gj)
    np.testing.assert_array_equal(syn[~np.isin(syn[:, 1], inter)], exp_syn[~np.isin(exp_syn[:, 1], inter)])
    assert len(syn) > 50 and len(gj) > 10


def test_parameter_ids_not_shared_when_disabled(tmp_path):
    """all_neuron_pair_synapses_share_parameter_id: false keeps each putative synapse's own parameter id."""
    net = "hv120"
    cfg = cleaned_config(net, "default", tmp_path / "config.json")
    shared, _ = run_inprocess(network_dir(net), cfg, None, 2, tmp_path / "shared")
    own, _ = run_inprocess(network_dir(net), cfg, None, 2, tmp_path / "own", share=False)
    (syn_s, gj_s), (syn_o, gj_o) = read_rows(shared), read_rows(own)
    exp_syn, exp_gj = expected_rows(net, "default")
    np.testing.assert_array_equal(syn_s, exp_syn)
    np.testing.assert_array_equal(syn_o[:, :12], exp_syn[:, :12])  # the same rows kept (all 360)
    with h5py.File(FIXTURE / net / "expected" / "merge" / "synapses-for-neurons-0-to-28-MERGE-ME.hdf5") as m:
        np.testing.assert_array_equal(syn_o[:, 12], m["network/synapses"][:, 12])
    assert (syn_o[:, 12] != syn_s[:, 12]).any()
    np.testing.assert_array_equal(gj_o, gj_s)


def test_draw_uniforms_match_numpy():
    """The re-seeded PCG64 per destination gives default_rng(seeds[d]).random(n), for many seeds (spec §4.3)."""
    from circuitflow.prune.prune import draw_uniforms

    seeds = neuron_seeds(507409703, 3000)
    seeds[:3] = (0, 1, 2**32 - 1)  # edge values of the uint32 entropy word
    dest = np.repeat(np.arange(3000), 2)
    draws = np.random.default_rng(1).integers(1, 20, len(dest))
    ref = [np.random.default_rng(seeds[d]).random(int(draws[dest == d].sum())) for d in range(3000)]
    np.testing.assert_array_equal(draw_uniforms(dest, draws, seeds), np.concatenate(ref))
