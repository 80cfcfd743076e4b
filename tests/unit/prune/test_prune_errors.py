"""Fixed Snudda bugs and bad input: every case fails clearly (one line naming the file) or works correctly."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from prune_helpers import FIXTURE, ROOT, cleaned_config, network_dir, run_inprocess, snakemake

from circuitflow.io.snudda import SnuddaFormatError
from circuitflow.prune.combine import combine
from circuitflow.prune.index import HypervoxelError, build_index
from circuitflow.prune.merge import gather_merge_range
from circuitflow.prune.prune_file import prune_range_file
from circuitflow.prune.rule_table import PruneConfigError, check_prune_config

ERRORS = (HypervoxelError, PruneConfigError, SnuddaFormatError, ValueError)


def copy_network(net: str, dest: Path) -> Path:
    """A writable copy of a fixture network."""
    return Path(shutil.copytree(network_dir(net), dest / "network"))


def no_leftovers(folder: Path) -> None:
    """Nothing half-written: no temporary files and no outputs in `folder`."""
    assert not [p for p in folder.rglob("*") if p.is_file()], list(folder.rglob("*"))


def gabaconfig(tmp_path: Path, **extra) -> Path:
    """A minimal prune config: GABA kept with f1 = 1 (so every synapse survives)."""
    cfg = {
        "regions": {
            "R": {
                "connectivity": {"ballanddoublestick,ballanddoublestick": {"GABA": {"pruning": {"f1": 1.0}, **extra}}}
            }
        }
    }
    path = tmp_path / "gaba.json"
    path.write_text(json.dumps(cfg))
    return path


# --- Snudda bugs that circuitflow fixes -------------------------------------------------------------


def test_missing_hypervoxel_file(tmp_path):
    """Snudda logs a traceback and exits 255 mid-gather; we fail up front naming the file."""
    net = copy_network("hv40", tmp_path)
    (net / "voxels" / "network-putative-synapses-25.hdf5").unlink()
    out = tmp_path / "out"
    with pytest.raises(
        SnuddaFormatError, match=r"network-putative-synapses-25\.hdf5: hypervoxel file of HID 25 does not exist"
    ):
        build_index(net, out / "index.h5")
    no_leftovers(out)


def test_missing_hypervoxel_file_workflow(tmp_path):
    """Through snakemake: the run fails, the log has the one-line error, and no network-synapses.hdf5 exists."""
    net = copy_network("hv120", tmp_path)
    (net / "voxels" / "network-putative-synapses-2.hdf5").unlink()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"out_dir": str(tmp_path / "out"), "prune": {"network_path": str(net)}}))
    proc = snakemake(tmp_path, cfg, "prune", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "out" / "logs" / "prune" / "check_hypervoxels.log").read_text().strip()
    assert log.splitlines()[-1].startswith("error: ") and "network-putative-synapses-2.hdf5" in log.splitlines()[-1]
    assert log.splitlines()[-1] in proc.stderr  # the console shows the one-line cause too
    assert not (tmp_path / "out" / "network-synapses.hdf5").exists()
    assert not (tmp_path / "out" / "prune" / "hypervoxels.h5").exists()


def test_undetected_connection_type(tmp_path):
    """Snudda's config-integrity check never fires (then KeyError); we list every missing connection."""
    cfg = json.loads(cleaned_config("hv120", "default", tmp_path / "c.json").read_text())
    con = cfg["regions"]["TestStriatum"]["connectivity"]["ballanddoublestick,ballanddoublestick"]
    con["NMDA"] = {"pruning": {"f1": 0.5}}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    with pytest.raises(
        PruneConfigError,
        match=r"ballanddoublestick->ballanddoublestick NMDA that were not present "
        r"at detect time; rerun detect first",
    ):
        check_prune_config(network_dir("hv120"), tmp_path / "c.json", None, tmp_path / "rules.json")
    assert not (tmp_path / "rules.json").exists()


