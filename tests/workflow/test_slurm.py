"""The SLURM profile: resource names, dry-run planning, and (where a cluster is up) a real run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import BIN, ROOT, job_counts, run_snakemake

PROFILE = ROOT / "profiles" / "slurm"
#: Resources the SLURM executor turns into sbatch flags, plus Snakemake's own (snakemake-notes §3).
KNOWN_RESOURCES = {
    "slurm_account",
    "slurm_partition",
    "runtime",
    "mem_mb",
    "mem",
    "mem_mb_per_cpu",
    "threads",
    "cpus_per_task",
    "tasks",
    "tasks_per_node",
    "nodes",
    "constraint",
    "qos",
    "gpu",
    "gpu_model",
    "gres",
    "slurm_extra",
    "mpi",
    "tmpdir",
    "disk_mb",
}
#: On a cluster brought up by .ci/slurm.sh: one partition "debug" (set as a user does, in the environment:
#: CIRCUITFLOW_SLURM_PARTITION, see the `partition` fixture) and 2 cores.
CI_OVERRIDES = ["--slurm-init-seconds-before-status-checks", "2", "--latency-wait", "5"]
#: A larger circuit's groups (workflow/rules/common.smk cluster_group): the steps that are one job at any size
#: share one SLURM job per stage with their neighbours.
GROUPS = {
    "synthesis": {"synthesis_finalize", "detect_setup", "report_morphometrics", "sonata_nodes"},
    "worklog": {"detect_worklog", "prune_check_hypervoxels"},
    "sonata": {"prune_combine", "sonata_join", "report_physiology"},
}
#: Steps that are one job only with one chunk or edge range (as the example's) join their stage's group.
CHAINED = {"synthesis": {"synthesis_cache_atlas", "synthesis_chunk"}, "sonata": {"sonata_edges"}}
#: A circuit of at most `one_cluster_job_max_cells` cells (the example's 40) is one SLURM job: one group.
CIRCUIT_GROUP = "circuit"
#: Steps that read no morphology or synapse file: localrules, beside Snakemake in a larger circuit (never SLURM jobs).
LOCAL = {
    "pathways_detect_config",
    "pathways_prune_config",
    "sonata_physiology",
    "synthesis_validate_params",
    "detect_grid",
    "detect_raster_index",
    "prune_check_config",
    "report_pathways",
    "sonata_circuit_config",
}
#: A regression bound on the example's plain wall time on the CI's live SLURM, as a multiple of the local run's
#: measured in the same test. The example is one SLURM job (one_cluster_job_max_cells); on top of its work come a
#: submission pause, two Snakemake starts and the wait for the status poll that sees the job finished (executor
#: plugin 2.6.1 polls 2 s after the submission, then 12, 22, 32, 42, 52, 62 s apart, not configurable), a fixed
#: minute or so that an idle CI's fast local run (about 19 s) cannot absorb. So the bound is generous; the test
#: prints the plain ratio and the ratio up to the job's end (issue 17's 3x) into the CI log.
MAX_SLOWDOWN = 30.0
SLURM_UP = os.environ.get("CIRCUITFLOW_SLURM") == "1"
#: Each rule's `runtime` in minutes as its own SLURM job (workflow/rules/*.smk step_runtime); others 30 min.
CLUSTER_RUNTIMES = {
    "synthesis_chunk": 120,
    "detect_hypervoxels": 120,
    "prune_range": 120,
    "synthesis_finalize": 60,
    "prune_combine": 60,
}
#: A step's runtime in the one SLURM job of a small circuit (common.smk ONE_JOB_STEP_RUNTIME), in minutes.
ONE_JOB_STEP_MINUTES = 2
#: The example's one SLURM job must fit a common partition's MaxTime (24 h) and wait little in a queue.
MAX_ONE_JOB_MINUTES = 4 * 60


def profile() -> dict:
    """The SLURM profile as a dict."""
    return yaml.safe_load((PROFILE / "config.v8+.yaml").read_text())


def group_jobs(dry_run_stdout: str) -> dict[str, set[str]]:
    """Group name -> rules of its jobs, from a dry run's output (a group's jobs are indented under it)."""
    groups: dict[str, set[str]] = {}
    current = None
    for line in dry_run_stdout.splitlines():
        if match := re.search(r"Group job (\w+)", line):
            current = groups.setdefault(match.group(1), set())
        elif match := re.match(r"(    )?(?:local)?rule (\w+):", line):
            if match.group(1) is None:
                current = None
            elif current is not None:
                current.add(match.group(2))
    return groups


def rule_runtimes(dry_run_stdout: str) -> dict[str, set[int]]:
    """Rule -> the `runtime` resources (minutes) of its jobs, from a dry run's output."""
    runtimes: dict[str, set[int]] = {}
    for block in dry_run_stdout.split("\n\n"):
        rule = re.search(r"^\s*(?:local)?rule (\w+):", block, re.M)
        runtime = re.search(r"resources: .*\bruntime=(\d+)", block)
        if rule and runtime:
            runtimes.setdefault(rule.group(1), set()).add(int(runtime.group(1)))
    return runtimes


