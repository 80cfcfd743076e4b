"""Synthesis throughput: region-grower 1.6.0 vs circuitflow's `neurots` and `compiled` engines, cells/s.

Usage:  python benchmarks/synthesis.py [--cells 2000] [--repeat 1] [--work /tmp/cf-bench-synthesis]
                                       [--rg-venv /work/venvs/rg] [--cores 1 2] [--parity-cells 5000]

Generates the example circuit with --cells cells (four mtypes, pyramidal and basal-only; no donors), then
times, alternating the tools within each repetition so that a slow spell of the shared machine hits all:
  * region-grower 1.6.0: `region-grower synthesize-morphologies --nb-processes N` from its own virtual
    environment (--rg-venv; created with the versions it needs when missing);
  * circuitflow: `snakemake --cores N synthesis` (whole workflow: atlas cache, parameter check, chunks,
    final files) with the default configuration (no chunk_size), `synthesis.engine: neurots` and
    `compiled`; the compiled engine warm (numba cache filled before) and cold (empty NUMBA_CACHE_DIR).
NRN section ids off, asc output. Reports medians, cells/s, ratios to region-grower, the machine load
(`uptime`) before each run, the CPU time of each run (user + sys of every process it started: on a shared
machine wall times follow the other jobs' load, CPU time measures the work), and whether all tools wrote
byte-identical morphology files and apical.yaml.
--parity-cells N also grows an N-cell example with both engines and compares every file (no timing).
Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from local_env import BIN, snakemake_env

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM_PACKAGES = [
    "region-grower==1.6.0",
    "neurots==3.7.0",
    "numpy==1.26.4",
    "pandas==2.2.3",
    "dask[distributed]==2024.12.1",
    "distributed==2024.12.1",
    "pyarrow==18.1.0",
    "setuptools<81",
    "morphio==3.5.0",
    "voxcell==3.1.11",
    "morph-tool==2.11.3",
    "neuroc==0.3.0",
    "diameter-synthesis==0.7.1",
]


def load() -> str:
    """The machine's load averages (other jobs share its cores)."""
    return os.getloadavg().__repr__()


CPU = []  # CPU seconds (user + sys, the command and every process it waited for) of each timed command


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    """Wall time of a command (fails loudly); its CPU time goes to CPU. On a machine that other jobs
    share, wall times follow their load; CPU time measures the work and hardly depends on it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def circuitflow_run(example: Path, run: Path, cores: int, engine: str, cache_dir: Path) -> float:
    """Time the circuitflow synthesis target on the example circuit (default configuration)."""
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    section = {
        "input_cells": str(example / "cells.h5"),
        "atlas": str(example / "atlas"),
        "tmd_parameters": str(example / "tmd_parameters.json"),
        "tmd_distributions": str(example / "tmd_distributions.json"),
        "region_structure": str(example / "region_structure.yaml"),
        "seed": 0,
        "out_morph_ext": ["asc"],
        "engine": engine,
    }
    (run / "config.yaml").write_text(yaml.safe_dump({"out_dir": "out", "synthesis": section}))
    env = snakemake_env(NUMBA_CACHE_DIR=str(cache_dir))
    cmd = [
        str(BIN / "snakemake"),
        "synthesis",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--configfile",
        "config.yaml",
        "--cores",
        str(cores),
        "--quiet",
        "all",
    ]
    return timed(cmd, run, env)


def upstream_venv(venv: Path) -> Path:
    """A virtual environment with region-grower 1.6.0 (created once)."""
    if not (venv / "bin" / "region-grower").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *UPSTREAM_PACKAGES], check=True)
    return venv


def upstream_run(venv: Path, example: Path, run: Path, cores: int) -> float:
    """Time region-grower's CLI on the same circuit."""
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    cmd = [
        str(venv / "bin" / "region-grower"),
        "synthesize-morphologies",
        "--input-cells",
        str(example / "cells.h5"),
        "--tmd-parameters",
        str(example / "tmd_parameters.json"),
        "--tmd-distributions",
        str(example / "tmd_distributions.json"),
        "--atlas",
        str(example / "atlas"),
        "--region-structure",
        str(example / "region_structure.yaml"),
        "--out-cells",
        str(run / "nodes.h5"),
        "--out-apical",
        str(run / "apical.yaml"),
        "--out-morph-dir",
        str(run / "morphologies"),
        "--out-morph-ext",
        "asc",
        "--seed",
        "0",
        "--nb-processes",
        str(cores),
        "--hide-progress-bar",
    ]
    env = dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return timed(cmd, run, env)


def outputs(folder: Path) -> dict:
    """Bytes of every morphology file and of apical.yaml in a synthesis output folder."""
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in (folder / "morphologies").rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    files["apical.yaml"] = (folder / "apical.yaml").read_bytes()
    return files