def test_merge_file_over_one_million_rows_loses_nothing(tmp_path):
    """Snudda drops the tail rows of a >1,000,000-row merge file when they belong to a new neuron (P-2)."""
    rng = np.random.default_rng(7)
    n = 1_000_003
    rows = rng.integers(0, 1000, size=(n, 13), dtype=np.int32)
    rows[:, 0] = rng.integers(10, 20, size=n)
    rows[:, 1] = np.sort(rng.integers(0, 27, size=n))
    rows[:, 6] = 10
    rows[-1, 1] = 27  # the last row belongs to another neuron: exactly what Snudda loses
    rows = rows[np.lexsort((rows[:, 6], rows[:, 0], rows[:, 1]))]
    merged = tmp_path / "merged.h5"
    with h5py.File(merged, "w") as f:
        f.attrs["range"] = (0, 28)
        f.attrs["n_neurons"] = 28
        f["network/synapses"] = rows
        f["network/gap_junctions"] = np.zeros((0, 11), np.int32)
    config = gabaconfig(tmp_path)
    outs = []
    for chunk in (2_000_000, 300_000):
        out = tmp_path / f"pruned-{chunk}.h5"
        counts = prune_range_file(merged, config, 1, network_dir("hv120"), out, chunk_rows=chunk)
        assert counts["synapses"] == (n, n)
        with h5py.File(out) as f:
            got = f["synapses"][()]
        assert got[-1, 1] == 27
        np.testing.assert_array_equal(got[:, :12], rows[:, :12])
        outs.append(got.tobytes())
    assert outs[0] == outs[1]


def test_override_config_without_seed_keeps_network_seed(tmp_path, caplog):
    """Snudda silently switches to 1003; we keep the network's random_seed.prune and warn (P-5)."""
    cfg = cleaned_config("hv120", "test-1", tmp_path / "c.json")
    with caplog.at_level(logging.WARNING):
        result = check_prune_config(network_dir("hv120"), cfg, None, tmp_path / "rules.json")
    assert result["seed"] == 2698621808
    assert "detect-time network config" in result["seed_source"]
    assert "2698621808" in caplog.text
    assert check_prune_config(network_dir("hv120"), cfg, 1003, tmp_path / "r2.json")["seed"] == 1003


@pytest.mark.parametrize("case,key", [("test-4", "dist-pruning"), ("test-10", "soft-max")])
def test_misspelled_pruning_key(tmp_path, case, key):
    """Snudda ignores unknown keys; we name the key, where it is and the allowed keys (P-6)."""
    cfg = FIXTURE / "hv120" / "expected" / case / "prune-config.json"
    with pytest.raises(PruneConfigError) as err:
        check_prune_config(network_dir("hv120"), cfg, None, tmp_path / "rules.json")
    msg = str(err.value)
    assert f"unknown key '{key}'" in msg and "allowed: a3, cluster_pruning, dist_pruning, f1, mu2, soft_max" in msg
    assert str(cfg) in msg and "\n" not in msg


def test_legacy_and_misspelled_con_type_keys(tmp_path):
    """pruningOther / pruning-other are rejected with the right spelling."""
    cfg = gabaconfig(tmp_path, pruningOther={"f1": 0.5})
    with pytest.raises(PruneConfigError, match="unknown key 'pruningOther'; did you mean 'pruning_other'"):
        check_prune_config(network_dir("hv120"), cfg, None, tmp_path / "rules.json")


def test_gap_junction_distance_pruning_rejected_before_gathering(tmp_path):
    """Snudda's test-10 aborts after pruning the synapses, leaving a partial output; we refuse the config (P-12)."""
    cfg = cleaned_config("hv120", "test-10", tmp_path / "c.json")
    with pytest.raises(PruneConfigError, match="dist_pruning is supported for synapses only, not gap junctions"):
        check_prune_config(network_dir("hv120"), cfg, None, tmp_path / "rules.json")


def test_bad_expression_and_mu2(tmp_path):
    """Expressions may only use d (P-16); mu2 must be > 0 (P-13)."""
    with pytest.raises(PruneConfigError, match="uses n_keep"):
        check_prune_config(
            network_dir("hv120"), gabaconfig(tmp_path, pruning={"dist_pruning": "d*n_keep"}), None, tmp_path / "r.json"
        )
    with pytest.raises(PruneConfigError, match="mu2 must be > 0"):
        check_prune_config(network_dir("hv120"), gabaconfig(tmp_path, pruning={"mu2": 0}), None, tmp_path / "r.json")


