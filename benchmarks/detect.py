"""Benchmark: circuitflow detect vs Snudda detect on a Snudda striatum (dSPN, iSPN, FS), one core each.

    python benchmarks/detect.py --neurons 300 --hvsize 100

Snudda 3.0 is installed in its own virtual environment, benchmarks/.venv-snudda (git-ignored; created
with `python -m venv` + `pip install snudda==3.0` when missing). The network is built by Snudda
(`SnuddaInit.define_striatum`, cube, seed 1234, no LTS/ChIN: their axon-density clouds are not part of
circuitflow) and placed by Snudda. Both detects then read the same folder: Snudda serially
(`snudda detect --hvsize H`, writing into it), circuitflow through its rule scripts run one after
another on one core (writing to its own out/ folder).
Reported: wall time, voxelised segments per second, peak RSS (Snudda's process; circuitflow's largest
step and its per-hypervoxel step), and a row-for-row comparison of every hypervoxel file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-snudda"
SNUDDA_PY = VENV / "bin" / "python"

BUILD = """
import sys
from snudda.init.init import SnuddaInit
from snudda.place.place import SnuddaPlace
path, n_spn, n_fs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
si = SnuddaInit(network_path=path, random_seed=1234)
si.define_striatum(num_dSPN=n_spn // 2, num_iSPN=n_spn - n_spn // 2, num_FS=n_fs, num_LTS=0, num_ChIN=0,
                   volume_type="cube")
si.write_json()
sp = SnuddaPlace(network_path=path, random_seed=1234)
sp.place()
"""


def ensure_snudda() -> None:
    """Create the Snudda venv if it is missing."""
    if SNUDDA_PY.exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "snudda==3.0"], check=True)


def timed(cmd: list, log: Path, env: dict | None = None) -> tuple[float, int]:
    """Run `cmd` under /usr/bin/time -v; return wall seconds and peak RSS (bytes)."""
    t = time.perf_counter()
    with open(log, "w") as fh:
        subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=fh, stderr=subprocess.STDOUT, check=True, env=env)
    wall = time.perf_counter() - t
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text()).group(1)) * 1024
    return wall, rss


def count_segments(net: Path) -> int:
    """Voxelised segments (axon + dendrite) over all neurons, with circuitflow's reader."""
    sys.path.insert(0, str(ROOT))
    from circuitflow.detect.sources import snudda_network
    from circuitflow.detect.tree import build_tree
    from circuitflow.io.morphology_points import read_swc

    neurons = snudda_network(net)
    per_file = {}
    for p in set(neurons.morphologies):
        t = build_tree(read_swc(p))
        per_file[p] = sum(len(s.a) for s in t.segments.values())
    return sum(per_file[p] for p in neurons.morphologies)


def compare(snudda_net: Path, cf_net: Path) -> dict:
    """Row-for-row comparison of every hypervoxel file's synapses, gap junctions and lookups."""
    a = sorted(p.name for p in (snudda_net / "voxels").glob("*.hdf5"))
    b = sorted(p.name for p in (cf_net / "voxels").glob("*.hdf5"))
    out = {
        "files": len(a),
        "same_files": a == b,
        "synapses": 0,
        "gap_junctions": 0,
        "differing_cells": 0,
        "differing_columns": set(),
    }
    for name in a:
        with h5py.File(snudda_net / "voxels" / name) as e, h5py.File(cf_net / "voxels" / name) as g:
            for key in (
                "network/synapses",
                "network/gap_junctions",
                "network/synapse_lookup",
                "network/gap_junction_lookup",
            ):
                x, y = e[key], g[key]
                if x.shape is None or y.shape is None:
                    out["differing_cells"] += int(x.shape != y.shape)
                    continue
                x, y = x[()], y[()]
                if x.shape != y.shape:
                    out["differing_cells"] += max(x.size, y.size)
                    continue
                d = np.argwhere(x != y)
                out["differing_cells"] += len(d)
                out["differing_columns"] |= {f"{key.split('/')[-1]}:{c}" for c in np.unique(d[:, 1]).tolist()}
            out["synapses"] += len(e["network/synapses"])
            out["gap_junctions"] += len(e["network/gap_junctions"])
    out["differing_columns"] = sorted(out["differing_columns"])
    worklog = "log/network-detect-worklog.hdf5"
    with h5py.File(snudda_net / worklog) as e, h5py.File(cf_net / worklog) as g:
        keys = [
            "num_completed",
            "all_hyper_ids",
            "hyper_voxels",
            "meta/connectivity_distributions",
            "meta/simulation_origo",
            "meta/hyper_voxel_ids",
            "meta/num_hyper_voxels",
        ]
        out["worklog_differs"] = [k for k in keys if not np.array_equal(e[k][()], g[k][()])]

        def slots(f):  # {HID: per-slot counts}; the order of equal-count hypervoxels may differ
            n = int(f["num_completed"][0])
            cols = ("num_hypervoxel_synapses", "num_hypervoxel_gap_junctions", "voxel_overflow_counter")
            return {int(h): tuple(int(f[c][i]) for c in cols) for i, h in enumerate(f["completed"][:n])}

        if slots(e) != slots(g):
            out["worklog_differs"].append("completed (as a set of HID, counts)")
        out["completed_same_order"] = bool(np.array_equal(e["completed"][()], g["completed"][()]))
    return out


