"""Shared test helpers: run the real Snakemake workflow on tiny configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
BIN = Path(sys.executable).parent

# The SLURM executor plugin (extra `slurm`) runs `scontrol show config` whenever Snakemake starts; where a
# SLURM client is installed but no controller answers, that waits about 10 s per run. Unless the live-SLURM
# tests are asked for (CIRCUITFLOW_SLURM=1, as in CI), an empty SLURM_CONF makes it fail at once.
if os.environ.get("CIRCUITFLOW_SLURM") != "1":
    os.environ.setdefault("SLURM_CONF", os.devnull)


def snakemake_command(workdir: Path, config: dict | None, *args: str) -> tuple[list[str], dict]:
    """The `snakemake` command of this repository for `workdir` (`config` written to config.yaml) and its env."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(workdir / "config.yaml")]
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return cmd + list(args), env


def run_snakemake(workdir: Path, config: dict | None, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `snakemake` of this repository in `workdir` with `config` written to config.yaml."""
    cmd, env = snakemake_command(workdir, config, *args)
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def job_counts(dry_run_stdout: str) -> dict:
    """Rule -> job count from the job table a dry run prints ({} when nothing is to be done)."""
    lines = dry_run_stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("job") and "count" in line), None)
    counts = {}
    if start is None:
        return counts
    for line in lines[start + 2 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture
def snakemake_run():
    """The `run_snakemake` helper as a fixture."""
    return run_snakemake
