# Shared helpers for the rule files. Logic lives in the circuitflow package; this file only
# derives paths and per-rule config subsets from `config`.
import functools
import hashlib
import json
import os
import sys

from circuitflow.code_closure import import_closure
from circuitflow.config import canonical
from circuitflow.errors import CircuitflowError
from circuitflow.jobs import one_cluster_job

OUT = config["out_dir"]
LOGS = f"{OUT}/logs"
CODE = f"{workflow.basedir}/circuitflow"
CONDA_ENV = f"{workflow.basedir}/envs/circuitflow.yaml"

# Each job runs `python <script> ...` through logged(): its log gets everything, the console the
# last line (a failing script's one-line `error: ...`, see circuitflow.runner), or, when a signal killed
# the process (status > 128: SIGKILL from outside, the OOM killer, a crash), that signal and the log's
# name instead of the log's last, unrelated line. Values are quoted (:q), never inside double quotes.
LOGGED = (
    " > {log:q} 2>&1 || {{ status=$?; if [ $status -gt 128 ]; then"
    ' echo "error: killed by signal $(kill -l $((status - 128))) (exit status $status); log:" {log:q} >&2;'
    " else tail -n 1 {log:q} >&2; fi; exit 1; }}"
)
# MPI-capable steps: a profile that sets `mpi` (e.g. "srun") and tasks > 1 launches the script on
# that many ranks; resolved in the shell, so switching profiles changes no params and re-runs nothing.
MPI = "MPI={resources.mpi:q}; ${{MPI:+$MPI -n {resources.tasks:q}}} "

# Each stage file adds its final outputs here; `rule all` requests them.
ALL_TARGETS = {}


def checked(function, *args, **kwargs):
    """`function(*args, **kwargs)` at parse time; a CircuitflowError ends Snakemake with its one-line message."""
    try:
        return function(*args, **kwargs)
    except CircuitflowError as error:
        sys.exit(f"error: {error}")


def lazily(function, *args):
    """A function of no arguments returning checked(function, *args), computed on its first call only."""
    return functools.cache(lambda: checked(function, *args))


def targets_given():
    """Whether Snakemake was started with targets (without, it runs the default `help`, which plans nothing)."""
    from snakemake.cli import get_argument_parser

    try:
        return bool(get_argument_parser().parse_known_args(sys.argv[1:])[0].targets)
    # not started by the snakemake command: plan everything
    except (Exception, SystemExit):
        return True


TARGETS_GIVEN = targets_given()


def logged(command):
    """A shell command whose output goes to the job's log, and whose last log line reaches the console on failure."""
    return f"{command}{LOGGED}"


def mpi_logged(command):
    """logged(), launched on `resources.tasks` MPI ranks when the profile sets `resources.mpi`."""
    return f"{MPI}{command}{LOGGED}"


# The Snakemake group of a step on a cluster (a local run ignores groups; they change no param or
# output, so switching between a laptop and a cluster re-runs nothing).
CIRCUIT_GROUP = "circuit"
ONE_CLUSTER_JOB = lazily(one_cluster_job, config)


def cluster_group(stage=None, n_jobs=1):
    """The group of a step on a cluster: the whole run's in a small circuit, else `stage`'s when the step is one job.

    A circuit of at most `one_cluster_job_max_cells` cells is one cluster job: every step (localrules too:
    a grouped rule is not local) is in CIRCUIT_GROUP, and inside the allocation Snakemake runs the group
    as one local run, on the allocation's cores. In a larger circuit the steps that are one job (n_jobs
    == 1) share their stage's cluster job, so that a chain waits for one submission and one status poll,
    while a step of several jobs (chunks, batches, ranges) keeps every job a separate, parallel cluster
    job (None) and no group grows with the circuit.
    """
    if ONE_CLUSTER_JOB():
        return CIRCUIT_GROUP
    return stage if n_jobs == 1 else None


# A step's time limit in the one cluster job of a small circuit. Snakemake asks SLURM for a group's
# runtime summed over its dependency layers (the longest step of each), so the steps' cluster runtimes
# (hours) would add up to more than a day for one small job. The whole run of at most
# one_cluster_job_max_cells cells takes minutes, so each step gets this much and the job the sum.
ONE_JOB_STEP_RUNTIME = "2m"


def step_runtime(cluster_runtime):
    """A rule's `runtime` resource: `cluster_runtime` ("2h") as its own cluster job, ONE_JOB_STEP_RUNTIME in the one job.

    A resource, not a param: switching between a laptop and a cluster re-runs nothing. A profile's
    `set-resources: <rule>: runtime:` still overrides it.
    """
    return ONE_JOB_STEP_RUNTIME if ONE_CLUSTER_JOB() else cluster_runtime


def script(name):
    """`scripts/<name>.py` followed by every package module it imports: a rule's `code` input."""
    path = f"{workflow.basedir}/scripts/{name}.py"
    return [path, *import_closure(path, workflow.basedir)]


def network_dir(wildcards, input):
    """A rule's Snudda network folder: its `worklog` input's grandparent (log/network-detect-worklog.hdf5).

    A param computed from input, so moving the network folder re-runs nothing by itself.
    """
    return os.path.dirname(os.path.dirname(input.worklog))


def tracked(name, value):
    """Params `name` (`value` as canonical JSON, for the script) and `<name>_sha256` (its digest, compared).

    Snakemake does not record a param computed from `output` (a derived param), so an edited value
    re-runs the job through its digest and a dry run's `reason:` shows two digests, not the JSON.
    """
    text = json.dumps(canonical(value), sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return {f"{name}_sha256": digest, name: lambda wildcards, output: text}


def section(name, keys=None):
    """The config section `name` (only `keys` if given), for a rule's params (see tracked)."""
    sec = config.get(name, {})
    return sec if keys is None else {k: sec[k] for k in keys if k in sec}