def test_incomplete_detection(tmp_path):
    """Snudda prunes an incomplete detection silently (its check never fires); we refuse (P-3)."""
    net = copy_network("hv120", tmp_path)
    with h5py.File(net / "log" / "network-detect-worklog.hdf5", "a") as f:
        f["num_completed"][0] = 2
    with pytest.raises(HypervoxelError, match="detection not done: 1 hypervoxels not completed"):
        build_index(net, tmp_path / "out" / "index.h5")


# --- bad input ----------------------------------------------------------------------------------------


def edit_voxel_file(net: Path, hid: int, fn) -> None:
    with h5py.File(net / "voxels" / f"network-putative-synapses-{hid}.hdf5", "a") as f:
        fn(f)


def test_missing_worklog(tmp_path):
    net = copy_network("hv120", tmp_path)
    (net / "log" / "network-detect-worklog.hdf5").unlink()
    with pytest.raises(SnuddaFormatError, match="network-detect-worklog.hdf5: detect worklog does not exist"):
        build_index(net, tmp_path / "out" / "index.h5")


def test_corrupt_hdf5(tmp_path):
    net = copy_network("hv120", tmp_path)
    (net / "voxels" / "network-putative-synapses-0.hdf5").write_bytes(b"not an hdf5 file" * 100)
    with pytest.raises(SnuddaFormatError, match=r"network-putative-synapses-0\.hdf5: cannot read hypervoxel file"):
        build_index(net, tmp_path / "out" / "index.h5")
    no_leftovers(tmp_path / "out")


def test_wrong_columns(tmp_path):
    net = copy_network("hv120", tmp_path)

    def drop_column(f):
        rows = f["network/synapses"][()]
        del f["network/synapses"]
        f["network/synapses"] = rows[:, :12]

    edit_voxel_file(net, 0, drop_column)
    with pytest.raises(SnuddaFormatError, match=r"'network/synapses' has shape \(360, 12\), expected \(n, 13\)"):
        build_index(net, tmp_path / "out" / "index.h5")


def test_unsorted_rows(tmp_path):
    net = copy_network("hv120", tmp_path)
    edit_voxel_file(net, 0, lambda f: f["network/synapses"].write_direct(f["network/synapses"][()][::-1].copy()))
    build_index(net, tmp_path / "index.h5")  # the lookup table is still fine
    with pytest.raises(HypervoxelError, match=r"network-putative-synapses-0\.hdf5: network/synapses is not sorted"):
        gather_merge_range(net, tmp_path / "index.h5", 1, 0, tmp_path / "out" / "merged.h5")
    no_leftovers(tmp_path / "out")


def test_unsorted_lookup(tmp_path):
    net = copy_network("hv120", tmp_path)
    edit_voxel_file(
        net, 0, lambda f: f["network/synapse_lookup"].write_direct(f["network/synapse_lookup"][()][::-1].copy())
    )
    with pytest.raises(HypervoxelError, match="unique_id in the lookup table is not strictly increasing"):
        build_index(net, tmp_path / "out" / "index.h5")


def test_neuron_ids_out_of_range(tmp_path):
    net = copy_network("hv120", tmp_path)

    def big_last_uid(f):
        lk = f["network/synapse_lookup"][()]
        lk[-1, 0] = 28 * 28 * 12 + 5
        f["network/synapse_lookup"][...] = lk

    edit_voxel_file(net, 0, big_last_uid)
    with pytest.raises(HypervoxelError, match=r"neuron ids out of range 0\.\.27"):
        build_index(net, tmp_path / "out" / "index.h5")
    net3 = copy_network("hv120", tmp_path / "c")

    def big_src(f):
        rows = f["network/synapses"][()]
        rows[0, 0] = 99
        f["network/synapses"][...] = rows

    edit_voxel_file(net3, 0, big_src)
    build_index(net3, tmp_path / "c" / "index.h5")
    with pytest.raises(HypervoxelError, match=r"source neuron ids out of range 0\.\.27"):
        gather_merge_range(net3, tmp_path / "c" / "index.h5", 1, 0, tmp_path / "out" / "merged.h5")
    net2 = copy_network("hv40", tmp_path / "b")
    with h5py.File(net2 / "log" / "network-detect-worklog.hdf5", "a") as f:
        f["network/neurons/neuron_id"][...] = np.arange(1, 29)
    with pytest.raises(HypervoxelError, match="neuron_id must be exactly 0..N-1"):
        build_index(net2, tmp_path / "out" / "index.h5")


