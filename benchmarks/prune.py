"""Benchmark circuitflow's prune half against Snudda 3.0's SnuddaPrune on a synthetic Snudda network.

    python benchmarks/prune.py --synapses 10000000 --neurons 20000 [--skip-snudda] [--n-ranges 4] [--repeat 3]

1. Writes a synthetic Snudda-format network (worklog, hypervoxel files with lookup tables, network
   config with striatum-like pruning rules incl. distance-dependent, soft_max, mu2, a3, population
   units and FS gap junctions) to benchmarks/.work/net-<size>/.
2. Installs Snudda 3.0 in its own virtual environment (benchmarks/.venv-snudda; Snudda needs numpy
   >= 2.2, circuitflow's morphology stack numpy < 2) unless it is there, and times its serial prune.
3. Times `snakemake --cores 1|2 prune` of circuitflow on the same network, checks the pruned rows are
   identical to Snudda's, and reports putative synapses/s, peak RSS (largest process) and the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
from local_env import snakemake_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
SNUDDA_VENV = HERE / ".venv-snudda"
VOXEL = 3e-6
HV_SIZE = 100
THREADS_1 = {
    k: "1"
    for k in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "NUMEXPR_MAX_THREADS",
    )
}

DIST_SPN = "1-exp(-(0.4*d/60e-6)**2)"
DIST_FS = "exp(-(0.5*d/60e-6)**2)"
# (pre, post, con_type, pruning, pruning_other) in config order: detect numbers channels from 10 in this order.
CONNECTIONS = [
    (
        "dSPN",
        "dSPN",
        "GABA",
        dict(f1=0.38, mu2=1.6864, a3=0.9998, dist_pruning=DIST_SPN),
        dict(f1=0.38, mu2=1.6864, a3=0.5, dist_pruning=DIST_SPN),
    ),
    (
        "dSPN",
        "iSPN",
        "GABA",
        dict(f1=0.2175, mu2=1.7053, a3=0.4214, dist_pruning=DIST_SPN),
        dict(f1=0.2175, mu2=1.7053, a3=0.2107, dist_pruning=DIST_SPN),
    ),
    ("iSPN", "dSPN", "GABA", dict(f1=0.1741, mu2=1.5767, a3=0.6, dist_pruning=DIST_SPN), None),
    ("iSPN", "iSPN", "GABA", dict(f1=0.3105, mu2=1.6518, a3=0.55, dist_pruning=DIST_SPN), None),
    ("FS", "dSPN", "GABA", dict(f1=0.5, soft_max=5, mu2=2, a3=1.0, dist_pruning=DIST_FS), None),
    ("FS", "iSPN", "GABA", dict(f1=0.5, soft_max=5, mu2=2, a3=0.9, dist_pruning=DIST_FS), None),
    ("FS", "FS", "GABA", dict(f1=0.15, soft_max=5, mu2=2, a3=1.0), None),
]
GJ_RULE = dict(f1=0.7, soft_max=8, mu2=2, a3=0.5)
TYPES = ["dSPN", "iSPN", "FS"]


def network_config() -> tuple[dict, dict, int]:
    """The network config, detect's connectivity_distributions and T (max_channel_type_id)."""
    conn, dist = {}, {}
    channel = 10
    for pre, post, con_type, pruning, other in CONNECTIONS:
        entry = {"conductance": [1.1e-9, 1.5e-9], "pruning": pruning}
        if other:
            entry["pruning_other"] = other
        conn.setdefault(f"{pre},{post}", {})[con_type] = entry
        dist.setdefault(f"{pre}$${post}", {})[con_type] = {
            **entry,
            "channel_model_id": channel,
            "lognormal_mu_sigma": [-21.0, 1.0],
            "cluster_size": 1,
            "cluster_spread": 0.02,
        }
        channel += 1
    gj = {"conductance": [5e-10, 1e-10], "pruning": GJ_RULE}
    conn["FS,FS"]["gap_junction"] = gj
    dist["FS$$FS"]["gap_junction"] = {
        **gj,
        "channel_model_id": 3,
        "lognormal_mu_sigma": [-21.4, 0.2],
        "cluster_size": 1,
        "cluster_spread": 0.02,
    }
    config = {
        "snudda_data": "",
        "random_seed": {"masterseed": 1, "prune": 507409703},
        "regions": {"Striatum": {"connectivity": conn, "neurons": {}}},
    }
    return config, dist, channel


