"""Detect on Snudda's test network (tests/data/detect-fixture) must equal Snudda 3.0's files row for row."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import DATA, job_counts, run_snakemake

FIXTURE = DATA / "detect-fixture"
CASES = {"hv120": 120, "hv33": 33, "hv20": 20}
HV_META = (
    "hyper_voxel_id",
    "hyper_voxel_origo",
    "simulation_origo",
    "voxel_size",
    "hyper_voxel_size",
    "num_hyper_voxels",
    "num_bins",
    "voxel_overflow_counter",
    "max_axon_voxel_ctr",
    "max_dend_voxel_ctr",
    "config_file",
    "position_file",
    "snudda_data",
    "slurm_id",
)
WORKLOG = ("all_hyper_ids", "num_completed", "hyper_voxels")
SLOTS = ("num_hypervoxel_synapses", "num_hypervoxel_gap_junctions", "voxel_overflow_counter")


def completed_slots(f: h5py.File) -> dict:
    """{HID: (synapses, gap junctions, overflow)} of the completed hypervoxels (counts are per slot)."""
    n = int(f["num_completed"][0])
    return {int(h): tuple(int(f[k][i]) for k in SLOTS) for i, h in enumerate(f["completed"][:n])}


def value(f: h5py.File, key: str):
    """Dataset value with strings decoded and null datasets as None."""
    ds = f[key]
    if ds.shape is None:
        return None
    v = ds[()]
    return v.decode() if isinstance(v, bytes) else v


def assert_same(a, b, what: str) -> None:
    """Exact equality of two dataset values (arrays: shape, dtype kind and every element)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
        if a.dtype.kind in "OS" or b.dtype.kind in "OS":
            assert a.tolist() == b.tolist(), what
        else:
            assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
            diff = a != b
            if a.dtype.kind == "f":
                diff &= ~(np.isnan(a) & np.isnan(b))
            bad = np.argwhere(diff)
            assert len(bad) == 0, f"{what}: {len(bad)} cells differ, first at {bad[0].tolist()}"
    else:
        assert a == b, f"{what}: {a!r} != {b!r}"


def compare_network(got: Path, expected: Path) -> None:
    """Every hypervoxel file (rows, lookups, meta) and the worklog of `got` equal `expected` (Snudda's)."""
    exp_files = sorted(p.name for p in (expected / "voxels").glob("*.hdf5"))
    got_files = sorted(p.name for p in (got / "voxels").glob("*.hdf5"))
    assert got_files == exp_files
    for name in exp_files:
        with h5py.File(got / "voxels" / name, "r") as g, h5py.File(expected / "voxels" / name, "r") as e:
            for key in (
                "network/synapses",
                "network/gap_junctions",
                "network/synapse_lookup",
                "network/gap_junction_lookup",
                "network/max_channel_type_id",
                "config",
            ):
                assert_same(value(g, key), value(e, key), f"{name}:{key}")
            for key in HV_META:
                assert_same(value(g, f"meta/{key}"), value(e, f"meta/{key}"), f"{name}:meta/{key}")
            assert g["network/synapses"].chunks == e["network/synapses"].chunks
            assert g["network/synapses"].compression == e["network/synapses"].compression
    with (
        h5py.File(got / "log/network-detect-worklog.hdf5", "r") as g,
        h5py.File(expected / "log/network-detect-worklog.hdf5", "r") as e,
    ):
        assert sorted(g["meta"]) == sorted(e["meta"])
        for key in e["meta"]:
            assert_same(value(g, f"meta/{key}"), value(e, f"meta/{key}"), f"worklog meta/{key}")
        for key in WORKLOG:
            assert_same(value(g, key), value(e, key), f"worklog {key}")
        # `completed` is compared as a set of (HID, counts): circuitflow orders ties by HID (stable sort),
        # Snudda by numpy's unstable argsort; padding (-1, zeros) after num_completed must match
        assert completed_slots(g) == completed_slots(e)
        n = int(e["num_completed"][0])
        for key in ("completed", *SLOTS):
            assert g[key].shape == e[key].shape and g[key].dtype == e[key].dtype, key
            assert_same(g[key][n:], e[key][n:], f"worklog {key} padding")
        order = np.argsort(
            -np.array([len(json.loads(value(g, "hyper_voxels"))[str(h)]["neurons"]) for h in g["completed"][:n]]),
            kind="stable",
        )
        assert np.array_equal(order, np.arange(n)), "completed must run by descending neuron count"
        assert sorted(g["network/neurons"]) == sorted(e["network/neurons"])
        for key in e["network/neurons"]:
            if isinstance(e[f"network/neurons/{key}"], h5py.Dataset):
                assert_same(value(g, f"network/neurons/{key}"), value(e, f"network/neurons/{key}"), key)