def test_hypervoxel_meta_mismatch(tmp_path):
    net = copy_network("hv40", tmp_path)
    edit_voxel_file(net, 25, lambda f: f["meta/voxel_size"].write_direct(np.array(4e-6)))
    with pytest.raises(HypervoxelError, match=r"network-putative-synapses-25\.hdf5: mismatch of meta/voxel_size"):
        build_index(net, tmp_path / "out" / "index.h5")
    net = copy_network("hv40", tmp_path / "b")
    edit_voxel_file(net, 9, lambda f: f["meta/hyper_voxel_origo"].write_direct(np.array([0.0, 0.0, 1e-9])))
    with pytest.raises(HypervoxelError, match="hyper voxel origo mismatch"):
        build_index(net, tmp_path / "out" / "index.h5")


def set_config_text(f: h5py.File, text: str) -> None:
    del f["config"]
    f["config"] = text


def test_hypervoxel_config_from_another_detect_run(tmp_path):
    """A hypervoxel file's /config must be the worklog's meta/config: the same JSON, however formatted."""
    net = copy_network("hv40", tmp_path)
    cfg = json.loads(h5py.File(net / "voxels" / "network-putative-synapses-25.hdf5", "r")["config"][()])
    edit_voxel_file(net, 25, lambda f: set_config_text(f, json.dumps(cfg, indent=3)))  # same JSON, other text
    build_index(net, tmp_path / "ok" / "index.h5")
    cfg["random_seed"]["masterseed"] += 1
    edit_voxel_file(net, 25, lambda f: set_config_text(f, json.dumps(cfg)))
    with pytest.raises(HypervoxelError, match=r"synapses-25\.hdf5: /config differs from the worklog's meta/config"):
        build_index(net, tmp_path / "out" / "index.h5")
    edit_voxel_file(net, 25, lambda f: set_config_text(f, "{not json"))
    with pytest.raises(HypervoxelError, match=r"synapses-25\.hdf5: /config is not JSON"):
        build_index(net, tmp_path / "out" / "index.h5")
    no_leftovers(tmp_path / "out")


def test_legacy_worklog_names(tmp_path):
    net = copy_network("hv120", tmp_path)
    with h5py.File(net / "log" / "network-detect-worklog.hdf5", "a") as f:
        f.move("meta/voxel_size", "meta/voxelSize")
    with pytest.raises(SnuddaFormatError, match="legacy .* has 'meta/voxelSize', expected 'meta/voxel_size'"):
        build_index(net, tmp_path / "out" / "index.h5")


def test_combine_refuses_gaps_and_writes_nothing(tmp_path):
    config = cleaned_config("hv120", "default", tmp_path / "c.json")
    run_inprocess(network_dir("hv120"), config, None, 2, tmp_path / "run")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="range starts at"):
        combine([tmp_path / "run" / "pruned-1.h5"], config, network_dir("hv120"), out / "network-synapses.hdf5")
    no_leftovers(out)