def synth_rows(rng: np.random.Generator, n_neurons: int, n_syn: int, side: int):
    """Putative synapses and gap junctions with realistic pair structure (several synapses per pair)."""
    r = rng.random(n_neurons)
    ntype = np.where(r < 0.05, 2, np.where(r < 0.525, 0, 1))  # 5 % FS, the rest dSPN / iSPN
    home = rng.integers(0, side, size=(n_neurons, 3))
    home_hid = (home[:, 0] * side + home[:, 1]) * side + home[:, 2]
    channel_of = np.full((3, 3), -1)
    for k, (pre, post, *_rest) in enumerate(CONNECTIONS):
        channel_of[TYPES.index(pre), TYPES.index(post)] = 10 + k
    n_pairs = int(n_syn / 2.85 * 1.15)
    src = rng.integers(0, n_neurons, n_pairs)
    dest = (src + rng.integers(1, n_neurons, n_pairs)) % n_neurons  # never a self pair
    pair = np.unique(dest.astype(np.int64) * n_neurons + src)
    dest, src = pair // n_neurons, pair % n_neurons
    ch = channel_of[ntype[src], ntype[dest]]
    ok = ch >= 0
    src, dest, ch = src[ok], dest[ok], ch[ok]
    per = rng.geometric(0.35, size=len(src))
    cum = np.cumsum(per)
    cut = np.searchsorted(cum, n_syn)
    src, dest, ch, per = src[: cut + 1], dest[: cut + 1], ch[: cut + 1], per[: cut + 1]
    per[-1] -= max(0, int(per.sum()) - n_syn)
    n = int(per.sum())
    rows = np.empty((n, 13), dtype=np.int32)
    rows[:, 0] = np.repeat(src, per)
    rows[:, 1] = np.repeat(dest, per)
    at_src = rng.random(n) < 0.25  # a quarter of the touches lie in the axon's home hypervoxel
    hv = np.where(at_src, home[rows[:, 0]].T, home[rows[:, 1]].T).T
    rows[:, 2:5] = hv * HV_SIZE + rng.integers(0, HV_SIZE, size=(n, 3))
    rows[:, 5] = (hv[:, 0] * side + hv[:, 1]) * side + hv[:, 2]
    rows[:, 6] = np.repeat(ch, per)
    rows[:, 7] = rng.integers(0, 800, n)
    rows[:, 8] = rng.integers(0, 300, n)
    rows[:, 9] = rng.integers(0, 60, n)
    rows[:, 10] = rng.integers(0, 1001, n)
    rows[:, 11] = rng.integers(100, 4000, n)
    rows[:, 12] = rng.integers(0, 1_000_000, n)
    # gap junctions among FS neurons, id1 < id2, about 1 % of the synapse count
    fs = np.flatnonzero(ntype == 2)
    n_gj_pairs = max(1, n_syn // 300)
    a, b = rng.choice(fs, n_gj_pairs), rng.choice(fs, n_gj_pairs)
    keep = a != b
    lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    gpair = np.unique(hi.astype(np.int64) * n_neurons + lo)
    hi, lo = gpair // n_neurons, gpair % n_neurons
    gper = rng.integers(1, 6, len(hi))
    m = int(gper.sum())
    gj = np.empty((m, 11), dtype=np.int32)
    gj[:, 0], gj[:, 1] = np.repeat(lo, gper), np.repeat(hi, gper)
    gj[:, 2:4] = rng.integers(0, 60, (m, 2))
    gj[:, 4:6] = rng.integers(0, 1001, (m, 2))
    ghv = home[gj[:, 1]]
    gj[:, 6:9] = ghv * HV_SIZE + rng.integers(0, HV_SIZE, size=(m, 3))
    gj[:, 9] = home_hid[gj[:, 1]]
    gj[:, 10] = rng.integers(100, 1000, m)
    names = np.array([f"{TYPES[t]}_{k % 3}" for k, t in enumerate(ntype)], dtype="S20")
    units = np.where(ntype == 2, 0, rng.integers(1, 3, n_neurons))
    return rows, gj, names, units


def lookup(rows: np.ndarray, n_neurons: int, T: int, gap: bool) -> np.ndarray:
    """Snudda's lookup table: one row per (src, dest) run, [unique_id, start, end)."""
    if len(rows) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    pair = rows[:, 1].astype(np.int64) * n_neurons + rows[:, 0]
    first = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    end = np.r_[first[1:], len(rows)]
    typ = 3 if gap else rows[first, 6].astype(np.int64)
    return np.stack([pair[first] * T + typ, first, end], axis=1).astype(np.int64)


def complete_neurons(worklog: Path) -> None:
    """Add the neuron-table datasets SnuddaLoad expects (spec §2.2) that prune itself never reads."""
    with h5py.File(worklog, "a") as f:
        g = f["network/neurons"]
        n = g["neuron_id"].shape[0]
        vlen = h5py.string_dtype()
        for key in (
            "volume_id",
            "hoc",
            "parameter_key",
            "morphology_key",
            "modulation_key",
            "reaction_diffusion_file",
            "axon_density_type",
            "axon_density",
        ):
            if key not in g:
                g[key] = np.array([b"Striatum" if key == "volume_id" else b""] * n, dtype="S12")
        for key in ("morphology", "neuron_path"):
            if key not in g:
                g.create_dataset(key, data=[""] * n, dtype=vlen)
        if "rotation" not in g:
            g["rotation"] = np.tile(np.eye(3).ravel(), (n, 1))
        if "axon_density_radius" not in g:
            g["axon_density_radius"] = np.zeros(n)
        if "axon_density_bounds_xyz" not in g:
            g["axon_density_bounds_xyz"] = np.zeros((n, 6))
        if "extra_axons" not in g:
            e = g.create_group("extra_axons")
            e["parent_neuron"] = np.zeros(0)
            e["position"] = np.zeros(0)
            e["rotation"] = np.zeros(0)
            e.create_dataset("name", shape=(0,), dtype=vlen)
            e.create_dataset("morphology", shape=(0,), dtype=vlen)


def write_network(path: Path, n_neurons: int, n_syn: int, side: int, seed: int = 1) -> dict:
    """Write a synthetic Snudda network directory (worklog, voxels/, network-config.json)."""
    if (path / "done.json").exists():
        complete_neurons(path / "log" / "network-detect-worklog.hdf5")
        return json.loads((path / "done.json").read_text())
    shutil.rmtree(path, ignore_errors=True)
    (path / "voxels").mkdir(parents=True)
    (path / "log").mkdir()
    rng = np.random.default_rng(seed)
    config, con_dist, T = network_config()
    (path / "network-config.json").write_text(json.dumps(config, indent=2))
    rows, gj, names, units = synth_rows(rng, n_neurons, n_syn, side)
    hv_width = HV_SIZE * VOXEL
    origo = np.zeros(3)
    n_hv = side**3
    hv_ids = np.arange(n_hv, dtype=np.int64).reshape(side, side, side)
    strs = {"snudda_data": "", "config_file": "network-config.json", "position_file": "network-neuron-positions.hdf5"}
    cfg_json = json.dumps(config)
    rows = rows[np.lexsort((rows[:, 6], rows[:, 0], rows[:, 1], rows[:, 5]))]
    gj = gj[np.lexsort((gj[:, 0], gj[:, 1], gj[:, 9]))]
    sb = np.searchsorted(rows[:, 5], np.arange(n_hv + 1))
    gb = np.searchsorted(gj[:, 9], np.arange(n_hv + 1))
    hyper_voxels, n_s, n_g = {}, [], []
    for hid in range(n_hv):
        idx = np.argwhere(hv_ids == hid)[0]
        hv_origo = origo + hv_width * idx
        s, g = rows[sb[hid] : sb[hid + 1]], gj[gb[hid] : gb[hid + 1]]
        with h5py.File(path / "voxels" / f"network-putative-synapses-{hid}.hdf5", "w") as f:
            f["config"] = cfg_json
            for k, v in strs.items():
                f[f"meta/{k}"] = v
            f["meta/hyper_voxel_id"] = np.int64(hid)
            f["meta/hyper_voxel_origo"] = hv_origo
            f["meta/simulation_origo"] = origo
            f["meta/slurm_id"] = np.int64(0)
            f["meta/voxel_size"] = VOXEL
            f["meta/hyper_voxel_size"] = np.int64(HV_SIZE)
            f["meta/num_hyper_voxels"] = np.array([side] * 3, dtype=np.int64)
            f["meta/num_bins"] = np.array([HV_SIZE] * 3, dtype=np.int64)
            f["meta/voxel_overflow_counter"] = np.int64(0)
            for key, data, w in (("synapses", s, 13), ("gap_junctions", g, 11)):
                f.create_dataset(f"network/{key}", data=data, chunks=(10000, w), compression="lzf", maxshape=(None, w))
            f["network/synapse_lookup"] = lookup(s, n_neurons, T, False)
            f["network/gap_junction_lookup"] = lookup(g, n_neurons, T, True)
            f["network/max_channel_type_id"] = np.int64(T)
        present = np.unique(np.concatenate([s[:, 0], s[:, 1], g[:, 0], g[:, 1]]))
        hyper_voxels[str(hid)] = {
            "origo": hv_origo.tolist(),
            "neurons": {str(int(x)): {"dend": [0]} for x in present},
            "axon_density": [],
            "neuron_ctr": int(len(present)),
            "random_seed": 0,
        }
        n_s.append(len(s))
        n_g.append(len(g))
    with h5py.File(path / "log" / "network-detect-worklog.hdf5", "w") as f:
        for k, v in strs.items():
            f[f"meta/{k}"] = v
        f["meta/slurm_id"] = np.int64(0)
        f["meta/voxel_size"] = VOXEL
        f["meta/hyper_voxel_size"] = np.int64(HV_SIZE)
        f["meta/hyper_voxel_width"] = hv_width
        f["meta/config"] = cfg_json
        f["meta/connectivity_distributions"] = json.dumps(con_dist)
        f["meta/hyper_voxel_ids"] = hv_ids
        f["meta/num_hyper_voxels"] = np.array([side] * 3, dtype=np.int64)
        f["meta/simulation_origo"] = origo
        f["hyper_voxels"] = json.dumps(hyper_voxels)
        f["all_hyper_ids"] = np.arange(n_hv, dtype=np.int32)
        f["completed"] = np.arange(n_hv, dtype=np.int32)
        f["num_completed"] = np.array([n_hv], dtype=np.float64)
        f["num_hypervoxel_synapses"] = np.array(n_s, dtype=np.int64)
        f["num_hypervoxel_gap_junctions"] = np.array(n_g, dtype=np.int64)
        f["voxel_overflow_counter"] = np.zeros(n_hv, dtype=np.int64)
        g = f.create_group("network/neurons")
        g["name"] = names
        g["neuron_id"] = np.arange(n_neurons, dtype=np.int64)
        g["population_unit_id"] = units.astype(np.int64)
        g["max_soma_distance_dend"] = np.full(n_neurons, 1e-3, dtype=np.float32)
        g["position"] = rng.random((n_neurons, 3)) * side * hv_width
        g["virtual_neuron"] = np.zeros(n_neurons, dtype=bool)
    complete_neurons(path / "log" / "network-detect-worklog.hdf5")
    info = {
        "neurons": n_neurons,
        "putative_synapses": int(len(rows)),
        "putative_gap_junctions": int(len(gj)),
        "hypervoxels": n_hv,
    }
    (path / "done.json").write_text(json.dumps(info))
    return info


def ensure_snudda() -> Path:
    """Snudda 3.0 in its own venv (its numpy >= 2.2 cannot share circuitflow's)."""
    py = SNUDDA_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run(
            [sys.executable if sys.version_info >= (3, 10) else "python3", "-m", "venv", str(SNUDDA_VENV)], check=True
        )
    if subprocess.run([str(py), "-c", "import snudda"], capture_output=True).returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "snudda==3.0"], check=True)
    return py


