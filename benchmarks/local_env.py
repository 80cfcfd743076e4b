"""The environment in which the benchmarks start Snakemake for a local (not SLURM) run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def snakemake_env(**extra: str) -> dict:
    """os.environ with this environment's bin first on PATH (every job's `python` is this one, also when the
    venv is not activated) and SLURM_CONF=/dev/null: the SLURM executor plugin (extra circuitflow[slurm]) runs
    `scontrol show config` when Snakemake starts, and with a SLURM client whose controller is down (this
    project's VMs between CI runs) that waits about 10 s for nothing; an empty SLURM_CONF makes it fail at
    once. A laptop without SLURM and a cluster's login node never wait."""
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", SLURM_CONF=os.devnull, **extra)