def workflow_rules(folder: Path) -> set[str]:
    """Every rule name of the workflow with the example config."""
    proc = subprocess.run(
        [
            str(BIN / "snakemake"),
            "--list-rules",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--configfile",
            str(folder / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        env=dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}


@pytest.fixture(autouse=True)
def partition(monkeypatch):
    """The CI cluster's partition, where the profile reads it (keeping its other default resources)."""
    monkeypatch.setenv("CIRCUITFLOW_SLURM_PARTITION", "debug")
    monkeypatch.delenv("CIRCUITFLOW_SLURM_ACCOUNT", raising=False)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The generated example circuit with the example config, in a fresh folder."""
    from circuitflow.example import make_example

    folder = tmp_path_factory.mktemp("example")
    make_example(folder / "example")
    shutil.copy(ROOT / "config/config.yaml", folder / "config.yaml")
    return folder


def test_profile_names_only_known_resources_and_rules(example):
    """A misspelled resource or rule name in the profile is an error (Snakemake would ignore it)."""
    config = profile()
    assert set(config["default-resources"]) <= KNOWN_RESOURCES
    rules = workflow_rules(example)
    for rule, resources in config["set-resources"].items():
        assert rule in rules, f"profile names unknown rule {rule}"
        unknown = set(resources) - KNOWN_RESOURCES
        assert not unknown, f"{rule}: unknown resource(s) {unknown}"
        if "mpi" in resources:
            assert resources.get("tasks", 0) > 1, f"{rule}: MPI jobs need tasks > 1"
    assert config["slurm-status-command"] == "squeue"
    # runtimes are the rules' own resources (step_runtime), short in the one job of a small circuit: a profile
    # runtime would override that and make the one job ask for the sum of every step's hours
    assert "runtime" not in config["default-resources"]
    assert not [rule for rule, resources in config["set-resources"].items() if "runtime" in resources]
    # a retry gets more memory for every rule: the default and every rule's own memory grow with `attempt`
    assert "attempt" in config["default-resources"]["mem_mb"]
    for rule, resources in config["set-resources"].items():
        for key in {"mem_mb", "mem_mb_per_cpu", "mem"} & set(resources):
            assert "attempt" in str(resources[key]), f"{rule}: {key} does not grow with attempt"
    # groups come from the workflow (cluster_group), which decides them from the circuit size: a profile
    # `groups:` would override them and split the one job of a small circuit
    assert "groups" not in config
    # one SLURM job holds at most one MPI step at a time: the group's `tasks` pool (per job, scope local)
    mpi_rules = {rule for rule, resources in config["set-resources"].items() if "mpi" in resources}
    assert config["set-resource-scopes"] == {"tasks": "local"}
    assert config["resources"]["tasks"] == max(config["set-resources"][rule]["tasks"] for rule in mpi_rules)
    # array jobs only for rules without MPI (the jobstep plugin would run an MPI array's first task in every
    # task) and never for a step that is one job at any size
    arrays = set(config["slurm-array-jobs"].split(","))
    assert arrays <= rules and not arrays & (mpi_rules | set().union(*GROUPS.values()) | LOCAL)
    assert config["slurm-logdir"] == "out/logs/slurm" and config["slurm-keep-successful-logs"] is True


def test_slurm_dry_run_lists_every_job_with_resources(example):
    """`snakemake -n --profile profiles/slurm all` plans every job of the example, with MPI resources."""
    proc = run_snakemake(
        example,
        None,
        "all",
        "-n",
        "--profile",
        str(PROFILE),
        *CI_OVERRIDES,
        "--configfile",
        str(example / "config.yaml"),
    )
    counts = job_counts(proc.stdout)
    assert counts["synthesis_cache_atlas"] == 1 and counts["synthesis_validate_params"] == 1
    assert counts["synthesis_chunk"] == 1  # 40 cells: fewer than min_chunk_size (50), one job
    assert counts["synthesis_finalize"] == 1 and counts["all"] == 1
    chunk_jobs = [block for block in proc.stdout.split("\n\n") if "rule synthesis_chunk:" in block]
    assert len(chunk_jobs) == 1
    assert all(re.search(r"resources:.*mpi=srun.*tasks=2", block.replace("\n", " ")) for block in chunk_jobs)
    # the partition from the environment, with the profile's memory defaults kept (runtimes: below)
    resources = re.findall(r"resources: (.*)", proc.stdout)
    assert len(resources) >= sum(counts.values()) - counts["all"] - counts["detect_raster_index"]
    for line in resources:
        assert "slurm_partition=debug" in line and re.search(r"mem_mb(_per_cpu)?=\d", line), line
    # the example (40 cells) is one SLURM job: every job but the target `all` in one group, localrules too
    assert group_jobs(proc.stdout) == {CIRCUIT_GROUP: set(counts) - {"all"}}
    # each of its steps has a short runtime: the job's time limit is their sum over its layers
    assert rule_runtimes(proc.stdout) == {rule: {ONE_JOB_STEP_MINUTES} for rule in set(counts) - {"all"}}


def test_slurm_dry_run_of_a_larger_circuit_keeps_parallel_jobs(example):
    """Above one_cluster_job_max_cells, only each stage's single steps share a SLURM job; the rest stay parallel."""
    proc = run_snakemake(
        example,
        None,
        "all",
        "-n",
        "--profile",
        str(PROFILE),
        *CI_OVERRIDES,
        "--configfile",
        str(example / "config.yaml"),
        "--config",
        "one_cluster_job_max_cells=39",
    )
    expected = {name: rules | CHAINED.get(name, set()) for name, rules in GROUPS.items()}
    assert group_jobs(proc.stdout) == expected
    # localrules run beside Snakemake: none is in a group
    assert not LOCAL & set().union(*expected.values())
    assert {"detect_bbox", "detect_hypervoxels", "prune_range"} <= set(job_counts(proc.stdout))
    # every step keeps its own cluster runtime
    runtimes = rule_runtimes(proc.stdout)
    assert set(runtimes) == set(job_counts(proc.stdout)) - {"all"}
    assert runtimes == {rule: {CLUSTER_RUNTIMES.get(rule, 30)} for rule in runtimes}


def test_one_slurm_job_asks_for_a_short_time_limit(example, tmp_path, monkeypatch):
    """The example's one SLURM job asks sbatch for minutes, not the sum of its steps' cluster runtimes (26 h).

    A stand-in `sbatch` records its arguments and refuses the job (the other SLURM commands fail), so the
    run stops after its first submission without a cluster.
    """
    fake = tmp_path / "bin"
    fake.mkdir()
    record = tmp_path / "sbatch.txt"
    (fake / "sbatch").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{record}"\nexit 1\n')
    for command in ("scontrol", "sacct", "sacctmgr", "sinfo", "squeue", "scancel", "srun"):
        (fake / command).write_text("#!/bin/sh\nexit 1\n")
    for path in fake.iterdir():
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    folder = tmp_path / "run"
    shutil.copytree(example / "example", folder / "example")
    proc = run_snakemake(
        folder,
        None,
        "all",
        "--profile",
        str(PROFILE),
        *CI_OVERRIDES,
        "--retries",
        "0",
        "--configfile",
        str(example / "config.yaml"),
        check=False,
    )
    assert proc.returncode != 0
    calls = record.read_text().splitlines()
    assert len(calls) == 1 and "--comment rule_circuit_" in calls[0], (calls, proc.stderr[-3000:])
    minutes = int(re.search(r" -t (\d+) ", calls[0]).group(1))
    print(f"the example's one SLURM job asks for -t {minutes} (minutes)")
    assert 10 * ONE_JOB_STEP_MINUTES <= minutes <= MAX_ONE_JOB_MINUTES, calls[0]


@pytest.mark.slurm
@pytest.mark.skipif(not SLURM_UP, reason="needs the single-node SLURM that .ci/slurm.sh starts (CI)")
def test_example_on_slurm_equals_local(example, tmp_path):
    """The example pipeline through SLURM (an MPI job with 2 ranks) gives the local run's files."""
    local = tmp_path / "local"
    shutil.copytree(example / "example", local / "example")
    start = time.monotonic()
    run_snakemake(local, None, "all", "--cores", "2", "--configfile", str(example / "config.yaml"))
    local_wall = time.monotonic() - start
    slurm = tmp_path / "slurm"
    shutil.copytree(example / "example", slurm / "example")
    start = time.monotonic()
    proc = run_snakemake(
        slurm, None, "all", "--profile", str(PROFILE), *CI_OVERRIDES, "--configfile", str(example / "config.yaml")
    )
    slurm_wall = time.monotonic() - start
    # SLURM's job logs are kept under out_dir, successful ones included: the example is one SLURM job, whose
    # log folder is group_circuit_<its rules, sorted>, cut by the plugin past a length. Its last write is the
    # job's end: from there the run waited for the status poll that saw it finished.
    slurm_logs = list((slurm / "out/logs/slurm").rglob("*.log"))
    poll_wait = time.time() - max(path.stat().st_mtime for path in slurm_logs)
    timing = (
        f"example on SLURM: {slurm_wall:.0f} s wall vs {local_wall:.0f} s locally (plain ratio {slurm_wall / local_wall:.1f}x);"
        f" its SLURM job ended {poll_wait:.0f} s before the run (ratio up to the job's end"
        f" {(slurm_wall - poll_wait) / local_wall:.1f}x)"
    )
    print(timing)
    log = proc.stdout + proc.stderr
    chunk_log = (slurm / "out/logs/synthesis/chunk_0.log").read_text()
    if os.environ.get("CIRCUITFLOW_SLURM_LOG"):  # .ci/run prints it: SLURM job ids in the CI log
        Path(os.environ["CIRCUITFLOW_SLURM_LOG"]).write_text(timing + "\n" + log + "\n" + chunk_log)
    folders = {path.relative_to(slurm / "out/logs/slurm").parts[0] for path in slurm_logs}
    assert len(slurm_logs) == 1 and len(folders) == 1, folders
    # exactly one SLURM job: one submission, no retry
    assert len(re.findall(r"has been submitted with SLURM jobid \d+", log)) == 1, log[-3000:]
    assert folders.pop().startswith(f"group_{CIRCUIT_GROUP}_detect_bbox_detect_grid_"), slurm_logs
    # inside the job one Snakemake ran every step as a local run would (not one Snakemake per step)
    assert len(re.findall(r"^Building DAG of jobs", slurm_logs[0].read_text(), re.M)) == 2
    # switching laptop <-> SLURM re-runs nothing: each folder is up to date for the other executor
    for folder, args in ((slurm, ["--cores", "2", "-n"]), (local, ["--profile", str(PROFILE), *CI_OVERRIDES])):
        again = run_snakemake(folder, None, "all", *args, "--configfile", str(example / "config.yaml"))
        assert "Nothing to be done" in again.stdout + again.stderr, (folder.name, again.stdout[-3000:])
    assert "rank 0 of 2" in chunk_log and "rank 1 of 2" in chunk_log
    compare_trees(local / "out/synthesis/morphologies", slurm / "out/synthesis/morphologies")
    for name in ("synthesis/apical.yaml", "synthesis/apical_NRN_sections.yaml"):
        assert (local / "out" / name).read_bytes() == (slurm / "out" / name).read_bytes()
    for name in ("network-synapses.hdf5", "sonata/edges.h5"):
        assert_same_h5(local / "out" / name, slurm / "out" / name)
    assert slurm_wall <= MAX_SLOWDOWN * local_wall, timing


def assert_same_h5(a: Path, b: Path) -> None:
    """Two HDF5 files hold the same datasets with the same values."""
    import numpy as np
    from test_synthesis_workflow import h5_datasets

    da, db = h5_datasets(a), h5_datasets(b)
    assert da.keys() == db.keys(), a.name
    for key in da:
        if key.endswith("@date") or key.endswith("@creation_date"):
            continue
        np.testing.assert_array_equal(da[key], db[key], err_msg=f"{a.name}:{key}")


def compare_trees(a: Path, b: Path) -> None:
    """Same files; text files byte for byte, HDF5 dataset by dataset."""
    from test_synthesis_workflow import assert_same_outputs

    assert assert_same_outputs(a, b) > 0
