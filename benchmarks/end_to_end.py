"""End-to-end benchmark: the generated example at N cells and a chosen density, `snakemake all`, cost per rule.

    python benchmarks/end_to_end.py --cells 1000 3000 [--density 1e5] [--cores 2] [--plan-only]

For each N: `circuitflow make-example` with --density (benchmarks/.work/e2e-<N>/example), the shipped
config/config.yaml pointed at it (job sizes: the schemas' defaults), then `snakemake --cores C all`.
A sampler (psutil, every 0.2 s) follows every process Snakemake starts and attributes it to the rule
whose script it runs (scripts/<rule>.py): per rule the jobs, the wall time from the first job's start
to the last job's end, the CPU time (user + system, last sample of each process, so up to 0.2 s per
job is missed) and the peak RSS of one job. Output sizes per rule come from `snakemake --summary`.
Per stage (synthesis, detect, prune, sonata, report): CPU seconds per cell. The load average before
and after each run is recorded, since other processes share the cores.

--plan-only times `snakemake -n all` instead (wall, CPU and peak RSS of the planning process).
Results: benchmarks/.work/e2e-<N>/result.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import yaml
from local_env import BIN, snakemake_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
ENV = snakemake_env()
STAGES = ("synthesis", "pathways", "detect", "prune", "sonata", "report")
SCRIPT = re.compile(r"scripts/(\w+)\.py")


def prepare(n_cells: int, density: float, folder: Path, chunk_size: int | None) -> Path:
    """Generate the example at `n_cells` and write a config for it; returns the config path."""
    example = folder / "example"
    if not (example / "cells.h5").is_file():
        subprocess.run(
            [
                str(BIN / "circuitflow"),
                "make-example",
                str(example),
                "--cells",
                str(n_cells),
                "--density",
                str(density),
            ],
            check=True,
        )

    def moved(value):
        """`value` with every path under example/ moved to the generated example."""
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [moved(v) for v in value]
        if isinstance(value, str) and value.startswith("example/"):
            return str(example / value.removeprefix("example/"))
        return value

    cfg = moved(yaml.safe_load((ROOT / "config/config.yaml").read_text()))
    cfg["out_dir"] = str(folder / "out")
    if chunk_size is not None:
        cfg["synthesis"]["chunk_size"] = chunk_size
    else:
        cfg["synthesis"].pop("chunk_size", None)  # the schema's default
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake_cmd(folder: Path, config: Path, *args: str) -> list[str]:
    """The snakemake command line for this repository's workflow on `config`."""
    return [
        str(BIN / "snakemake"),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(folder),
        *args,
        "--configfile",
        str(config),
    ]


def sample(proc: subprocess.Popen, every: float = 0.2) -> dict:
    """Follow `proc`'s descendants until it exits: {pid: {rule, start, end, cpu, rss}}."""
    root = psutil.Process(proc.pid)
    seen: dict = {}
    while proc.poll() is None:
        now = time.time()
        try:
            children = root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        for p in children:
            try:
                with p.oneshot():
                    cmd = " ".join(p.cmdline())
                    m = SCRIPT.search(cmd)
                    if not m or "python" not in os.path.basename(p.cmdline()[0]):
                        continue
                    t = p.cpu_times()
                    rec = seen.setdefault(p.pid, {"rule": m.group(1), "start": p.create_time(), "cpu": 0.0, "rss": 0})
                    rec["cpu"] = t.user + t.system
                    rec["rss"] = max(rec["rss"], p.memory_info().rss)
                    rec["end"] = now
            except (psutil.NoSuchProcess, psutil.AccessDenied, IndexError):
                continue
        time.sleep(every)
    return seen


def output_sizes(folder: Path, config: Path) -> dict:
    """Bytes of each rule's outputs, from `snakemake --summary`."""
    out = subprocess.run(
        snakemake_cmd(folder, config, "--summary", "all"), capture_output=True, text=True, env=ENV
    ).stdout
    sizes: dict = {}
    for line in out.splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        path, rule = Path(parts[0]), parts[2]
        if not path.is_absolute():
            path = folder / path
        if path.is_dir():
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        elif path.is_file():
            size = path.stat().st_size
        else:
            continue
        sizes[rule] = sizes.get(rule, 0) + size
    return sizes


def run(n_cells: int, density: float, cores: int, chunk_size: int | None, keep: bool) -> dict:
    """Build N cells end to end and measure each rule."""
    folder = WORK / f"e2e-{n_cells}"
    config = prepare(n_cells, density, folder, chunk_size)
    shutil.rmtree(folder / "out", ignore_errors=True)
    shutil.rmtree(folder / ".snakemake", ignore_errors=True)
    load_before = os.getloadavg()
    start = time.time()
    log = open(folder / "snakemake.log", "w")
    proc = subprocess.Popen(
        snakemake_cmd(folder, config, "--cores", str(cores), "all"), stdout=log, stderr=subprocess.STDOUT, env=ENV
    )
    jobs = sample(proc)
    wall = time.time() - start
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed ({proc.returncode}); see {folder / 'snakemake.log'}")
    rules: dict = {}
    for rec in jobs.values():
        r = rules.setdefault(
            rec["rule"], {"jobs": 0, "start": rec["start"], "end": rec["end"], "cpu": 0.0, "peak_rss_mb": 0.0}
        )
        r["jobs"] += 1
        r["start"], r["end"] = min(r["start"], rec["start"]), max(r["end"], rec["end"])
        r["cpu"] += rec["cpu"]
        r["peak_rss_mb"] = max(r["peak_rss_mb"], rec["rss"] / 2**20)
    sizes = output_sizes(folder, config)
    planned = job_stats((folder / "snakemake.log").read_text())
    for name, r in rules.items():
        # Snakemake's own count (a process count can include helpers a script starts); the two pathways
        # rules share scripts/pathways_config.py
        if name == "pathways_config":
            r["jobs"] = planned.get("pathways_detect_config", 0) + planned.get("pathways_prune_config", 0)
        else:
            r["jobs"] = planned.get(name, r["jobs"])
        r["wall"] = r.pop("end") - r.pop("start")
        r["output_mb"] = sizes.get(name, 0) / 2**20
    stages = {}
    for stage in STAGES:
        cpu = sum(r["cpu"] for name, r in rules.items() if name.startswith(stage + "_"))
        stages[stage] = {"cpu": cpu, "cpu_ms_per_cell": 1000 * cpu / n_cells}
    result = {
        "cells": n_cells,
        "density": density,
        "cores": cores,
        "wall": wall,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "rules": rules,
        "stages": stages,
        "counts": counts(folder),
    }
    (folder / "result.json").write_text(json.dumps(result, indent=1))
    if not keep:
        shutil.rmtree(folder / "out" / "detect", ignore_errors=True)
    return result


