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
    """A local profile that launches synthesize_chunk with mpirun and `tasks` ranks."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.v8+.yaml").write_text(
        "set-resources:\n"
        "  synthesize_chunk:\n"
        "    mpi: mpirun --allow-run-as-root --oversubscribe\n"
        f"    tasks: {tasks}\n"
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