def test_script_error_is_one_line(tmp_path):
    """The rule scripts turn bad input into exit 1 and a single ERROR line (no traceback)."""
    net = copy_network("hv120", tmp_path)
    (net / "voxels" / "network-putative-synapses-1.hdf5").unlink()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "prune_check_hypervoxels.py"),
            "--network",
            str(net),
            "--out",
            str(tmp_path / "idx.h5"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "network-putative-synapses-1.hdf5" in errors[0]


# --- projection synapses ------------------------------------------------------------------------------


def add_projection(net: Path, rows: np.ndarray, count: int | None = None) -> None:
    """Write network-projection-synapses.hdf5 (HID -1) and record its count in the worklog."""
    rows = rows[np.lexsort((rows[:, 6], rows[:, 0], rows[:, 1]))]
    pair = rows[:, 1].astype(np.int64) * 28 + rows[:, 0]
    first = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    lookup = np.stack([pair[first] * 12 + rows[first, 6], first, np.r_[first[1:], len(rows)]], axis=1)
    with h5py.File(net / "network-projection-synapses.hdf5", "w") as f:
        f["network/synapses"] = rows
        f["network/synapse_lookup"] = lookup.astype(np.int64)
        f["network/num_synapses"] = np.int64(len(rows))
        f["network/max_channel_type_id"] = np.int64(12)
    with h5py.File(net / "log" / "network-detect-worklog.hdf5", "a") as f:
        f["num_projection_synapses"] = np.int64(len(rows) if count is None else count)


def test_projection_synapses_join_as_hypervoxel_minus_one(tmp_path):
    """Projection rows (HID -1) are gathered with the hypervoxel rows and sort first among equal unique_ids."""
    net = copy_network("hv120", tmp_path)
    proj = np.zeros((6, 13), np.int32)
    proj[:, 0], proj[:, 1], proj[:, 5], proj[:, 6] = 11, 3, -1, 10
    proj[3:, 0] = 21  # a pair detect never saw
    proj[:, 8] = 50
    add_projection(net, proj)
    final, _ = run_inprocess(net, gabaconfig(tmp_path), 5, 2, tmp_path / "run")
    with h5py.File(final) as f:
        syn = f["network/synapses"][()]
    gaba = 180  # every putative GABA synapse of the fixture survives f1 = 1
    assert len(syn) == gaba + 6
    onto3 = syn[(syn[:, 1] == 3) & (syn[:, 0] == 11)]
    assert (onto3[:3, 5] == -1).all() and (onto3[3:, 5] != -1).all()
    assert np.all(np.diff(syn[:, 1].astype(np.int64) * 28 + syn[:, 0]) >= 0)


def test_projection_count_mismatch(tmp_path):
    net = copy_network("hv120", tmp_path)
    proj = np.zeros((2, 13), np.int32)
    proj[:, 0], proj[:, 1], proj[:, 5], proj[:, 6] = 11, 3, -1, 10
    add_projection(net, proj, count=3)
    with pytest.raises(HypervoxelError, match="network-projection-synapses.hdf5: has 2 synapses, the worklog says 3"):
        build_index(net, tmp_path / "out" / "index.h5")
    (net / "network-projection-synapses.hdf5").unlink()
    with pytest.raises(SnuddaFormatError, match="projection file does not exist"):
        build_index(net, tmp_path / "out" / "index.h5")


# --- Snudda quirks kept, but made visible -------------------------------------------------------------


def test_slurm_id_mismatch_only_warns(tmp_path, caplog):
    """A detect resumed under another SLURM job id is not an error (P-20), unlike Snudda's assertion."""
    net = copy_network("hv120", tmp_path)
    edit_voxel_file(net, 0, lambda f: f["meta/slurm_id"].write_direct(np.array(1234)))
    with caplog.at_level(logging.WARNING):
        build_index(net, tmp_path / "index.h5")
    assert "slurm_id 1234 differs" in caplog.text


def test_voxel_overflow_is_reported(tmp_path, caplog):
    """Touches lost to voxel overflow at detect are logged with counts (P-22)."""
    net = copy_network("hv40", tmp_path)
    with h5py.File(net / "log" / "network-detect-worklog.hdf5", "a") as f:
        f["voxel_overflow_counter"][1] = 7
    with caplog.at_level(logging.WARNING):
        build_index(net, tmp_path / "index.h5")
    assert "voxel overflow: 7 touches were lost at detect, in 1 hypervoxels" in caplog.text


def test_duplicate_rule_last_wins_and_post_lists(tmp_path, caplog):
    """A later region's rule for the same connection wins, with a warning (P-17); "A,['B']" is a list (P-24)."""
    cfg = {
        "regions": {
            "R1": {"connectivity": {"ballanddoublestick,ballanddoublestick": {"GABA": {"pruning": {"f1": 0.1}}}}},
            "R2": {"connectivity": {"ballanddoublestick,['ballanddoublestick']": {"GABA": {"pruning": {"f1": 0.2}}}}},
        }
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    with caplog.at_level(logging.WARNING):
        result = check_prune_config(network_dir("hv120"), path, 1, tmp_path / "r.json")
    assert [r["pruning"]["f1"] for r in result["rules"]] == [0.2]
    assert "last wins" in caplog.text
