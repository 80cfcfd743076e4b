"""Synthesis throughput: circuitflow vs region-grower 1.6.0, cells/s at 1 and 2 cores.

Usage:  python benchmarks/synthesis.py [--cells 200] [--repeat 3] [--work /tmp/cf-bench-synthesis] [--skip-upstream]

Generates the example circuit with --cells cells (four mtypes, pyramidal and basal-only), then times
  * circuitflow: `snakemake --cores N synthesis` (whole workflow, atlas cache to final files);
  * region-grower 1.6.0: `region-grower synthesize-morphologies --nb-processes N`, installed by this
    script in its own virtual environment (<work>/venv-region-grower) with the versions it needs;
with apical NRN section ids off and on, and prints cells/s and the ratios. Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
UPSTREAM_PACKAGES = [
    "region-grower==1.6.0", "neurots==3.7.0", "numpy==1.26.4", "pandas==2.2.3", "dask[distributed]==2024.12.1",
    "distributed==2024.12.1", "pyarrow==18.1.0", "setuptools<81", "morphio==3.5.0", "voxcell==3.1.11",
    "morph-tool==2.11.3", "neuroc==0.3.0", "diameter-synthesis==0.7.1", "neuron",
]


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    """Wall time of a command (fails loudly)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def circuitflow_run(example: Path, work: Path, cores: int, nrn: bool, n_cells: int, per_core: int = 1) -> float:
    """Time the circuitflow synthesis target on the example circuit."""
    run = work / f"cf-{cores}-{'nrn' if nrn else 'plain'}"
    subprocess.run(["rm", "-rf", str(run)], check=True)
    run.mkdir(parents=True)
    section = {
        "input_cells": str(example / "cells.h5"), "atlas": str(example / "atlas"),
        "tmd_parameters": str(example / "tmd_parameters.json"),
        "tmd_distributions": str(example / "tmd_distributions.json"),
        "region_structure": str(example / "region_structure.yaml"), "seed": 0, "out_morph_ext": ["asc"],
        "out_apical_nrn_sections": nrn, "chunk_size": max(1, -(-n_cells // (per_core * cores))),
    }
    (run / "config.yaml").write_text(yaml.safe_dump({"out_dir": "out", "synthesis": section}))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    cmd = [str(BIN / "snakemake"), "synthesis", "--snakefile", str(ROOT / "Snakefile"), "--configfile", "config.yaml",
           "--cores", str(cores), "--quiet", "all"]
    return timed(cmd, run, env)


def upstream_venv(work: Path) -> Path:
    """A virtual environment with region-grower 1.6.0 (created once)."""
    venv = work / "venv-region-grower"
    if not (venv / "bin" / "region-grower").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *UPSTREAM_PACKAGES], check=True)
    return venv


def upstream_run(venv: Path, example: Path, work: Path, cores: int, nrn: bool) -> float:
    """Time region-grower's CLI on the same circuit."""
    run = work / f"rg-{cores}-{'nrn' if nrn else 'plain'}"
    subprocess.run(["rm", "-rf", str(run)], check=True)
    run.mkdir(parents=True)
    cmd = [
        str(venv / "bin" / "region-grower"), "synthesize-morphologies",
        "--input-cells", str(example / "cells.h5"), "--tmd-parameters", str(example / "tmd_parameters.json"),
        "--tmd-distributions", str(example / "tmd_distributions.json"), "--atlas", str(example / "atlas"),
        "--region-structure", str(example / "region_structure.yaml"), "--out-cells", str(run / "nodes.h5"),
        "--out-apical", str(run / "apical.yaml"), "--out-morph-dir", str(run / "morphologies"),
        "--out-morph-ext", "asc", "--seed", "0", "--nb-processes", str(cores), "--hide-progress-bar",
    ]
    if nrn:
        cmd += ["--out-apical-nrn-sections", str(run / "apical_NRN_sections.yaml")]
    env = dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return timed(cmd, run, env)


def same_outputs(example_run: Path, upstream_run_dir: Path) -> bool:
    """Whether circuitflow's and region-grower's morphology files and apical YAML are byte-identical."""
    ours = example_run / "out" / "synthesis"
    files = sorted(p.name for p in (upstream_run_dir / "morphologies").iterdir())
    same = files == sorted(p.name for p in (ours / "morphologies").iterdir() if not p.name.startswith("."))
    same = same and all(
        (upstream_run_dir / "morphologies" / f).read_bytes() == (ours / "morphologies" / f).read_bytes() for f in files
    )
    return same and (upstream_run_dir / "apical.yaml").read_bytes() == (ours / "apical.yaml").read_bytes()


def main() -> None:
    """Run every measurement and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/cf-bench-synthesis"))
    parser.add_argument("--skip-upstream", action="store_true")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each tool per setting, alternating; the median is reported")
    parser.add_argument("--chunks-per-core", type=int, default=1,
                        help="chunk jobs per core (default 1: region-grower's one partition per process)")
    parser.add_argument("--nrn", choices=["both", "off", "on"], default="both",
                        help="apical NRN section ids off, on, or both (default)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    example = args.work / "example"
    if not (example / "cells.h5").exists():
        from circuitflow.example import make_example

        make_example(example, n_cells=args.cells)
    venv = None if args.skip_upstream else upstream_venv(args.work)
    rows = []
    settings = {"both": (False, True), "off": (False,), "on": (True,)}[args.nrn]
    for nrn in settings:
        for cores in (1, 2):
            ours_runs, theirs_runs = [], []
            for _ in range(args.repeat):  # alternate, so that a slow spell of the machine hits both
                ours_runs.append(circuitflow_run(example, args.work, cores, nrn, args.cells, args.chunks_per_core))
                theirs_runs.append(upstream_run(venv, example, args.work, cores, nrn) if venv else float("nan"))
            ours, theirs = statistics.median(ours_runs), statistics.median(theirs_runs)
            tag = f"{cores}-{'nrn' if nrn else 'plain'}"
            identical = same_outputs(args.work / f"cf-{tag}", args.work / f"rg-{tag}") if venv else None
            rows.append({"nrn": nrn, "cores": cores, "identical_files": identical,
                         "circuitflow_runs_s": ours_runs, "region_grower_runs_s": theirs_runs,
                         "circuitflow_s": ours, "region_grower_s": theirs,
                         "circuitflow_cells_per_s": args.cells / ours, "region_grower_cells_per_s": args.cells / theirs,
                         "ratio": theirs / ours})
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.cells} cells")
    print(f"{'NRN ids':8} {'cores':>5} {'circuitflow cells/s':>20} {'region-grower cells/s':>22} {'ratio':>6}")
    for r in rows:
        print(f"{str(r['nrn']):8} {r['cores']:>5} {r['circuitflow_cells_per_s']:>20.2f} "
              f"{r['region_grower_cells_per_s']:>22.2f} {r['ratio']:>6.2f}")
    for nrn in settings:
        one, two = (r for r in rows if r["nrn"] == nrn)
        print(f"circuitflow speed-up 1 -> 2 cores (NRN ids {nrn}): {one['circuitflow_s'] / two['circuitflow_s']:.2f}")


if __name__ == "__main__":
    main()