def parity(example: Path, work: Path, cores: int, cache_dir: Path) -> dict:
    """Grow the example with both engines and compare every morphology file and apical.yaml."""
    runs = {engine: work / f"parity-{engine}" for engine in ("neurots", "compiled")}
    for engine, run in runs.items():
        circuitflow_run(example, run, cores, engine, cache_dir)
    ours, theirs = (outputs(runs[e] / "out" / "synthesis") for e in ("compiled", "neurots"))
    return {"files": len(theirs), "identical": ours == theirs}


def main() -> None:
    """Run every measurement and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/cf-bench-synthesis"))
    parser.add_argument("--rg-venv", type=Path, default=Path("/work/venvs/rg"))
    parser.add_argument("--skip-upstream", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="alternated runs per setting; medians are reported")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--cold-cores",
        type=int,
        nargs="*",
        default=[2],
        help="core counts at which the compiled engine also runs with an empty numba cache",
    )
    parser.add_argument("--parity-cells", type=int, default=0, help="also compare both engines' files at N cells")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    from circuitflow.example import make_example

    example = args.work / f"example-{args.cells}"
    if not (example / "cells.h5").exists():
        make_example(example, n_cells=args.cells)
    venv = None if args.skip_upstream else upstream_venv(args.rg_venv)
    warm_cache = args.work / "numba-warm"
    circuitflow_run(
        make_example(args.work / "example-warmup", n_cells=4), args.work / "warmup", 1, "compiled", warm_cache
    )
    rows = []
    for cores in args.cores:
        tools = (["region-grower"] if venv else []) + ["neurots", "compiled"]
        tools += ["compiled-cold"] if cores in args.cold_cores else []
        times: dict[str, list] = {tool: [] for tool in tools}
        cpu: dict[str, list] = {tool: [] for tool in tools}
        loads: dict[str, list] = {tool: [] for tool in tools}
        for _ in range(args.repeat):
            for tool in tools:
                run = args.work / f"{tool}-{cores}"
                loads[tool].append(load())
                if tool == "region-grower":
                    times[tool].append(upstream_run(venv, example, run, cores))
                elif tool == "compiled-cold":
                    with tempfile.TemporaryDirectory() as cold:
                        times[tool].append(circuitflow_run(example, run, cores, "compiled", Path(cold)))
                else:
                    times[tool].append(circuitflow_run(example, run, cores, tool, warm_cache))
                cpu[tool].append(CPU[-1])
                print(
                    json.dumps(
                        {
                            "cores": cores,
                            "tool": tool,
                            "s": times[tool][-1],
                            "cpu_s": cpu[tool][-1],
                            "load": loads[tool][-1],
                        }
                    ),
                    flush=True,
                )
        reference = outputs(args.work / f"neurots-{cores}" / "out" / "synthesis")
        for tool in tools:
            folder = args.work / f"{tool}-{cores}"
            files = outputs(folder) if tool == "region-grower" else outputs(folder / "out" / "synthesis")
            median = statistics.median(times[tool])
            cpu_median = statistics.median(cpu[tool])
            rows.append(
                {
                    "cores": cores,
                    "tool": tool,
                    "runs_s": times[tool],
                    "cpu_s": cpu[tool],
                    "loads": loads[tool],
                    "median_s": median,
                    "median_cpu_s": cpu_median,
                    "cells_per_s": args.cells / median,
                    "cells_per_cpu_s": args.cells / cpu_median,
                    "identical_to_neurots_engine": files == reference,
                }
            )
    base = {r["cores"]: r for r in rows if r["tool"] == "region-grower"}
    print(f"\n{args.cells} cells, NRN ids off, default configuration")
    print(
        f"{'tool':16} {'cores':>5} {'median s':>9} {'cells/s':>8} {'x rg (wall)':>12} {'CPU s':>8} "
        f"{'cells/CPU-s':>12} {'x rg (CPU)':>11} {'identical':>9}"
    )
    for r in rows:
        b = base.get(r["cores"])
        wall = b["median_s"] / r["median_s"] if b else float("nan")
        work = b["median_cpu_s"] / r["median_cpu_s"] if b else float("nan")
        print(
            f"{r['tool']:16} {r['cores']:>5} {r['median_s']:>9.1f} {r['cells_per_s']:>8.2f} {wall:>12.2f} "
            f"{r['median_cpu_s']:>8.1f} {r['cells_per_cpu_s']:>12.2f} {work:>11.2f} "
            f"{str(r['identical_to_neurots_engine']):>9}"
        )
    print(json.dumps(rows))
    if args.parity_cells:
        example = args.work / f"example-{args.parity_cells}"
        if not (example / "cells.h5").exists():
            make_example(example, n_cells=args.parity_cells)
        result = parity(example, args.work, max(args.cores), warm_cache)
        print(f"parity at {args.parity_cells} cells: {result['files']} files, identical: {result['identical']}")


if __name__ == "__main__":
    main()
