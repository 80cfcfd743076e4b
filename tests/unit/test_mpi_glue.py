"""circuitflow.mpi without an MPI launcher: the serial path, and a one-line error when mpi4py is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

from circuitflow import mpi


def test_without_mpi_the_work_runs_once_as_rank_0_of_1():
    assert mpi.run_shared(lambda rank, size: [(rank, size)], use_mpi=False) == [(0, 1)]
    assert mpi.world(False) is None


def test_mpi_without_mpi4py_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import fails as if it were not installed
    with pytest.raises(OSError, match=r"--mpi given, but mpi4py cannot be imported .*\.\[slurm\]"):
        mpi.world(True)
    with pytest.raises(OSError, match="--mpi given"):
        mpi.run_shared(lambda rank, size: [], use_mpi=True)


def test_detect_hypervoxels_script_reports_it_in_one_line(tmp_path):
    """The rule's script turns it into one `error:` line and exit 1, before any work."""
    (tmp_path / "rasters.json").write_text('{"rasters": ["r.h5"]}')
    code = (
        "import sys, runpy; sys.modules['mpi4py'] = None; "
        f"sys.argv = ['detect_hypervoxels.py', '--mpi', '--work-dir', '{tmp_path}', '--grid', 'g.json', "
        "'--batch', '0', '--batches', '1', '--out-dir', 'out', '--raster-index', 'rasters.json']; "
        f"runpy.run_path('{ROOT / 'scripts/detect_hypervoxels.py'}', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --mpi given, but mpi4py cannot be imported")
