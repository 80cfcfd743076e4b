"""Helpers for the prune tests: fixture paths, cleaned Snudda configs, in-process pipeline runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from circuitflow.prune.combine import combine
from circuitflow.prune.index import build_index
from circuitflow.prune.merge import gather_merge_range
from circuitflow.prune.prune_file import prune_range_file
from circuitflow.prune.rule_table import check_prune_config

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "prune-fixture"
NETWORKS = ("hv120", "hv40")
CASES = ("default",) + tuple(f"test-{k}" for k in range(1, 10))
VENV_BIN = Path(sys.executable).parent


def network_dir(net: str) -> Path:
    """The fixture's Snudda network directory."""
    return FIXTURE / net / "network"


def cleaned_config(net: str, case: str, dest: Path) -> Path:
    """Snudda's config for `case` with the keys it silently ignored removed (spec P-6)."""
    text = (FIXTURE / net / "expected" / case / "prune-config.json").read_text()
    text = re.sub(r',\s*"dist-pruning": null', "", text)
    text = re.sub(r'"soft-max": 8,\s*', "", text)
    json.loads(text)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    return dest


def case_seed(net: str, case: str) -> int:
    """Seed Snudda used for a case (1003 for test configs without random_seed)."""
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    return int(manifest["networks"][net]["cases"][case]["prune_seed"])


def expected_rows(net: str, case: str) -> tuple[np.ndarray, np.ndarray]:
    """Snudda's /network/synapses and /network/gap_junctions for a case."""
    with h5py.File(FIXTURE / net / "expected" / case / "network-synapses.hdf5", "r") as f:
        return f["network/synapses"][()], f["network/gap_junctions"][()]


def read_rows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Our output's synapse and gap-junction tables."""
    with h5py.File(path, "r") as f:
        return f["network/synapses"][()], f["network/gap_junctions"][()]


def run_inprocess(
    net: Path, config: Path, seed: int | None, n_ranges: int, work: Path, share: bool = True
) -> tuple[Path, list[np.ndarray]]:
    """Run check -> gather + merge -> prune -> combine in-process; return output and interleaved dests."""
    work.mkdir(parents=True, exist_ok=True)
    index = work / "hypervoxels.h5"
    build_index(net, index)
    rules = work / "rules.json"
    check_prune_config(net, config, seed, rules)
    pruned, interleaved = [], []
    for i in range(n_ranges):
        merged = work / f"merged-{i}.h5"
        interleaved.append(gather_merge_range(net, index, n_ranges, i, merged)["type_interleaved_dest_ids"])
        out = work / f"pruned-{i}.h5"
        prune_range_file(merged, config, seed, net, out, share)
        pruned.append(out)
    final = work / "network-synapses.hdf5"
    combine(pruned, config, net, final)
    return final, interleaved


def snakemake(workdir: Path, configfile: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real workflow with `snakemake --cores 2` from the project's venv."""
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    # Targets go before --configfile: it takes several values and would swallow them.
    cmd = [
        str(VENV_BIN / "snakemake"),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
        "--configfile",
        str(configfile),
    ]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc
