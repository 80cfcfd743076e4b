"""Fault injection (issue 15, item 5): SIGKILL of Snakemake itself and of single jobs at each stage of the whole
example pipeline (synthesis, detect, prune, SONATA edges), each followed by `--unlock` and `--rerun-incomplete`,
ends with outputs identical to a clean run. Jobs are recognised by what Snakemake logs ("Finished jobid: N
(Rule: r)") or by their script's process, never by an assumed order. About 2 minutes on 2 idle cores."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import ROOT, run_snakemake, snakemake_command

N_CELLS = 24
TIMEOUT = 300


def example_config() -> dict:
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config["synthesis"]["chunk_size"] = 8  # three synthesis jobs
    return config


def start(work: Path, config: dict, *args: str) -> tuple[subprocess.Popen, Path]:
    """Snakemake `all` in its own process group, its console in a file."""
    console = work / f"console-{time.monotonic_ns()}.log"
    cmd, env = snakemake_command(work, config, "--cores", "2", *args, "all")
    with console.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, console


def wait_for(proc: subprocess.Popen, condition, what: str) -> None:
    deadline = time.time() + TIMEOUT
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"Snakemake ended (rc {proc.returncode}) before {what}")
        if time.time() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def job_pids(script: str, work: Path) -> list[int]:
    """Python processes running scripts/<script>.py in `work` (found in /proc: only this test's jobs run there)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            args = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(Path(entry.path, "cwd"))
        except OSError:
            continue
        text = b" ".join(args).decode(errors="replace")
        if f"scripts/{script}.py" in text and cwd == str(work) and "python" in args[0].decode(errors="replace"):
            pids.append(int(entry.name))
    return pids


def kill_snakemake_when(work: Path, config: dict, rule: str, *args: str) -> None:
    """Run until a `rule` job is logged finished, then SIGKILL Snakemake and its jobs; unlock."""
    proc, console = start(work, config, *args)
    finished = re.compile(rf"Finished jobid: \d+ \(Rule: {rule}\)")
    wait_for(proc, lambda: finished.search(console.read_text()), f"a finished {rule} job")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run_snakemake(work, None, "--configfile", str(work / "config.yaml"), "--unlock")


def kill_job_when_running(work: Path, config: dict, script: str, *args: str) -> None:
    """Run until a process of `script` runs, SIGKILL it; Snakemake must fail the job and say it was killed."""
    proc, console = start(work, config, *args)
    wait_for(proc, lambda: job_pids(script, work), f"a {script} process")
    for pid in job_pids(script, work):
        os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=TIMEOUT)
    text = console.read_text()
    assert proc.returncode != 0, text[-3000:]
    assert "error: killed by signal KILL" in text, text[-3000:]


def outputs(root: Path) -> list[Path]:
    """Every output file, relative to the work folder (not logs, Snakemake's records or hidden files)."""
    out = root / "out"
    return sorted(
        p.relative_to(root)
        for p in out.rglob("*")
        if p.is_file()
        and "logs" not in p.relative_to(out).parts[:1]
        and not any(part.startswith(".") for part in p.relative_to(out).parts)
    )


def assert_same_outputs(a: Path, b: Path) -> int:
    files = outputs(a)
    assert files == outputs(b)
    for rel in files:
        if rel.suffix in (".h5", ".hdf5"):
            with h5py.File(a / rel, "r") as fa, h5py.File(b / rel, "r") as fb:
                items = {}
                fa.visititems(lambda name, obj: items.setdefault(name, obj))
                for name, obj in items.items():
                    assert name in fb, f"{rel}:{name}"
                    if isinstance(obj, h5py.Dataset):
                        np.testing.assert_array_equal(obj[()], fb[name][()], err_msg=f"{rel}:{name}")
                    for key, value in obj.attrs.items():
                        np.testing.assert_array_equal(value, fb[name].attrs[key], err_msg=f"{rel}:{name}@{key}")
        elif rel.suffix != ".png":  # matplotlib's PNGs: compared by the report tests, not byte-stable
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    return len(files)


@pytest.mark.slow
def test_kills_at_every_stage_resume_to_a_clean_run(tmp_path):
    from circuitflow.example import make_example

    clean, faulty = tmp_path / "clean", tmp_path / "faulty"
    for work in (clean, faulty):
        make_example(work / "example", n_cells=N_CELLS)
    config = example_config()
    run_snakemake(clean, config, "--cores", "2", "all")

    resume = ("--rerun-incomplete",)
    kill_snakemake_when(faulty, config, "synthesis_chunk")  # Snakemake killed in synthesis
    kill_job_when_running(faulty, config, "detect_rasterise", *resume)  # one detection job killed
    kill_snakemake_when(faulty, config, "detect_hypervoxels", *resume)  # Snakemake killed in detection
    kill_snakemake_when(faulty, config, "prune_gather_merge", *resume)  # Snakemake killed in pruning
    kill_job_when_running(faulty, config, "prune_range", *resume)  # one pruning job killed
    kill_job_when_running(faulty, config, "sonata_edges", *resume)  # the SONATA job killed
    run_snakemake(faulty, config, "--cores", "2", *resume, "all")
    assert "Nothing to be done" in run_snakemake(faulty, config, "-n", "all").stdout
    assert assert_same_outputs(clean, faulty) > N_CELLS