def detect_config(out: Path, case: str, **extra) -> dict:
    """A config running detect alone on one fixture case."""
    return {
        "out_dir": str(out),
        "detect": {"network_path": str(FIXTURE / case / "inputs"), "hyper_voxel_size": CASES[case], **extra},
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_detect_equals_snudda(tmp_path, case):
    run_snakemake(tmp_path, detect_config(tmp_path / "out", case), "--cores", "2", "detect")
    compare_network(tmp_path / "out" / "network", FIXTURE / case / "expected")
    # the network folder is self-contained for prune: its config and positions are there
    assert json.loads((tmp_path / "out/network/network-config.json").read_text()) == json.loads(
        (FIXTURE / case / "inputs/network-config.json").read_text()
    )


def test_detect_same_output_for_any_chunking(tmp_path):
    cfg = detect_config(tmp_path / "out", "hv33", neuron_chunks=5, hypervoxel_jobs=3)
    run_snakemake(tmp_path, cfg, "--cores", "2", "detect")
    compare_network(tmp_path / "out" / "network", FIXTURE / "hv33" / "expected")
    # nothing to redo; a new job count redoes only the steps it splits
    assert "Nothing to be done" in run_snakemake(tmp_path, cfg, "-n", "detect").stdout
    cfg["detect"]["hypervoxel_jobs"] = 2
    plan = run_snakemake(tmp_path, cfg, "-n", "--quiet", "rules", "--", "detect").stdout
    assert "detect_hypervoxels" in plan and "detect_rasterise" not in plan and "detect_setup" not in plan


def test_detect_job_sizes_follow_neurons_same_output(tmp_path):
    """Job sizes instead of counts: 28 neurons plan 4 jobs per step by default, at 6 per job and 4 per batch 5 and 7
    jobs, and the same files as Snudda."""
    # (not a folder named "default": Snakemake would read its config.yaml as the default profile)
    plain = detect_config(tmp_path / "plain", "hv33")
    counts = job_counts(run_snakemake(tmp_path / "plain", plain, "-n", "detect").stdout)
    assert counts["detect_bbox"] == counts["detect_rasterise"] == counts["detect_hypervoxels"] == 4
    cfg = detect_config(tmp_path / "out", "hv33", neurons_per_job=6, neurons_per_hypervoxel_job=4)
    assert "neuron_chunks" not in cfg["detect"]
    run = run_snakemake(tmp_path, cfg, "--cores", "2", "detect")
    counts = job_counts(run.stdout + run.stderr)
    assert (counts["detect_bbox"], counts["detect_rasterise"], counts["detect_hypervoxels"]) == (5, 5, 7), counts
    compare_network(tmp_path / "out" / "network", FIXTURE / "hv33" / "expected")


def test_compare_can_fail(tmp_path):
    """The comparison catches a single changed cell."""
    net = tmp_path / "net"
    shutil.copytree(FIXTURE / "hv120" / "expected", net)
    with h5py.File(net / "voxels/network-putative-synapses-0.hdf5", "a") as f:
        f["network/synapses"][5, 12] += 1
    with pytest.raises(AssertionError, match="synapses"):
        compare_network(net, FIXTURE / "hv120" / "expected")


@pytest.mark.slow
def test_detect_then_prune_equals_snudda(tmp_path):
    """detect + prune in one workflow: the pruned network equals Snudda's (prune fixture, default config)."""
    out = tmp_path / "out"
    cfg = detect_config(out, "hv120")
    # the same rules with the null "dist-pruning" spelled dist_pruning (circuitflow's prune rejects unknown keys)
    prune_cfg = json.loads(
        (FIXTURE / "hv120/inputs/network-config.json").read_text().replace("dist-pruning", "dist_pruning")
    )
    (tmp_path / "prune.json").write_text(json.dumps(prune_cfg))
    cfg["prune"] = {"config_file": str(tmp_path / "prune.json")}  # no network_path: prune what detect wrote
    run_snakemake(tmp_path, cfg, "--cores", "2", "all")
    expected = DATA / "prune-fixture/hv120/expected/default/network-synapses.hdf5"
    with h5py.File(out / "network-synapses.hdf5", "r") as g, h5py.File(expected, "r") as e:
        for key in ("network/synapses", "network/gap_junctions"):
            assert_same(g[key][()], e[key][()], key)


def have_mpi() -> bool:
    """mpirun on PATH and mpi4py importable (the optional `mpi` extra)."""
    import importlib.util

    return shutil.which("mpirun") is not None and importlib.util.find_spec("mpi4py") is not None


@pytest.mark.slow
@pytest.mark.skipif(not have_mpi(), reason="needs mpirun and mpi4py (pip install '.[slurm]')")
def test_detect_hypervoxels_under_mpi_equals_snudda(tmp_path):
    """The hypervoxel rule launched by MPI (2 ranks splitting one batch) writes Snudda's files."""
    cfg = detect_config(tmp_path / "out", "hv33", hypervoxel_jobs=1)
    launcher = "mpirun --oversubscribe" + (" --allow-run-as-root" if os.geteuid() == 0 else "")
    run_snakemake(
        tmp_path,
        cfg,
        "--cores",
        "2",
        "--set-resources",
        f"detect_hypervoxels:mpi='{launcher}'",
        "detect_hypervoxels:tasks=2",
        "--",
        "detect",
    )
    log = (tmp_path / "out/logs/detect/hypervoxels_0.log").read_text()
    assert "hypervoxels 0.0" in log and "hypervoxels 0.1" in log  # both ranks worked
    compare_network(tmp_path / "out" / "network", FIXTURE / "hv33" / "expected")
