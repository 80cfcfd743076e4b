"""MPI jobs: a chunk split over 2 ranks gives byte-identical outputs to the serial run."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import run_snakemake
from test_synthesis_workflow import assert_same_outputs, final_outputs, grafting_config

REQUIRED = os.environ.get("CIRCUITFLOW_REQUIRE_MPI") == "1"


def mpi_available() -> bool:
    """mpirun on PATH and mpi4py importable."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return shutil.which("mpirun") is not None


pytestmark = pytest.mark.skipif(not REQUIRED and not mpi_available(), reason="no MPI here (CI installs it)")


def mpi_profile(folder, tasks: int = 2):
    """A local profile that launches synthesis_chunk with mpirun and `tasks` ranks."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.v8+.yaml").write_text(
        f"set-resources:\n  synthesis_chunk:\n    mpi: mpirun --allow-run-as-root --oversubscribe\n    tasks: {tasks}\n"
    )
    return folder


def test_mpi_chunks_identical_to_serial(tmp_path):
    config = grafting_config(chunk_size=7)
    serial, parallel = tmp_path / "serial", tmp_path / "mpi"
    run_snakemake(serial, config, "--cores", "2", "synthesis")
    profile = mpi_profile(tmp_path / "profile")
    run_snakemake(parallel, config, "--cores", "2", "--profile", str(profile), "synthesis")
    log = (parallel / "out/logs/synthesis/chunk_0.log").read_text()
    assert "rank 0 of 2" in log and "rank 1 of 2" in log
    assert_same_outputs(final_outputs(serial) / "morphologies", final_outputs(parallel) / "morphologies")
    for name in ("apical.yaml", "apical_NRN_sections.yaml"):
        assert (final_outputs(serial) / name).read_bytes() == (final_outputs(parallel) / name).read_bytes()
    for chunk in (0, 1):
        table = f"out/synthesis/chunks/{chunk}.json"
        assert (serial / table).read_bytes() == (parallel / table).read_bytes()


def test_mpi_prune_range_identical_to_serial(tmp_path):
    """prune_range over 2 ranks (small row chunks, so both ranks work) writes the serial run's rows."""
    import subprocess
    import sys

    import h5py
    import numpy as np
    from conftest import DATA, ROOT

    network = DATA / "prune-fixture/hv40/network"
    run_snakemake(
        tmp_path, {"out_dir": "out", "prune": {"network_path": str(network), "n_ranges": 1}}, "--cores", "1", "prune"
    )
    merged = tmp_path / "out/prune/ranges-1/merged-0.h5"
    script = [
        str(ROOT / "scripts/prune_range.py"),
        "--merged",
        str(merged),
        "--config",
        str(network / "network-config.json"),
        "--network",
        str(network),
        "--chunk-rows",
        "40",
    ]
    serial, parallel = tmp_path / "serial.h5", tmp_path / "mpi.h5"
    subprocess.run([sys.executable, *script, "--out", str(serial)], check=True)
    subprocess.run(
        [
            "mpirun",
            "--allow-run-as-root",
            "--oversubscribe",
            "-n",
            "2",
            sys.executable,
            *script,
            "--mpi",
            "--out",
            str(parallel),
        ],
        check=True,
    )
    with h5py.File(serial, "r") as a, h5py.File(parallel, "r") as b:
        for name in ("synapses", "gap_junctions"):
            assert a[name].shape[0] > 0
            np.testing.assert_array_equal(a[name][()], b[name][()])


def test_mpi_detect_hypervoxels_equals_snudda(tmp_path):
    """detect_hypervoxels launched on 2 ranks (a profile's `mpi`) writes Snudda's network, as the serial run does."""
    from test_detect_fixture import FIXTURE, compare_network, detect_config

    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.v8+.yaml").write_text(
        "set-resources:\n  detect_hypervoxels:\n    mpi: mpirun --allow-run-as-root --oversubscribe\n    tasks: 2\n"
    )
    cfg = detect_config(tmp_path / "out", "hv33", hypervoxel_jobs=1)
    run_snakemake(tmp_path, cfg, "--cores", "2", "--profile", str(profile), "detect")
    log = (tmp_path / "out/logs/detect/hypervoxels_0.log").read_text()
    assert "hypervoxels 0.0" in log and "hypervoxels 0.1" in log, log[-2000:]  # both ranks worked
    compare_network(tmp_path / "out" / "network", FIXTURE / "hv33" / "expected")
