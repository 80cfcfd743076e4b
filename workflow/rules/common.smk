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


def chain_group(n_jobs, group):
    """`group` when a step is a single job at this circuit size, else None (one cluster job per job).

    The SLURM profile groups the steps that are one job at any size (its `groups`); a step that is one
    job only in a small circuit (one synthesis chunk, one edge range) joins its neighbours' group
    through this, so that a small circuit waits for fewer submissions and status polls while a large
    one keeps every chunk a separate, parallel job. Groups apply only to cluster runs (not to outputs,
    params or a local run), so the choice re-runs nothing.
    """
    return group if n_jobs == 1 else None


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