def run_circuitflow(net: Path, work: Path, hvsize: int, logs: Path) -> dict:
    """circuitflow's detect steps, one after another (one core), each timed."""
    out = work / "out"
    if out.exists():
        shutil.rmtree(out)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    py = sys.executable
    s = ROOT / "scripts"
    d, n = out / "detect", out / "network"
    cfg = json.dumps({"network_path": str(net), "hyper_voxel_size": hvsize})
    steps = [
        ("setup", [py, s / "detect_setup.py", "--config", cfg, "--network-dir", n, "--work-dir", d]),
        (
            "bbox",
            [
                py,
                s / "detect_bbox.py",
                "--work-dir",
                d,
                "--chunk",
                "0",
                "--chunks",
                "1",
                "--out",
                d / "bbox0.npz",
                "--trees-out",
                d / "bbox0.trees.npy",
            ],
        ),
        ("grid", [py, s / "detect_grid.py", "--work-dir", d, "--out", d / "grid.json", d / "bbox0.npz"]),
        (
            "rasterise",
            [
                py,
                s / "detect_rasterise.py",
                "--work-dir",
                d,
                "--grid",
                d / "grid.json",
                "--chunk",
                "0",
                "--chunks",
                "1",
                "--trees",
                d / "bbox0.trees.npy",
                "--out",
                d / "raster0.h5",
            ],
        ),
        (
            "hypervoxels",
            [
                py,
                s / "detect_hypervoxels.py",
                "--work-dir",
                d,
                "--grid",
                d / "grid.json",
                "--batch",
                "0",
                "--batches",
                "1",
                "--out-dir",
                d / "hv0",
                d / "raster0.h5",
            ],
        ),
        (
            "worklog",
            [
                py,
                s / "detect_worklog.py",
                "--work-dir",
                d,
                "--grid",
                d / "grid.json",
                "--network-dir",
                n,
                "--raster",
                d / "raster0.h5",
                "--bbox",
                d / "bbox0.npz",
                "--batch-dirs",
                d / "hv0",
            ],
        ),
    ]
    result = {}
    for name, cmd in steps:
        wall, rss = timed([str(c) for c in cmd], logs / f"circuitflow-{name}.log", env)
        result[name] = (wall, rss)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neurons", type=int, default=300, help="total neurons (90 %% SPN, 10 %% FS)")
    p.add_argument("--hvsize", type=int, default=100)
    p.add_argument("--work", default=str(HERE / ".work" / "detect"))
    a = p.parse_args()
    ensure_snudda()
    work = Path(a.work) / f"n{a.neurons}-hv{a.hvsize}"
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    base = work / "network"
    n_fs = max(1, a.neurons // 10)
    if not (base / "network-neuron-positions.hdf5").exists():
        subprocess.run(
            [str(SNUDDA_PY), "-c", BUILD, str(base), str(a.neurons - n_fs), str(n_fs)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    snudda_net = base  # Snudda insists on the config path stored at placement: run it in place
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    s_wall, s_rss = timed(
        [str(VENV / "bin" / "snudda"), "detect", str(snudda_net), "--hvsize", str(a.hvsize)],
        logs / "snudda-detect.log",
        env,
    )
    cf = run_circuitflow(base, work, a.hvsize, logs)
    cf_wall = sum(w for w, _ in cf.values())
    segments = count_segments(base)
    cmp = compare(snudda_net, work / "out" / "network")
    report = {
        "neurons": a.neurons,
        "hvsize": a.hvsize,
        "segments": segments,
        **cmp,
        "snudda": {
            "wall_s": round(s_wall, 2),
            "segments_per_s": round(segments / s_wall),
            "peak_rss_MB": round(s_rss / 2**20),
        },
        "circuitflow": {
            "wall_s": round(cf_wall, 2),
            "segments_per_s": round(segments / cf_wall),
            "peak_rss_MB": round(max(r for _, r in cf.values()) / 2**20),
            "hypervoxel_step_rss_MB": round(cf["hypervoxels"][1] / 2**20),
            "steps_s": {k: round(w, 2) for k, (w, _) in cf.items()},
        },
        "speedup": round(s_wall / cf_wall, 2),
        "memory_ratio_hypervoxel_worker": round(cf["hypervoxels"][1] / s_rss, 3),
    }
    (work / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