LAST_CPU = [0.0]  # CPU seconds (user + sys) of the last measured command and its children


def measured(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """Run `cmd`; return wall seconds and the peak RSS (MB) of its largest process."""
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "rc = subprocess.call(sys.argv[1:]); dt = time.perf_counter() - t; "
        "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print('BENCH', dt, u.ru_maxrss / 1024, u.ru_utime + u.ru_stime, rc)"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=cwd, env=env, capture_output=True, text=True)
    line = [x for x in proc.stdout.splitlines() if x.startswith("BENCH")]
    if not line or line[-1].split()[4] != "0":
        raise RuntimeError(f"{cmd[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    _, dt, rss, cpu, _ = line[-1].split()
    LAST_CPU[0] = float(cpu)
    return float(dt), float(rss)


def rows_digest(path: Path) -> str:
    """sha256 of the synapse and gap-junction rows (little-endian int32)."""
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        for key in ("network/synapses", "network/gap_junctions"):
            ds = f[key]
            for s in range(0, ds.shape[0], 1_000_000):
                h.update(np.ascontiguousarray(ds[s : s + 1_000_000], dtype="<i4").tobytes())
    return h.hexdigest()


def run_snudda(net: Path, py: Path) -> tuple[float, float, Path]:
    """Serial SnuddaPrune from scratch (fresh gather) inside the network directory."""
    for p in ("temp", "pruning_merge_info.json", "network-synapses.hdf5"):
        q = net / p
        shutil.rmtree(q) if q.is_dir() else q.unlink(missing_ok=True)
    code = "from snudda.detect.prune import SnuddaPrune; SnuddaPrune(network_path='.', keep_files=True).prune()"
    env = dict(os.environ, **THREADS_1)
    dt, rss = measured([str(py), "-c", code], net, env)
    return dt, rss, net / "network-synapses.hdf5"


def run_circuitflow(net: Path, cores: int, n_ranges: int, tag: str) -> tuple[float, float, Path]:
    """`snakemake --cores N prune` end to end on a fresh output folder."""
    out = WORK / f"cf-{tag}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cfg = out / "config.yaml"
    cfg.write_text(json.dumps({"out_dir": str(out / "out"), "prune": {"network_path": str(net), "n_ranges": n_ranges}}))
    env = snakemake_env(**THREADS_1)
    snakemake = str(Path(sys.executable).parent / "snakemake")
    dt, rss = measured(
        [
            snakemake,
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(out),
            "--cores",
            str(cores),
            "prune",
            "--configfile",
            str(cfg),
        ],
        out,
        env,
    )
    return dt, rss, out / "out" / "network-synapses.hdf5"


def snudda_reads(py: Path, out: Path) -> bool:
    """Check that Snudda's own loader (SnuddaLoad) reads circuitflow's network-synapses.hdf5."""
    code = (
        "import sys, h5py; from snudda import SnuddaLoad; sl = SnuddaLoad(sys.argv[1]); "
        "n = h5py.File(sys.argv[1])['network/synapses'].shape[0]; "
        "s, _ = sl.find_synapses(post_id=int(h5py.File(sys.argv[1])['network/synapses'][n // 2, 1])); "
        "print('OK' if sl.data['num_synapses'] == n and len(s) > 0 else 'BAD')"
    )
    proc = subprocess.run([str(py), "-c", code, str(out)], capture_output=True, text=True)
    return proc.stdout.strip().endswith("OK")


def main() -> None:
    """Build the network, time both tools, print and save the results."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synapses", type=int, default=10_000_000)
    p.add_argument("--neurons", type=int, default=20_000)
    p.add_argument("--side", type=int, default=4, help="hypervoxels per side")
    p.add_argument("--n-ranges", type=int, default=4)
    p.add_argument("--skip-snudda", action="store_true", help="time circuitflow only")
    p.add_argument("--rerun-snudda", action="store_true", help="time Snudda again even if a result is cached")
    p.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="circuitflow runs per core count, alternated; the median is reported (this VM varies by 15%%)",
    )
    args = p.parse_args()
    net = WORK / f"net-{args.synapses}-{args.neurons}"
    t = time.perf_counter()
    info = write_network(net, args.neurons, args.synapses, args.side)
    print(f"network {net}: {info} ({time.perf_counter() - t:.0f} s)", flush=True)
    n_put = info["putative_synapses"] + info["putative_gap_junctions"]
    results = {"network": info, "n_ranges": args.n_ranges}
    runs = {cores: [] for cores in args.cores}
    for _ in range(args.repeat):  # alternate core counts, so that a slow spell of the machine hits both
        for cores in args.cores:
            dt, rss, out = run_circuitflow(net, cores, args.n_ranges, f"{cores}core")
            runs[cores].append((dt, LAST_CPU[0], rss, rows_digest(out)))
            print(
                f"circuitflow {cores} core(s): {dt:.1f} s ({LAST_CPU[0]:.1f} CPU s), {n_put / dt / 1e6:.2f} M putative/s, "
                f"peak RSS {rss:.0f} MB",
                flush=True,
            )
    for cores, rs in runs.items():
        dt, cpu, rss, digest = sorted(rs)[len(rs) // 2]
        if len({r[3] for r in rs}) != 1:
            raise RuntimeError(f"circuitflow {cores} core(s): runs gave different rows")
        results[f"circuitflow_{cores}core"] = {
            "seconds": dt,
            "all_seconds": [r[0] for r in rs],
            "cpu_seconds": cpu,
            "putative_per_s": n_put / dt,
            "peak_rss_mb": max(r[2] for r in rs),
            "rows_sha256": digest,
        }
        if args.repeat > 1:
            print(f"circuitflow {cores} core(s), median of {len(rs)}: {dt:.1f} s", flush=True)
    cached = WORK / f"snudda-{net.name}.json"
    if not args.skip_snudda and cached.exists() and not args.rerun_snudda:
        results["snudda_1core"] = json.loads(cached.read_text())
        print(f"snudda 1 core: from {cached} (use --rerun-snudda to time it again)")
    elif not args.skip_snudda:
        py = ensure_snudda()
        dt, rss, out = run_snudda(net, py)
        results["snudda_1core"] = {
            "seconds": dt,
            "cpu_seconds": LAST_CPU[0],
            "putative_per_s": n_put / dt,
            "peak_rss_mb": rss,
            "rows_sha256": rows_digest(out),
        }
        cached.write_text(json.dumps(results["snudda_1core"]))
    if "snudda_1core" in results:
        dt = results["snudda_1core"]["seconds"]
        rss = results["snudda_1core"]["peak_rss_mb"]
        print(f"snudda 1 core: {dt:.1f} s, {n_put / dt / 1e6:.3f} M putative/s, peak RSS {rss:.0f} MB", flush=True)
        results["identical_rows"] = (
            results["snudda_1core"]["rows_sha256"] == results[f"circuitflow_{args.cores[0]}core"]["rows_sha256"]
        )
        for cores in args.cores:
            results[f"speedup_{cores}core_vs_snudda_1core"] = dt / results[f"circuitflow_{cores}core"]["seconds"]
            print(
                f"circuitflow {cores} core(s) vs Snudda 1 core: {results[f'speedup_{cores}core_vs_snudda_1core']:.1f}x"
            )
        print(f"identical rows: {results['identical_rows']}", flush=True)
        results["snudda_load_reads_output"] = snudda_reads(
            ensure_snudda(), WORK / f"cf-{args.cores[0]}core" / "out" / "network-synapses.hdf5"
        )
        print(f"SnuddaLoad reads circuitflow's output: {results['snudda_load_reads_output']}", flush=True)
    if 1 in args.cores and 2 in args.cores:
        results["scaling_2_vs_1_core"] = (
            results["circuitflow_1core"]["seconds"] / results["circuitflow_2core"]["seconds"]
        )
    (WORK / f"results-{args.synapses}.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