def job_stats(log: str) -> dict:
    """Rule -> jobs from the "Job stats" table Snakemake prints before running."""
    jobs = {}
    table = log.split("Job stats:", 1)[1] if "Job stats:" in log else ""
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m or m.group(1) == "total":
            break
        jobs[m.group(1)] = int(m.group(2))
    return jobs


def counts(folder: Path) -> dict:
    """Synapses and gap junctions of network-synapses.hdf5 and the edges of every SONATA edge file; fails
    unless the chemical edges equal the synapses and the electrical ones the gap junctions (once or both ways)."""
    import h5py

    out = {"edges": {}}
    with h5py.File(folder / "out/network-synapses.hdf5", "r") as f:
        out["synapses"] = int(f["network/synapses"].shape[0])
        out["gap_junctions"] = int(f["network/gap_junctions"].shape[0])
    for path in sorted((folder / "out/sonata").glob("*.h5")):
        with h5py.File(path, "r") as f:
            for name, g in f.get("edges", {}).items():
                out["edges"][name] = int(g["source_node_id"].shape[0])
    chemical = sum(n for name, n in out["edges"].items() if "chemical" in name)
    electrical = sum(n for name, n in out["edges"].items() if "electrical" in name)
    # main writes each gap junction as two electrical edges (one per direction); older code wrote one
    if chemical != out["synapses"] or electrical not in (out["gap_junctions"], 2 * out["gap_junctions"]):
        raise SystemExit(f"edges {out['edges']} do not match network-synapses.hdf5 {out}")
    return out


def plan(n_cells: int, density: float, chunk_size: int | None) -> dict:
    """Time `snakemake -n all` (wall, CPU and peak RSS of the planning process) and count its jobs."""
    folder = WORK / f"plan-{n_cells}"
    config = prepare(n_cells, density, folder, chunk_size)
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    proc = subprocess.run(
        snakemake_cmd(folder, config, "-n", "all", "--quiet", "rules"),
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    wall = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = re.search(r"^total\s+(\d+)", proc.stdout + proc.stderr, re.M)
    return {
        "cells": n_cells,
        "wall": wall,
        "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "peak_rss_mb": after.ru_maxrss / 1024,
        "jobs": int(total.group(1)) if total else None,
        "load_before": load_before,
        "out_dir_written": sorted(str(p.relative_to(folder)) for p in (folder / "out").rglob("*"))
        if (folder / "out").exists()
        else [],
    }


def table(result: dict) -> str:
    """Markdown table of one run."""
    lines = [
        f"### {result['cells']:,} cells at {result['density']:.0e} cells/mm³, {result['cores']} cores: "
        f"{result['wall']:.0f} s wall (load {result['load_before'][0]:.1f} before, "
        f"{result['load_after'][0]:.1f} after)",
        "",
        "| rule | jobs | wall s | CPU s | peak RSS MB (one job) | output MB |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in sorted(
        result["rules"].items(),
        key=lambda kv: STAGES.index(kv[0].split("_")[0]) if kv[0].split("_")[0] in STAGES else 99,
    ):
        lines.append(
            f"| {name} | {r['jobs']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['peak_rss_mb']:.0f} | "
            f"{r['output_mb']:.1f} |"
        )
    lines += ["", "| stage | CPU s | CPU ms per cell |", "|---|---|---|"]
    for stage, s in result["stages"].items():
        lines.append(f"| {stage} | {s['cpu']:.1f} | {s['cpu_ms_per_cell']:.1f} |")
    lines += ["", f"Counts: {json.dumps(result['counts'])}"]
    return "\n".join(lines)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="+", default=[1000])
    parser.add_argument("--density", type=float, default=1e5, help="cells per mm^3 (cortex: ~1e5)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=None, help="synthesis.chunk_size (default: the schema's)")
    parser.add_argument("--plan-only", action="store_true", help="time `snakemake -n all` only")
    parser.add_argument("--keep", action="store_true", help="keep detect's intermediate files")
    parser.add_argument("--table", action="store_true", help="print the table of the last run's result.json")
    args = parser.parse_args()
    for n in args.cells:
        if args.table:
            print(table(json.loads((WORK / f"e2e-{n}" / "result.json").read_text())))
            continue
        if args.plan_only:
            print(json.dumps(plan(n, args.density, args.chunk_size)), flush=True)
        else:
            print(table(run(n, args.density, args.cores, args.chunk_size, args.keep)), flush=True)


if __name__ == "__main__":
    main()
